#!/usr/bin/env bash
# cargo fuzz targets in fuzz/ (docs/fuzzing.md): the edge parsers of the user service and the
# email message decoder.
#
#   scripts/fuzz.sh smoke               every target for FUZZ_SECONDS (default 25), FUZZ_JOBS at
#                                       a time (default: the number of cores); fails on any
#                                       crash and prints it. Part of scripts/test.sh.
#   scripts/fuzz.sh run TARGET [SECS]   one longer campaign (default 3600 s) that keeps what it
#                                       finds in fuzz/corpus/TARGET; extra libFuzzer flags in
#                                       FUZZ_ARGS, e.g. FUZZ_ARGS="-fork=2".
#   scripts/fuzz.sh build | list
#
# FUZZ_SANITIZER: none (default; the code under test is safe Rust) or address, leak, memory.
# Nightly-only flags of cargo fuzz come from the stable toolchain through RUSTC_BOOTSTRAP=1.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"

CARGO_FUZZ_VERSION=0.13.2
RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
SANITIZER=${FUZZ_SANITIZER:-none}
# Long enough for the 1025-code-point password seed and a few NFKC expansions beyond it.
MAX_LEN=4096
export RUSTC_BOOTSTRAP=1

ensure_cargo_fuzz() {
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
    fi
}

# The fuzz crate's lock file starts as the services' own, so the targets run against exactly
# the dependency versions the services ship with; cargo adds only the fuzzing crates.
build() {
    ensure_cargo_fuzz
    cp Cargo.lock fuzz/Cargo.lock
    cargo fmt --manifest-path fuzz/Cargo.toml -- --check
    local started=$SECONDS
    cargo fuzz build --sanitizer "$SANITIZER"
    echo "==> fuzz targets built in $((SECONDS - started))s (sanitizer: $SANITIZER)"
}

targets() { cargo fuzz list; }

# libFuzzer with the committed seeds read-only: new inputs go to the first corpus directory.
fuzz_one() {
    local target=$1 seconds=$2 corpus=$3 artifacts=$4
    shift 4
    local dict=()
    [ -f "fuzz/dict/$target.dict" ] && dict=("-dict=fuzz/dict/$target.dict")
    mkdir -p "$corpus" "$artifacts"
    cargo fuzz run --sanitizer "$SANITIZER" "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len="$MAX_LEN" -artifact_prefix="$artifacts/" \
        -print_final_stats=1 "${dict[@]}" "$@"
}

# A crash, an out-of-memory or a leak leaves a file in the artefact directory; a slow unit does
# not fail the run (no timed thresholds).
report_artifacts() {
    local target=$1 artifacts=$2 found=1 file
    for file in "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/leak-* "$artifacts"/timeout-*; do
        [ -e "$file" ] || continue
        found=0
        echo "!!! $target: $(basename "$file") ($(wc -c <"$file") bytes), as hex:" >&2
        od -An -tx1 -v "$file" | head -n 64 >&2
        echo "    reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $SANITIZER $target <that file>" >&2
    done
    return $found
}

smoke_one() {
    local target=$1 seconds=$2 dir=$RUN_DIR/fuzz ok=true
    local log=$dir/$target.log artifacts=$dir/artifacts/$target
    rm -rf "$dir/corpus/$target" "$artifacts"
    RUST_BACKTRACE=0 fuzz_one "$target" "$seconds" "$dir/corpus/$target" "$artifacts" >"$log" 2>&1 || ok=false
    if report_artifacts "$target" "$artifacts"; then ok=false; fi
    if $ok; then
        echo "--- $target: $(awk '/^stat::number_of_executed_units/ {print $2}' "$log") runs," \
            "corpus $(find "$dir/corpus/$target" -type f | wc -l) new + $(find "fuzz/corpus/$target" -type f | wc -l) seeds"
        return 0
    fi
    echo "!!! $target failed; the end of its libFuzzer log ($log):" >&2
    tail -n 40 "$log" >&2
    return 1
}

smoke() {
    local seconds=${FUZZ_SECONDS:-25} jobs=${FUZZ_JOBS:-$(nproc)} failed=0 target running=0
    build
    mkdir -p "$RUN_DIR/fuzz"
    local started=$SECONDS
    for target in $(targets); do
        if [ "$running" -ge "$jobs" ]; then
            wait -n || failed=1
            running=$((running - 1))
        fi
        smoke_one "$target" "$seconds" &
        running=$((running + 1))
    done
    while [ "$running" -gt 0 ]; do
        wait -n || failed=1
        running=$((running - 1))
    done
    echo "==> fuzz smoke: ${seconds}s per target, $jobs at a time, $((SECONDS - started))s in all"
    return $failed
}

campaign() {
    local target=${1:?usage: scripts/fuzz.sh run TARGET [SECONDS]} seconds=${2:-3600}
    build
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
    fuzz_one "$target" "$seconds" "fuzz/corpus/$target" "fuzz/artifacts/$target" ${FUZZ_ARGS:-}
}

case ${1:-smoke} in
smoke) smoke ;;
run) shift; campaign "$@" ;;
build) build ;;
list) targets ;;
*) sed -n '2,15p' "$0" >&2; exit 2 ;;
esac
