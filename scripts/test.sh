#!/usr/bin/env bash
# The whole test suite: starts the dependency services (scripts/services.sh), then runs
# formatting and lint checks, every test against the real MongoDB-compatible server, Redis,
# RabbitMQ and SMTP capture server, and the offline validation of the chart and manifests.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/toolchain.sh
. "$SCRIPT_DIR/toolchain.sh"

started=$(date +%s)
ensure_toolchain
"$SCRIPT_DIR/services.sh" start

SMTP_SINK_MAILDIR=$("$SCRIPT_DIR/services.sh" maildir)
export SMTP_SINK_MAILDIR
echo "==> SMTP capture server writes to $SMTP_SINK_MAILDIR"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast

echo "==> Dockerfile, Helm chart and manifests (offline validation)"
"$SCRIPT_DIR/check-deploy.sh"

echo "==> all checks passed in $(( $(date +%s) - started ))s"
