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
venv=$RUN_DIR/venv-drills
req=drills/requirements.txt
want=$(sha256sum <"$req" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null
    echo "$want" >"$venv/.requirements.sha256"
fi
exec "$venv/bin/python" drills/run.py --run-dir "$RUN_DIR/drills" \
    --services-python "$RUN_DIR/venv/bin/python" "$@"
