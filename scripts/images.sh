#!/usr/bin/env bash
# Builds the two service images for real and tests the containers the way Kubernetes runs the pods.
#
#   1. the Docker engine: Debian's docker.io, installed and dockerd started only when missing
#      (--bridge=none --iptables=false: every container uses the host network); a dockerd started
#      here is stopped on exit (`up` leaves it running for the containers; `down` stops it)
#   2. the base image (scripts/image-base.sh: distroless-style, from Debian 12 packages) and its
#      file list (scripts/check_image_files.py; an image with a shell and dpkg must fail it)
#   3. both binaries as the release builds them (cargo auditable build --release --locked; with
#      IMAGE_PROFILE another Cargo profile, see below), then
#      both images from the one Dockerfile (BINARY_FROM=prebuilt, RUNTIME_IMAGE=the local base;
#      scripts/check_image_args.py keeps these arguments in step with the release workflow)
#   4. the binaries inside the images against the RustSec advisory database (offline), and a
#      CycloneDX SBOM per image (scripts/audit_binaries.py, from the embedded dependency list)
#   5. the chart's pod spec (helm template) against the images and the flags used below
#      (scripts/check_pod_spec.py)
#   6. the containers against the local stack (scripts/services.sh), as the chart runs them:
#      --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges, the chart's
#      memory limits, host network: /healthz /readyz /metrics; a signup through the user-service
#      container whose email the mail-service container sends to the SMTP capture server, then
#      confirm and login; SIGTERM (readiness draining, exit 0 within SHUTDOWN_TIMEOUT); a bad
#      environment (exit 2, the variable named in docker logs, no secret); start-to-ready time,
#      idle RSS, image sizes (figures in $RUN_DIR/images/figures.txt)
#
# Usage: scripts/images.sh [all|up|down]
#   all   (default) everything above
#   up    build what is missing, then run both containers on the local stack on the usual ports
#         (8080, 9090, 9091; the hosted pages at http://localhost:8080) until `down`
#   down  remove those containers; stop dockerd if `up` started it
# Environment:
#   RUN_DIR                 state and work files (default <repo>/.run), under $RUN_DIR/images
#   IMAGE_TAG               tag of user-platform/{user,mail}-service (default local)
#   IMAGES_USER_HTTP_PORT, IMAGES_USER_ADMIN_PORT, IMAGES_MAIL_ADMIN_PORT
#                           ports of the tests (default: the chart's when free, else free ones)
#   ADVISORY_DB_BUNDLE      the RustSec bundle (default ../shared/rustsec-advisory-db.bundle)
#   IMAGE_PROFILE           the Cargo profile of the binaries (default release, what the release
#                           workflow ships); the test suite uses image-test (Cargo.toml: release
#                           without LTO, parallel code generation): the same files, features
#                           and dependencies, built from scratch in 608 s instead of 720 s on
#                           2 cores
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
cd "$REPO_ROOT"
# shellcheck source=scripts/toolchain.sh
. "$SCRIPT_DIR/toolchain.sh"

RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
WORK=$RUN_DIR/images
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
DOCKER_DEB_VERSION=20.10.24+dfsg1-1+deb12u1+b6
# The Dockerfile's ARG CARGO_AUDITABLE_VERSION (scripts/check_image_args.py).
CARGO_AUDITABLE_VERSION=0.7.7
BASE_IMAGE="user-platform/base-cc:debian12"
TAG=${IMAGE_TAG:-local}
PROFILE=${IMAGE_PROFILE:-release}
SERVICES=(user-service mail-service)
# Names on the shared broker, Redis and MongoDB that belong to this clone only.
CLONE_ID=$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-8)
PREFIX=images-$CLONE_ID
HELM=${HELM:-$REPO_ROOT/.run/deploy-tools/bin/helm}
DEPLOY_PYTHON=$REPO_ROOT/.run/deploy-tools/venv/bin/python
export DOCKER_BUILDKIT=1

started_dockerd=""
containers=()
say() { printf '[images] %s\n' "$*"; }
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
figure() { printf '%s\n' "$*" >>"$WORK/figures.txt"; say "$*"; }
now_ms() { date +%s%3N; }

cleanup() {
    local c
    for c in "${containers[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true; done
    if [ -n "$started_dockerd" ]; then stop_dockerd; fi
}

