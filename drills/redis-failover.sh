#!/usr/bin/env bash
# The Redis failover drill (drills/redis_failover.py; not part of the test suite): a release
# user-service under load against the Sentinel and Cluster topologies of
# scripts/redis-topologies.sh while a primary dies and while the Cluster reshards; writes
# drills/reports/redis-failover.{md,json}. Usage: drills/redis-failover.sh [--only CASE ...]
# (cases: sentinel_failover cluster_failover cluster_reshard; --help for the settings).
#
# The topologies use fixed loopback ports (6390-6393, 26391-26393, 7001-7006): the drill refuses
# to start while another RUN_DIR's topologies answer there (a test run), and stops its own at
# the end.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
export RUN_DIR
# MongoDB for the accounts (the drill's own database, dropped afterwards); idempotent.
scripts/services.sh start mongo >/dev/null
cargo build --release --locked -p user-service --bin user-service
# shellcheck source=drills/venv.sh
. drills/venv.sh
ensure_drills_venv
exec "$RUN_DIR/venv-drills/bin/python" drills/redis_failover.py --run-dir "$RUN_DIR" \
    --binary "${CARGO_TARGET_DIR:-$PWD/target}/release/user-service" "$@"
