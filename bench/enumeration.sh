#!/usr/bin/env bash
# Account-enumeration timing benchmark (see bench/enumeration.py). Not part of the test suite.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
scripts/services.sh start
cargo build --release --locked -p user-service
exec .run/venv/bin/python bench/enumeration.py --binary target/release/user-service "$@"
