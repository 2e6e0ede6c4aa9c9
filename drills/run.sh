#!/usr/bin/env bash
# Failure drills (drills/run.py): a stream of signups, one fault, heal, then the ledger must show
# every verification email delivered exactly once. Run by scripts/test.sh after the tests (which
# build the binaries it uses); usable on its own: drills/run.sh [--only NAME ...].
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
scripts/services.sh start >/dev/null
# A no-op after `cargo test`, which builds the same binaries.
cargo build --locked -p user-service -p mail-service --bins
# shellcheck source=drills/venv.sh
. drills/venv.sh
ensure_drills_venv
venv=$RUN_DIR/venv-drills
exec "$venv/bin/python" drills/run.py --run-dir "$RUN_DIR/drills" \
    --services-python "$RUN_DIR/venv/bin/python" "$@"
