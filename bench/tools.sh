# Sourced by the benchmark commands from the repository root: RUN_DIR (absolute, exported), the
# pinned tools they install when missing, and the profiling build.

RUN_DIR=${RUN_DIR:-$PWD/.run}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
export RUN_DIR

# Flame graphs from perf's samples (collapse, then SVG). Pinned.
INFERNO_VERSION=0.12.8

# Where the profiling build goes: its own target directory, because frame pointers change
# every crate's flags (sharing target/ would rebuild the release binaries back and forth).
PROFILING_TARGET=${CARGO_TARGET_DIR:-$PWD/target}/frame-pointers

# Takes `--baseline REV` out of the command line: sets BASELINE (empty without it) and ARGS
# (everything else, for the Python driver).
take_baseline_arg() {
    BASELINE=""
    ARGS=()
    while [ $# -gt 0 ]; do
        case $1 in
            --baseline) BASELINE=$2; shift 2 ;;
            *) ARGS+=("$1"); shift ;;
        esac
    done
}

apt_install() {
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# wrk (Debian): the load generator for ceilings (k6 saturates a core before the service does).
ensure_wrk() {
    command -v wrk >/dev/null || apt_install wrk
}

# perf (Debian linux-perf) and inferno (crates.io).
ensure_profiler() {
    command -v perf >/dev/null || apt_install linux-perf
    if ! cargo install --list | grep -qx "inferno v$INFERNO_VERSION:"; then
        cargo install --locked "inferno@$INFERNO_VERSION"
    fi
}

# The user-service and examples/hash_bound.rs in the profile `profiling` (Cargo.toml: release
# code generation, line tables, symbols kept) with frame pointers in every crate we compile, so
# perf can walk the stacks cheaply. Always both: an example brings the dev-dependencies' features
# in, and building the binary alone would rebuild half the dependencies each time.
build_profiling() {
    RUSTFLAGS="-C force-frame-pointers=yes" CARGO_TARGET_DIR=$PROFILING_TARGET \
        cargo build --profile profiling --locked -p user-service --bin user-service --example hash_bound
}

# The same build of an earlier commit (REV), for a before/after comparison in one run: a
# detached worktree under $RUN_DIR/bench-baseline and a target directory of its own. The profile
# is given on the command line, so commits from before it existed build the same way. Prints
# the directory holding the binaries.
build_baseline() {
    local rev=$1 dir=$RUN_DIR/bench-baseline
    rev=$(git rev-parse --verify "$rev^{commit}")
    if [ "$(git -C "$dir/tree" rev-parse HEAD 2>/dev/null)" != "$rev" ]; then
        git worktree remove --force "$dir/tree" 2>/dev/null || rm -rf "$dir/tree"
        git worktree prune
        git worktree add --detach -q "$dir/tree" "$rev"
    fi
    (
        cd "$dir/tree"
        RUSTFLAGS="-C force-frame-pointers=yes" CARGO_TARGET_DIR=$dir/target \
            cargo build --locked \
            --config 'profile.profiling.inherits="release"' \
            --config 'profile.profiling.debug="line-tables-only"' \
            --config 'profile.profiling.strip="none"' \
            --profile profiling -p user-service --bin user-service --example hash_bound >&2
    )
    echo "$dir/target/profiling"
}
