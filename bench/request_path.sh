#!/usr/bin/env bash
# The request path against issue 29's goals (not part of the test suite): the working tree's
# user-service, and with --baseline REV the same build of an earlier commit, measured in one run
# (bench/request_path.py); writes bench/reports/request-path.{md,json}. ~6 minutes with a
# baseline and the defaults. Builds use the `profiling` profile (release code generation, frame
# pointers), the one bench/profile.sh samples.
#
#   bench/request_path.sh --baseline 1c78224 [--runs 3] [--duration 5s] ...
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/tools.sh
. bench/tools.sh
# shellcheck source=bench/venv.sh
. bench/venv.sh

take_baseline_arg "$@"

scripts/services.sh start
ensure_wrk
ensure_bench_venv
build_profiling
if [ -n "$BASELINE" ]; then
    dir=$(build_baseline "$BASELINE")
    ARGS+=(--baseline "$dir/user-service" --baseline-label "$(git rev-parse --short "$BASELINE")")
fi
label="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- services Cargo.toml Cargo.lock || echo ' + changes')"
# pymongo (for cleanup) comes from the services' venv.
exec "$RUN_DIR/venv/bin/python" bench/request_path.py \
    --binary "$PROFILING_TARGET/profiling/user-service" --label "$label" \
    --hash-bound "$PROFILING_TARGET/profiling/examples/hash_bound" \
    --k6 "$RUN_DIR/venv-bench/bin/k6" "${ARGS[@]}"
