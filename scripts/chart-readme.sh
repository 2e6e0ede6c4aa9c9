#!/usr/bin/env bash
# charts/user-platform/README.md: its "Parameters" section is generated from the `# --` comments
# of charts/user-platform/values.yaml by Bitnami's readme-generator-for-helm (version pinned in
# scripts/chart-readme/package.json and its lock, installed into $RUN_DIR/chart-readme).
# scripts/chart-readme/values-metadata.cjs turns those comments into the generator's
# `## @param` metadata on a temporary copy; values.yaml is never modified.
#
# Usage: scripts/chart-readme.sh generate   rewrite the Parameters section of the README
#        scripts/chart-readme.sh check      fail if the README differs from what generate writes,
#                                           or if a value has no description (scripts/test.sh)
# CHART_DIR (default charts/user-platform) points it at another copy of the chart.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
CHART_DIR=${CHART_DIR:-$REPO_ROOT/charts/user-platform}
TOOL_SRC=$SCRIPT_DIR/chart-readme
TOOL_DIR=$RUN_DIR/chart-readme

ensure_generator() {
    local want
    want=$(cat "$TOOL_SRC/package.json" "$TOOL_SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
    if [ -x "$TOOL_DIR/node_modules/.bin/readme-generator" ] && [ "$(cat "$TOOL_DIR/.lock.sha256" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 || { echo "error: npm is required for the chart README generator" >&2; exit 1; }
    echo "==> installing readme-generator-for-helm (npm ci into $TOOL_DIR)" >&2
    rm -rf "$TOOL_DIR"
    mkdir -p "$TOOL_DIR"
    cp "$TOOL_SRC/package.json" "$TOOL_SRC/package-lock.json" "$TOOL_DIR/"
    (cd "$TOOL_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error </dev/null >&2)
    echo "$want" >"$TOOL_DIR/.lock.sha256"
}

# generate README: rewrites the Parameters section of README (a path) from CHART_DIR/values.yaml.
generate_into() {
    local readme=$1 tmp log
    tmp=$(mktemp -d)
    log=$tmp/generator.log
    NODE_PATH=$TOOL_DIR/node_modules node "$TOOL_SRC/values-metadata.cjs" "$CHART_DIR/values.yaml" >"$tmp/values.yaml"
    if ! "$TOOL_DIR/node_modules/.bin/readme-generator" --values "$tmp/values.yaml" --readme "$readme" >"$log" 2>&1; then
        grep -E '^ERROR' "$log" | sed 's/^ERROR: Missing metadata for key: /a value without a `# --` description in values.yaml: /' >&2 || cat "$log" >&2
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$tmp"
}

ensure_generator
case ${1:-check} in
generate)
    generate_into "$CHART_DIR/README.md"
    echo "wrote $CHART_DIR/README.md"
    ;;
check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp "$CHART_DIR/README.md" "$tmp/README.md"
    if ! generate_into "$tmp/README.md"; then
        echo "error: the chart README cannot be generated: document every value in values.yaml" >&2
        exit 1
    fi
    if ! diff -u "$CHART_DIR/README.md" "$tmp/README.md" >"$tmp/diff"; then
        head -n 60 "$tmp/diff" >&2
        echo "error: charts/user-platform/README.md is out of date with values.yaml;" \
            "run scripts/chart-readme.sh generate and commit the result" >&2
        exit 1
    fi
    echo "charts/user-platform/README.md matches values.yaml"
    ;;
*)
    echo "usage: $0 generate|check" >&2
    exit 2
    ;;
esac