# ------------------------------------------------------------------------------------- engine
ensure_docker() {
    if ! command -v dockerd >/dev/null 2>&1; then
        local version=$DOCKER_DEB_VERSION
        say "installing docker.io (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null
        # The pinned version, or the archive's current one once a security update replaced it.
        apt-cache madison docker.io 2>/dev/null | grep -qF " $version " || version=""
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "docker.io${version:+=$version}" </dev/null >/dev/null
    fi
    # Debian's client: it speaks BuildKit to its daemon without the buildx plugin.
    DOCKER=docker
    if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
    export DOCKER
    if "$DOCKER" info >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p "$WORK"
    say "starting dockerd (overlay2, no bridge, no iptables: containers use the host network)"
    setsid dockerd --bridge=none --iptables=false --ip6tables=false \
        --pidfile "$WORK/dockerd.pid" >>"$WORK/dockerd.log" 2>&1 </dev/null &
    started_dockerd=$!
    echo "$started_dockerd" >"$WORK/dockerd.started"
    local _
    for _ in $(seq 1 60); do
        if "$DOCKER" info >/dev/null 2>&1; then return 0; fi
        kill -0 "$started_dockerd" 2>/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; die "dockerd exited"; }
        sleep 0.5
    done
    die "dockerd did not answer within 30 s (see $WORK/dockerd.log)"
}

stop_dockerd() {
    local _
    kill -TERM "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
    rm -f "$WORK/dockerd.started"
    say "stopped the dockerd started here"
    started_dockerd=""
}

# ------------------------------------------------------------------------------------- builds
build_binaries() {
    if ! cargo install --list | grep -qx "cargo-auditable v$CARGO_AUDITABLE_VERSION:"; then
        say "installing cargo-auditable $CARGO_AUDITABLE_VERSION"
        cargo install --locked "cargo-auditable@$CARGO_AUDITABLE_VERSION"
    fi
    local t0 svc
    t0=$(date +%s)
    say "build of both binaries (cargo auditable build --profile $PROFILE --locked)"
    cargo auditable build --profile "$PROFILE" --locked -p user-service -p mail-service
    figure "$PROFILE build (cargo auditable, both binaries, this run): $(($(date +%s) - t0)) s"
    rm -rf "$WORK/context"
    mkdir -p "$WORK/context/prebuilt"
    for svc in "${SERVICES[@]}"; do cp "$TARGET_DIR/$PROFILE/$svc" "$WORK/context/prebuilt/"; done
}

build_images() {
    local svc revision created version source
    revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
    created=$(date -u -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%dT%H:%M:%SZ)
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' services/user-service/Cargo.toml | head -n 1)
    source=$(git remote get-url origin 2>/dev/null || true)
    case $source in https://*) ;; *) source=$(sed -n 's/^ARG SOURCE=//p' Dockerfile) ;; esac
    CREATED=$created
    for svc in "${SERVICES[@]}"; do
        "$DOCKER" build -q -f Dockerfile \
            --build-arg SERVICE="$svc" \
            --build-arg BINARY_FROM=prebuilt \
            --build-arg RUNTIME_IMAGE="$BASE_IMAGE" \
            --build-arg VERSION="$version" \
            --build-arg REVISION="$revision" \
            --build-arg CREATED="$created" \
            --build-arg SOURCE="$source" \
            -t "user-platform/$svc:$TAG" "$WORK/context" >/dev/null
        say "built user-platform/$svc:$TAG ($(label "user-platform/$svc:$TAG" revision | cut -c1-12))"
    done
}

label() {
    "$DOCKER" image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$2\"}}" "$1"
}

# A shell and dpkg added to the base must fail the file-list check.
check_files() {
    python3 "$SCRIPT_DIR/check_image_files.py" "$BASE_IMAGE" \
        "user-platform/user-service:$TAG=user-service" "user-platform/mail-service:$TAG=mail-service"
    local neg=$WORK/negative
    rm -rf "$neg"
    mkdir -p "$neg"
    printf 'x' >"$neg/sh"
    printf 'FROM %s\nCOPY --chmod=0755 sh /bin/sh\nCOPY --chmod=0755 sh /usr/bin/dpkg\n' "$BASE_IMAGE" >"$neg/Dockerfile"
    "$DOCKER" build -q -t user-platform/negative-check:shell "$neg" >/dev/null
    if python3 "$SCRIPT_DIR/check_image_files.py" user-platform/negative-check:shell >"$neg/out" 2>&1; then
        die "check_image_files.py accepted an image with /bin/sh and dpkg"
    fi
    if ! grep -q "forbidden program: /bin/sh" "$neg/out" || ! grep -q "forbidden program: /usr/bin/dpkg" "$neg/out"; then
        cat "$neg/out" >&2
        die "check_image_files.py did not name /bin/sh and /usr/bin/dpkg"
    fi
    "$DOCKER" rmi user-platform/negative-check:shell >/dev/null
    say "negative case: an image with /bin/sh and /usr/bin/dpkg fails the file-list check"
}

