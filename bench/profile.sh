#!/usr/bin/env bash
# A CPU profile of one request path (not part of the test suite): builds the user-service with
# the `profiling` profile (release code, line tables, symbols) and frame pointers, runs wrk on
# the path while perf samples the process, and writes a flame graph and a table of shares to
# bench/reports/flame/<name>.{svg,md}. Installs wrk, perf (Debian) and inferno (pinned) when
# missing. See bench/README.md.
#
#   bench/profile.sh --path /v1/auth/check           # also: admin:/healthz, /no-such-path,
#   bench/profile.sh --path signup --duration 20     #   /v1/users/me, signup, login
#   bench/profile.sh --baseline REV --path ...       # the same build of an earlier commit
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/tools.sh
. bench/tools.sh

take_baseline_arg "$@"

scripts/services.sh start
ensure_wrk
ensure_profiler
if [ -n "$BASELINE" ]; then
    bin=$(build_baseline "$BASELINE")/user-service
    ARGS+=(--binary-label "user-service at $(git rev-parse --short "$BASELINE") (profiling build)")
else
    build_profiling
    bin=$PROFILING_TARGET/profiling/user-service
fi
# pymongo (for cleanup) comes from the services' venv.
exec "$RUN_DIR/venv/bin/python" bench/profile.py --binary "$bin" "${ARGS[@]}"
