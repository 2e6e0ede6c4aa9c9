#!/usr/bin/env bash
# Mail pipeline benchmark (not a test): see bench/README.md. Extra arguments go to the
# benchmark, e.g. `bench/mail/run.sh --messages 20000 --consumers 2 --nodelay on`.
#
# BENCH_SINK=bench (default) delivers into bench/mail/sink.py, an aiosmtpd sink that only
# records acceptance times; BENCH_SINK=capture into the development capture server
# (scripts/smtp_sink.py, one Maildir file per message). BENCH_PYTHON is the interpreter with
# aiosmtpd (default: the venv scripts/services.sh creates).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/services.sh" start redis rabbitmq smtp

# Optimised, but without the release profile's fat link step: the figures are the same and a
# 2-core machine builds it in a fraction of the time.
export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo build --release -p mail-service --example mail_bench
BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/examples/mail_bench
OUT=$REPO_ROOT/bench/reports

if [ "${BENCH_SINK:-bench}" = capture ]; then
    exec "$BIN" --maildir "$("$REPO_ROOT/scripts/services.sh" maildir)" --out "$OUT" "$@"
fi

PYTHON=${BENCH_PYTHON:-${RUN_DIR:-$REPO_ROOT/.run}/venv/bin/python}
PORT=${BENCH_SINK_PORT:-2526}
WORK=$(mktemp -d)
trap 'kill "$SINK_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$PYTHON" "$SCRIPT_DIR/sink.py" --port "$PORT" --log "$WORK/accepted.tsv" &
SINK_PID=$!
sleep 1
kill -0 "$SINK_PID" || { echo "bench sink did not start (BENCH_PYTHON needs aiosmtpd)" >&2; exit 1; }

# The benchmark prints RUNS DONE when it has published and seen everything; the sink then
# stops and completes its log, which the benchmark is waiting for.
"$BIN" --smtp "127.0.0.1:$PORT" --accept-log "$WORK/accepted.tsv" --out "$OUT" "$@" |
    while IFS= read -r line; do
        if [ "$line" = "RUNS DONE" ]; then kill "$SINK_PID"; else printf '%s\n' "$line"; fi
    done
