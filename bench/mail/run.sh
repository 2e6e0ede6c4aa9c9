#!/usr/bin/env bash
# Mail pipeline benchmark (not a test): see bench/README.md. Extra arguments go to the
# benchmark, e.g. `bench/mail/run.sh --messages 20000 --consumers 2 --nodelay on`.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd)
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/services.sh" start redis rabbitmq smtp
MAILDIR=$("$REPO_ROOT/scripts/services.sh" maildir)

# Optimised, but without the release profile's fat link step: the figures are the same and a
# 2-core machine builds it in a fraction of the time.
export CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
exec cargo run --release -p mail-service --example mail_bench -- \
    --maildir "$MAILDIR" --out "$REPO_ROOT/bench/reports" "$@"
