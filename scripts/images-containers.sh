#!/usr/bin/env bash
# The container half of scripts/images.sh (sourced by it, not run alone): the chart's pod spec
# against the images, the containers run as the chart runs the pods (read-only, non-root, no
# capabilities, the chart's memory limits, host network) against the local stack, and the tests
# of those containers (steps 5 and 6 of scripts/images.sh). Uses images.sh's settings and helpers
# (WORK, PREFIX, DOCKER, say, die, figure, ...).

pod_spec() {
    if [ ! -x "$HELM" ] || [ ! -x "$DEPLOY_PYTHON" ]; then
        say "helm is not installed yet: scripts/check-deploy.sh installs it (and runs its checks)"
        "$SCRIPT_DIR/check-deploy.sh"
    fi
    # The defaults, plus the SMTP relay the chart requires (the pod spec does not depend on it).
    "$HELM" template up charts/user-platform --set mailService.smtp.host=smtp.example.com >"$WORK/chart.yaml"
    DOCKER=$DOCKER "$DEPLOY_PYTHON" "$SCRIPT_DIR/check_pod_spec.py" "$WORK/chart.yaml" "$WORK/pod-spec.env" \
        "user-service=user-platform/user-service:$TAG" "mail-service=user-platform/mail-service:$TAG"
    # shellcheck disable=SC1091
    . "$WORK/pod-spec.env"
}

# The wanted port when nothing listens on it, else one the kernel picks.
port_for() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    s.close()
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
print(s.getsockname()[1])
PY
}

# The chart's securityContext and limits as docker run flags (values from check_pod_spec.py).
pod_flags() {
    local user=$1 memory=$2
    printf '%s\n' --network host --read-only --user "$user" --cap-drop ALL \
        --security-opt no-new-privileges --memory "$memory" --memory-swap "$memory"
}

stack_env() {
    SMTP_PORT=${SMTP_PORT:-2525}
    AMQP="amqp://guest:guest@127.0.0.1:${AMQP_PORT:-5672}/%2f"
    REDIS="redis://127.0.0.1:${REDIS_PORT:-6379}"
    MONGO="mongodb://127.0.0.1:${MONGO_PORT:-27017}/?directConnection=true"
}

run_user_service() {
    local name=$1 http=$2 admin=$3 flags
    shift 3
    mapfile -t flags < <(pod_flags "$USER_SERVICE_USER" "$USER_SERVICE_MEMORY")
    "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true  # left by an interrupted run
    containers+=("$name")
    "$DOCKER" run -d --name "$name" "${flags[@]}" \
        -e RUST_LOG=info -e AMQP_URL="$AMQP" -e REDIS_URL="$REDIS" -e REDIS_KEY_PREFIX="$PREFIX:" \
        -e EMAIL_QUEUE="$PREFIX.email" -e EVENTS_EXCHANGE="$PREFIX.events" \
        -e MONGODB_URI="$MONGO" -e MONGODB_DATABASE="${PREFIX//-/_}" \
        -e HTTP_ADDR="127.0.0.1:$http" -e ADMIN_ADDR="127.0.0.1:$admin" \
        -e PUBLIC_URL="http://localhost:$http" -e SHUTDOWN_TIMEOUT="${USER_SERVICE_SHUTDOWN_TIMEOUT}s" \
        "$@" "user-platform/user-service:$TAG" >/dev/null
}

run_mail_service() {
    local name=$1 admin=$2 origin=$3 flags
    shift 3
    mapfile -t flags < <(pod_flags "$MAIL_SERVICE_USER" "$MAIL_SERVICE_MEMORY")
    "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true  # left by an interrupted run
    containers+=("$name")
    "$DOCKER" run -d --name "$name" "${flags[@]}" \
        -e RUST_LOG=info -e AMQP_URL="$AMQP" -e REDIS_URL="$REDIS" -e REDIS_KEY_PREFIX="$PREFIX:" \
        -e EMAIL_QUEUE="$PREFIX.email" -e ADMIN_ADDR="127.0.0.1:$admin" \
        -e SMTP_HOST=127.0.0.1 -e SMTP_PORT="$SMTP_PORT" -e SMTP_TLS=none \
        -e MAIL_FROM="User Platform <no-reply@localhost>" -e ALLOWED_LINK_ORIGINS="$origin" \
        -e SHUTDOWN_TIMEOUT="${MAIL_SERVICE_SHUTDOWN_TIMEOUT}s" \
        "$@" "user-platform/mail-service:$TAG" >/dev/null
}

# Seconds from `docker run` to /readyz 200, then the resident memory of the process.
wait_ready() {
    local name=$1 url=$2 t0=$3
    if ! python3 "$SCRIPT_DIR/container_flow.py" ready "$url" 60 >/dev/null; then
        "$DOCKER" logs "$name" 2>&1 | tail -n 30 >&2
        die "$name did not become ready"
    fi
    local ready started
    ready=$(now_ms)
    started=$(date -d "$("$DOCKER" inspect -f '{{.State.StartedAt}}' "$name")" +%s%3N)
    figure "$name: ready $(awk -v d=$((ready - t0)) 'BEGIN { printf "%.2f", d / 1000 }') s after docker run," \
        "$(awk -v d=$((ready - started)) 'BEGIN { printf "%.2f", d / 1000 }') s after the process started"
}

