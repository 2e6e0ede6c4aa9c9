#!/usr/bin/env bash
# What the hosted pages' browser tests need (services/user-service/tests/api/browser.rs runs
# tests/browser/pages.py): Debian's chromium and chromedriver (apt), selenium in a venv
# (scripts/requirements-browser.txt) and axe-core (npm ci in tests/browser). Sourced by
# scripts/test.sh, which exports what `ensure_browser_tools` prints; run on its own it installs
# the same and prints those NAME=value lines (for a CI's environment file), progress on stderr.
#
# CHROMIUM and CHROMEDRIVER, when both name executables, are used instead of Debian's packages
# (a machine that has a browser and its matching driver elsewhere, e.g. a CI runner image).
set -euo pipefail

BROWSER_TOOLS_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
BROWSER_REPO_ROOT=$(cd -- "$BROWSER_TOOLS_DIR/.." && pwd)

# Debian's chromium and its chromedriver, same version. Idempotent: nothing happens when both
# are there. The pinned version, or the archive's current one once a security update replaced it.
CHROMIUM_DEB_VERSION=156.0.8078.108-1~deb12u1
ensure_chromium() {
    if [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM:-}" ] && [ -n "${CHROMEDRIVER:-}" ] && [ -x "${CHROMEDRIVER:-}" ]; then
        return 0
    fi
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return 0; fi
    local sudo="" version=$CHROMIUM_DEB_VERSION
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "==> installing chromium and chromium-driver (apt) for the browser tests" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null
    if ! apt-cache madison chromium 2>/dev/null | grep -qF " $version " ||
        ! apt-cache madison chromium-driver 2>/dev/null | grep -qF " $version "; then
        version=""
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "chromium${version:+=$version}" "chromium-driver${version:+=$version}" </dev/null >/dev/null || {
        echo "error: apt-get install chromium chromium-driver failed" >&2
        exit 1
    }
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        echo "error: no /usr/bin/chromium and /usr/bin/chromedriver after the install" >&2
        exit 1
    fi
}

# selenium in $RUN_DIR/venv-browser (rebuilt when the requirements change) and axe-core in
# tests/browser/node_modules (npm ci from the committed lock file, when its version differs).
# Prints the variables browser.rs reads.
ensure_browser_tools() {
    local run_dir=${RUN_DIR:-$BROWSER_REPO_ROOT/.run}
    local venv=$run_dir/venv-browser req=$BROWSER_TOOLS_DIR/requirements-browser.txt want
    local npm_dir=$BROWSER_REPO_ROOT/tests/browser axe_version
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if ! { [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; }; then
        echo "==> installing pinned browser test tools into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null >&2
        echo "$want" >"$venv/.requirements.sha256"
    fi
    axe_version=$(sed -n 's/^ *"axe-core": "\([^"]*\)".*/\1/p' "$npm_dir/package.json")
    if [ "$(sed -n 's/^ *"version": "\([^"]*\)".*/\1/p' "$npm_dir/node_modules/axe-core/package.json" 2>/dev/null | head -1)" != "$axe_version" ]; then
        command -v npm >/dev/null 2>&1 || { echo "error: npm is required to install axe-core" >&2; exit 1; }
        echo "==> installing axe-core $axe_version (npm ci in tests/browser)" >&2
        (cd "$npm_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error </dev/null >&2)
    fi
    echo "BROWSER_PYTHON=$venv/bin/python"
    echo "AXE_CORE_JS=$npm_dir/node_modules/axe-core/axe.min.js"
    echo "BROWSER_REPORT_DIR=${BROWSER_REPORT_DIR:-$BROWSER_REPO_ROOT/target/browser-report}"
    echo "CHROMIUM=${CHROMIUM:-/usr/bin/chromium}"
    echo "CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    ensure_chromium
    ensure_browser_tools
fi
