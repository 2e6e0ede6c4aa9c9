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
# ensure_chromium, ensure_browser_tools: the hosted pages' browser tests (also run on its own by CI).
# shellcheck source=scripts/browser-tools.sh
. "$SCRIPT_DIR/browser-tools.sh"

RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}

# schemathesis, which fuzzes the running user-service against its /openapi.json
# (services/user-service/tests/api/openapi.rs), in its own venv next to the services' one.
ensure_apitest_tools() {
    local venv=$RUN_DIR/venv-apitest req=$SCRIPT_DIR/requirements-apitest.txt want
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if [ -x "$venv/bin/schemathesis" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "==> installing pinned API test tools into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null
    echo "$want" >"$venv/.requirements.sha256"
}

# openapi-python-client and pyotp for the generated-client lifecycle test
# (services/user-service/tests/api/generated_client.rs runs tests/client/lifecycle.py).
ensure_client_tools() {
    local venv=$RUN_DIR/venv-client req=$SCRIPT_DIR/requirements-client.txt want
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if [ -x "$venv/bin/openapi-python-client" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "==> installing pinned generated-client test tools into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null
    echo "$want" >"$venv/.requirements.sha256"
}

# Dependency policy (deny.toml) with the RustSec database from the bundle provided next to the
# project (../shared): the real database is a git repository this machine cannot reach.
ensure_cargo_deny() {
    command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny@0.20.2
    local bundle=${ADVISORY_DB_BUNDLE:-$REPO_ROOT/../shared/rustsec-advisory-db.bundle}
    local db=$REPO_ROOT/.run/advisory-db/advisory-db-3157b0e258782691
    local checks=(advisories bans licenses sources)
    if [ ! -d "$db" ]; then
        if [ -f "$bundle" ]; then
            mkdir -p "$(dirname "$db")"
            git clone -q "$bundle" "$db"
        else
            # A clone without the provided bundle beside it: the advisory database cannot be
            # reached from here, so only that part is skipped, loudly.
            echo "WARNING: no RustSec advisory bundle at $bundle (set ADVISORY_DB_BUNDLE);" \
                "checking licences, bans and sources only" >&2
            checks=(bans licenses sources)
        fi
    fi
    # cargo deny reads the metadata of every platform's dependencies, which `cargo build` on
    # this one never downloads; --offline then keeps it from reaching for the advisory git repo.
    cargo fetch --locked
    cargo deny --offline --locked check --hide-inclusion-graph "${checks[@]}"
}

# The suite builds the workspace (debug), the fuzz targets and the benchmark-free binaries: about
# 6 GiB of build output. A disk without room fails late and obscurely ("Bus error" from the
# linker, "No space left on device"), so say it up front.
check_disk_space() {
    local dir=${CARGO_TARGET_DIR:-$REPO_ROOT/target} need_kib=$((8 * 1024 * 1024)) free_kib
    mkdir -p "$dir"
    free_kib=$(df -Pk "$dir" | awk 'NR == 2 { print $4 }')
    echo "==> free disk for the build: $((free_kib / 1024)) MiB in $(df -P "$dir" | awk 'NR == 2 { print $6 }')"
    if [ "$free_kib" -lt "$need_kib" ]; then
        echo "WARNING: less than 8 GiB free where the build goes ($dir); the suite may fail with" \
            "'No space left on device'. Free space or set CARGO_TARGET_DIR elsewhere." >&2
    fi
}

# Debian's nginx, with auth_request: the forward-auth tests put it in front of the user-service
# (services/user-service/tests/api/forward_auth.rs). Its package would start a daemon on :80; a
# policy-rc.d that denies every start is Debian's way to prevent that (kept if one exists).
NGINX_DEB_VERSION=1.22.1-9+deb12u11
ensure_nginx() {
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return 0; fi
    local sudo="" policy=/usr/sbin/policy-rc.d added="" version=$NGINX_DEB_VERSION
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "==> installing nginx (apt) for the forward-auth tests"
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        added=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null
    # The pinned version, or the archive's current one once a security update replaced it.
    apt-cache madison nginx 2>/dev/null | grep -qF " $version " || version=""
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "nginx${version:+=$version}" </dev/null >/dev/null || {
        [ -z "$added" ] || $sudo rm -f "$policy"
        echo "error: apt-get install nginx failed" >&2
        exit 1
    }
    [ -z "$added" ] || $sudo rm -f "$policy"
    /usr/sbin/nginx -V 2>&1 | grep -q -- --with-http_auth_request_module ||
        { echo "error: this nginx lacks the auth_request module" >&2; exit 1; }
}

started=$(date +%s)
ensure_toolchain
ensure_nginx
ensure_chromium
# CI builds once from scratch: incremental compilation state would only cost disk and time.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
check_disk_space
# services.sh also makes sure python3 with a working venv module is installed.
"$SCRIPT_DIR/services.sh" start
ensure_apitest_tools
export SCHEMATHESIS=$RUN_DIR/venv-apitest/bin/schemathesis
ensure_client_tools
export CLIENT_PYTHON=$RUN_DIR/venv-client/bin/python
# BROWSER_PYTHON, AXE_CORE_JS, BROWSER_REPORT_DIR (screenshots and axe-core results of every
# page, index.md), CHROMIUM, CHROMEDRIVER for services/user-service/tests/api/browser.rs.
browser_env=$(RUN_DIR=$RUN_DIR ensure_browser_tools)
while IFS= read -r line; do export "${line?}"; done <<<"$browser_env"
echo "==> browser tests report to $BROWSER_REPORT_DIR"

SMTP_SINK_MAILDIR=$("$SCRIPT_DIR/services.sh" maildir)
export SMTP_SINK_MAILDIR
echo "==> SMTP capture server writes to $SMTP_SINK_MAILDIR"

echo "==> cargo deny (advisories, licences, sources)"
ensure_cargo_deny
echo "==> cargo fmt --check"
cargo fmt --all -- --check
# The house rules of the Rust sources: no import circle between a crate's files, files of at most
# 400 lines, functions of at most 60 (scripts/check_structure.py; its allow-list says why for any
# exception).
echo "==> structure of the Rust sources (scripts/check_structure.py)"
python3 "$SCRIPT_DIR/check_structure.py"
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --workspace --locked --no-fail-fast

# ---- the Redis modes (docs/redis.md): the API tests that touch sessions, limits and links, the
# readiness messages and the mail service's sent record, against one TLS server with mutual TLS,
# a Sentinel set (TLS, passwords) and a 6-node Cluster (TLS), all on loopback
# (scripts/redis-topologies.sh, stopped afterwards).
REDIS_MODE_TESTS=(sessions:: session_cache:: session_limits:: redis_durability:: security:: rate_limits:: password_resets:: registration:: mfa:: account::)
run_redis_modes() {
    local mode vars
    RUN_DIR=$RUN_DIR "$SCRIPT_DIR/redis-topologies.sh" start all
    for mode in tls sentinel cluster; do
        echo "==> Redis $mode: API tests (${REDIS_MODE_TESTS[*]}), readiness, sent record"
        vars=$(RUN_DIR=$RUN_DIR "$SCRIPT_DIR/redis-topologies.sh" env "$mode")
        (
            while IFS= read -r line; do export "${line?}"; done <<<"$vars"
            cargo test --locked -p user-service --test api -- "${REDIS_MODE_TESTS[@]}"
            cargo test --locked -p user-platform-common --test redis_readiness
        )
        vars=$(RUN_DIR=$RUN_DIR "$SCRIPT_DIR/redis-topologies.sh" env "$mode" "")
        (
            while IFS= read -r line; do export "${line?}"; done <<<"$vars"
            cargo test --locked -p mail-service --test delivery
        )
    done
    RUN_DIR=$RUN_DIR "$SCRIPT_DIR/redis-topologies.sh" stop
}
run_redis_modes
# ---- end of the Redis modes

# ------------------------------------------------------------------ EmailTemplate controller e2e
# The real mail-service binary (built by cargo test above) against kmock's KubernetesEmulator over
# HTTP, with RabbitMQ, Redis and the SMTP capture server (tests/kmock/controller_e2e.py).
ensure_kmock_tools() {
    local venv=$RUN_DIR/venv-kmock req=$SCRIPT_DIR/requirements-kmock.txt want
    want=$(sha256sum <"$req" | cut -d' ' -f1)
    if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "==> installing pinned kmock test tools into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" </dev/null
    echo "$want" >"$venv/.requirements.sha256"
}
echo "==> EmailTemplate controller against an emulated Kubernetes API (kmock)"
ensure_kmock_tools
cargo build --locked -p mail-service --bin mail-service
AMQP_URL="amqp://guest:guest@127.0.0.1:${AMQP_PORT:-5672}/%2f" REDIS_URL="redis://127.0.0.1:${REDIS_PORT:-6379}" \
    SMTP_SINK_PORT=${SMTP_PORT:-2525} "$RUN_DIR/venv-kmock/bin/python" tests/kmock/controller_e2e.py \
    "${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/mail-service"

# ---- fuzz smoke: the cargo fuzz targets in fuzz/ (own workspace), each for a short bounded run;
# a crash fails the suite and is printed. Longer campaigns: docs/fuzzing.md.
run_fuzz_smoke() {
    echo "==> fuzz smoke (scripts/fuzz.sh smoke, ${FUZZ_SECONDS:-25}s per target)"
    RUN_DIR=$RUN_DIR "$SCRIPT_DIR/fuzz.sh" smoke
}
run_fuzz_smoke
# ---- end of fuzz smoke

echo "==> failure drills (drills/run.sh; report in drills/reports/latest.md)"
RUN_DIR=$RUN_DIR "$REPO_ROOT/drills/run.sh"

# ---- documentation kept in step with the code (offline, no build): every environment variable
# the services read is in docs/configuration.md, and charts/user-platform/README.md is what
# scripts/chart-readme.sh generates from values.yaml (every value documented).
echo "==> configuration reference (scripts/check_env_reference.py)"
python3 "$SCRIPT_DIR/check_env_reference.py"
echo "==> chart README up to date with values.yaml (scripts/chart-readme.sh check)"
RUN_DIR=$RUN_DIR "$SCRIPT_DIR/chart-readme.sh" check
# Also when SKIP_IMAGES=1 skips the images below: the release workflow's build arguments, the
# Dockerfile's ARGs and scripts/images.sh's in step.
echo "==> image build arguments (scripts/check_image_args.py)"
python3 "$SCRIPT_DIR/check_image_args.py"
# ---- end of documentation checks

echo "==> Dockerfile, Helm chart and manifests (offline validation)"
"$SCRIPT_DIR/check-deploy.sh"

# ---- the images, built and run (scripts/images.sh): the distroless-style base from Debian
# packages, both images from the Dockerfile with release binaries built here (cargo auditable),
# their files, advisories and SBOMs, then the containers as the chart runs the pods against the
# local stack. After check-deploy.sh, whose helm renders the pod spec compared with the tests.
# The binaries in the image-test profile (release without LTO, Cargo.toml): from scratch on 2
# cores 608 s instead of the release profile's 720 s, with no file of the images changed
# (IMAGE_PROFILE=release scripts/images.sh builds exactly what ships).
if [ "${SKIP_IMAGES:-}" = 1 ]; then
    echo "==> SKIPPED: images (SKIP_IMAGES=1)"
else
    echo "==> images: build the base and both images, test the containers (scripts/images.sh)"
    IMAGE_PROFILE=${IMAGE_PROFILE:-image-test} RUN_DIR=$RUN_DIR "$SCRIPT_DIR/images.sh"
fi
# ---- end of images

# ---- alerts and dashboards against a real Prometheus (scripts/check-monitoring.sh) ----------
# promtool check/test of the rules rendered from the chart, then every dashboard panel evaluated
# live (Prometheus scraping both services and RabbitMQ). Needs helm from check-deploy.sh above.
echo "==> alerts and dashboards against a real Prometheus (docs/operations.md)"
RUN_DIR=$RUN_DIR "$SCRIPT_DIR/check-monitoring.sh"
# ---------------------------------------------------------------------------------------------

echo "==> all checks passed in $(( $(date +%s) - started ))s"