audit_images() {
    local bundle=${ADVISORY_DB_BUNDLE:-$REPO_ROOT/../shared/rustsec-advisory-db.bundle}
    local db=$REPO_ROOT/.run/advisory-db/advisory-db-3157b0e258782691 svc cid bins=()
    if [ ! -d "$db" ]; then
        if [ -f "$bundle" ]; then
            mkdir -p "$(dirname "$db")"
            git clone -q "$bundle" "$db"
        else
            echo "WARNING: no RustSec advisory bundle at $bundle (set ADVISORY_DB_BUNDLE);" \
                "the images' binaries are not checked against advisories" >&2
            return 0
        fi
    fi
    python3 "$SCRIPT_DIR/audit_binaries.py" --self-test "$db"
    mkdir -p "$WORK/bin"
    for svc in "${SERVICES[@]}"; do
        cid=$("$DOCKER" create "user-platform/$svc:$TAG")
        "$DOCKER" cp "$cid:/usr/local/bin/$svc" "$WORK/bin/$svc"
        "$DOCKER" rm "$cid" >/dev/null
        bins+=("$WORK/bin/$svc")
    done
    python3 "$SCRIPT_DIR/audit_binaries.py" "$db" deny.toml "$WORK/sbom" "$CREATED" "${bins[@]}"
}

sizes() {
    local image unpacked compressed
    for image in "$BASE_IMAGE" "user-platform/user-service:$TAG" "user-platform/mail-service:$TAG"; do
        unpacked=$("$DOCKER" image inspect -f '{{.Size}}' "$image")
        compressed=$("$DOCKER" save "$image" | gzip -6 -c | wc -c)
        figure "size $image: unpacked $((unpacked / 1024)) KiB," \
            "compressed (gzip of docker save) $((compressed / 1024)) KiB"
    done
}

# Steps 5 and 6: the pod spec and the containers (pod_spec, run_user_service, run_mail_service,
# wait_ready, test_containers, ...).
# shellcheck source=scripts/images-containers.sh
. "$SCRIPT_DIR/images-containers.sh"

# ---------------------------------------------------------------------------------- commands
build_all() {
    python3 "$SCRIPT_DIR/check_image_args.py"
    ensure_docker
    RUN_DIR=$RUN_DIR "$SCRIPT_DIR/image-base.sh" "$BASE_IMAGE"
    build_binaries
    build_images
}

all() {
    trap cleanup EXIT
    local t0
    t0=$(date +%s)
    mkdir -p "$WORK"
    : >"$WORK/figures.txt"
    build_all
    check_files
    audit_images
    sizes
    pod_spec
    test_containers
    figure "scripts/images.sh: all checks passed in $(($(date +%s) - t0)) s"
}

up() {
    ensure_toolchain
    mkdir -p "$WORK"
    : >"$WORK/figures.txt"
    build_all
    pod_spec
    "$SCRIPT_DIR/services.sh" start
    stack_env
    local name t0
    for name in up-user-service up-mail-service; do "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true; done
    t0=$(now_ms)
    run_mail_service up-mail-service 9091 "http://localhost:8080"
    run_user_service up-user-service 8080 9090
    containers=()
    wait_ready up-mail-service http://127.0.0.1:9091/readyz "$t0"
    wait_ready up-user-service http://127.0.0.1:9090/readyz "$t0"
    cat <<EOT

Both services run as containers (host network, read-only, user 65532, no capabilities):
  user-service  http://localhost:8080 (pages: /signup, /login)   admin http://127.0.0.1:9090
  mail-service  admin http://127.0.0.1:9091                       captured mail: scripts/mail-links.py
  logs          $DOCKER logs -f up-user-service   ($DOCKER logs -f up-mail-service)
Stop them with: scripts/images.sh down   (or scripts/up.sh down --containers)
EOT
}

down() {
    DOCKER=docker
    if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
    local name
    for name in up-user-service up-mail-service; do
        if "$DOCKER" rm -f "$name" >/dev/null 2>&1; then say "removed $name"; fi
    done
    if [ -f "$WORK/dockerd.started" ]; then
        started_dockerd=$(cat "$WORK/dockerd.started")
        stop_dockerd
    fi
}

case "${1:-all}" in
    all) ensure_toolchain; all ;;
    up) up ;;
    down) down ;;
    *) echo "usage: $0 [all|up|down]" >&2; exit 2 ;;
esac
