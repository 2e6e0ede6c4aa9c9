#!/usr/bin/env bash
# Redis Cluster against one Redis server (not part of the test suite): GET /v1/auth/check and
# login of one release user-service build against the TLS Cluster and the TLS standalone server
# of scripts/redis-topologies.sh, with wrk; writes bench/reports/redis-cluster.{md,json}. See
# bench/README.md. Usage: bench/redis-cluster.sh [--runs N] [--duration 10s] [--plain] ...
#
# The topologies use fixed loopback ports: the benchmark refuses to start while another
# RUN_DIR's topologies answer there (a test run), and stops its own at the end.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
export RUN_DIR
scripts/services.sh start
# shellcheck source=bench/tools.sh
. bench/tools.sh
ensure_wrk
cargo build --release --locked -p user-service --bin user-service
if ! compgen -G "$RUN_DIR/redis-topologies/*.pid" >/dev/null; then
    for port in 6390 7001; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "port $port answers, but not for topologies of $RUN_DIR (a test run?): try later" >&2
            exit 1
        fi
    done
fi
scripts/redis-topologies.sh start tls
scripts/redis-topologies.sh start cluster
trap 'scripts/redis-topologies.sh stop' EXIT
"$RUN_DIR/venv/bin/python" bench/redis_cluster.py \
    --binary "${CARGO_TARGET_DIR:-$PWD/target}/release/user-service" "$@"