idle_rss() {
    local name=$1 pid
    pid=$("$DOCKER" inspect -f '{{.State.Pid}}' "$name")
    figure "$name: idle RSS $(awk '/^VmRSS/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$pid/status")," \
        "container memory $("$DOCKER" stats --no-stream --format '{{.MemUsage}}' "$name")"
}

# Waits for the container to exit; fails unless it exits 0 within its SHUTDOWN_TIMEOUT.
expect_clean_exit() {
    local name=$1 limit=$2 t0=$3 code took
    code=$(timeout "$((limit + 10))" "$DOCKER" wait "$name") || die "$name still running $((limit + 10)) s after SIGTERM"
    took=$(awk -v d=$(($(now_ms) - t0)) 'BEGIN { printf "%.2f", d / 1000 }')
    [ "$code" = 0 ] || { "$DOCKER" logs "$name" 2>&1 | tail -n 20 >&2; die "$name exited $code after SIGTERM"; }
    awk -v t="$took" -v l="$limit" 'BEGIN { exit !(t <= l) }' ||
        die "$name took $took s, more than SHUTDOWN_TIMEOUT $limit s"
    figure "$name: SIGTERM -> exit 0 in $took s (SHUTDOWN_TIMEOUT ${limit}s)"
}

# A bad variable next to secrets: exit 2, the variable named in docker logs, neither the bad
# value nor a secret in them.
bad_environment() {
    local svc=$1 admin=$2 name code logs canary secret
    canary="canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    secret="secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    name=$PREFIX-bad-$svc
    if [ "$svc" = user-service ]; then
        set -- RATE_LIMIT_LOGIN_IP
        run_user_service "$name" "$(port_for 0)" "$admin" -e RATE_LIMIT_LOGIN_IP="$canary" \
            -e MONGODB_URI="mongodb://admin:$secret@127.0.0.1:${MONGO_PORT:-27017}/?directConnection=true"
    else
        set -- SMTP_PORT
        run_mail_service "$name" "$admin" "http://localhost:8080" -e SMTP_PORT="$canary" \
            -e AMQP_URL="amqp://guest:$secret@127.0.0.1:${AMQP_PORT:-5672}/%2f"
    fi
    code=$(timeout 30 "$DOCKER" wait "$name") || die "$svc with a bad $1 did not exit within 30 s"
    logs=$("$DOCKER" logs "$name" 2>&1)
    [ "$code" = 2 ] || { printf '%s\n' "$logs" >&2; die "$svc with a bad $1 exited $code, expected 2"; }
    grep -q "$1" <<<"$logs" || { printf '%s\n' "$logs" >&2; die "$svc: docker logs do not name $1"; }
    if grep -q -e "$canary" -e "$secret" <<<"$logs"; then die "$svc: a value of the environment is in docker logs"; fi
    figure "$svc: bad $1 -> exit 2; docker logs: $(grep -m 1 "$1" <<<"$logs" | cut -c1-200)"
    "$DOCKER" rm "$name" >/dev/null
}

test_containers() {
    "$SCRIPT_DIR/services.sh" start
    stack_env
    local maildir http admin mail_admin t0 api
    maildir=$("$SCRIPT_DIR/services.sh" maildir)
    http=${IMAGES_USER_HTTP_PORT:-$(port_for "$USER_SERVICE_HTTP_PORT")}
    admin=${IMAGES_USER_ADMIN_PORT:-$(port_for "$USER_SERVICE_ADMIN_PORT")}
    mail_admin=${IMAGES_MAIL_ADMIN_PORT:-$(port_for "$MAIL_SERVICE_ADMIN_PORT")}
    figure "ports: user-service http $http admin $admin, mail-service admin $mail_admin" \
        "(chart: $USER_SERVICE_HTTP_PORT, $USER_SERVICE_ADMIN_PORT, $MAIL_SERVICE_ADMIN_PORT)"
    api=http://127.0.0.1:$http

    t0=$(now_ms)
    run_mail_service "$PREFIX-mail" "$mail_admin" "http://localhost:$http"
    wait_ready "$PREFIX-mail" "http://127.0.0.1:$mail_admin/readyz" "$t0"
    t0=$(now_ms)
    run_user_service "$PREFIX-user" "$http" "$admin"
    wait_ready "$PREFIX-user" "http://127.0.0.1:$admin/readyz" "$t0"
    python3 "$SCRIPT_DIR/container_flow.py" admin "http://127.0.0.1:$admin"
    python3 "$SCRIPT_DIR/container_flow.py" admin "http://127.0.0.1:$mail_admin"
    sleep 3
    idle_rss "$PREFIX-user"
    idle_rss "$PREFIX-mail"
    python3 "$SCRIPT_DIR/container_flow.py" signup "$api" "$maildir"

    t0=$(now_ms)
    python3 "$SCRIPT_DIR/container_flow.py" drain "$api" "http://127.0.0.1:$admin" "$PREFIX-user"
    expect_clean_exit "$PREFIX-user" "$USER_SERVICE_SHUTDOWN_TIMEOUT" "$t0"
    t0=$(now_ms)
    python3 "$SCRIPT_DIR/container_flow.py" watch-drain "http://127.0.0.1:$mail_admin" "$PREFIX-mail"
    expect_clean_exit "$PREFIX-mail" "$MAIL_SERVICE_SHUTDOWN_TIMEOUT" "$t0"
    "$DOCKER" rm "$PREFIX-user" "$PREFIX-mail" >/dev/null

    bad_environment user-service "$admin"
    bad_environment mail-service "$mail_admin"
}
