#!/usr/bin/env bash
# The whole test suite: starts the dependency services (scripts/services.sh), then runs
# formatting and lint checks and every test against the real MongoDB-compatible server, Redis,
# RabbitMQ and SMTP capture server.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/toolchain.sh
. "$SCRIPT_DIR/toolchain.sh"

started=$(date +%s)
ensure_toolchain
"$SCRIPT_DIR/services.sh" start

export SMTP_SINK_MAILDIR="${RUN_DIR:-$REPO_ROOT/.run}/maildir"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast

echo "==> all checks passed in $(( $(date +%s) - started ))s"
