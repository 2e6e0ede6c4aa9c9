#!/usr/bin/env bash
# Dependency services for local development and CI, all on loopback:
#
#   redis     127.0.0.1:$REDIS_PORT (6379)   redis://127.0.0.1:6379
#   rabbitmq  127.0.0.1:$AMQP_PORT  (5672)   amqp://guest:guest@127.0.0.1:5672/%2f
#   mongo     127.0.0.1:$MONGO_PORT (27017)  mongodb://127.0.0.1:27017/?directConnection=true
#             (SecantusDB, a MongoDB wire-compatible server on WiredTiger)
#   smtp      127.0.0.1:$SMTP_PORT  (2525)   capture server, see scripts/smtp_sink.py;
#             messages land in $RUN_DIR/maildir/new/
#
# Usage: scripts/services.sh [start|stop|status|maildir] [SERVICE...]
#   start   (default) Install whatever is missing (apt, and a Python venv for
#           mongo/smtp), start every service that is not already answering,
#           then wait until each answers. Idempotent and non-interactive; a
#           second run is a quick no-op.
#   stop    Without SERVICE: stop mongo and smtp, and redis/rabbitmq only if
#           this script started them. Naming redis or rabbitmq stops it even
#           when something else started it.
#   status  Show whether each service answers; exits 1 if any does not.
#   maildir Print the Maildir the SMTP capture server on $SMTP_PORT writes to.
#
# SERVICE is any of: redis rabbitmq mongo smtp (default, or "all": every one,
# with stop's caution above).
#
# Environment:
#   RUN_DIR     state dir (venv, data, pid files, logs); default <repo>/.run
#   REDIS_PORT  AMQP_PORT  MONGO_PORT  SMTP_PORT   ports, defaults above
#               (AMQP_PORT reaches RabbitMQ as RABBITMQ_NODE_PORT, which a
#               listeners.tcp line in rabbitmq.conf overrides; use a separate
#               RUN_DIR for each set of ports)
#   WAIT_SECS   how long to wait for each service to answer (default 60)
#   PYTHON      interpreter used to create the venv (default python3, >= 3.11)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)

HOST=127.0.0.1
REDIS_PORT=${REDIS_PORT:-6379}
AMQP_PORT=${AMQP_PORT:-5672}
MONGO_PORT=${MONGO_PORT:-27017}
SMTP_PORT=${SMTP_PORT:-2525}
WAIT_SECS=${WAIT_SECS:-60}
PYTHON=${PYTHON:-python3}

RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
# The daemons run from RUN_DIR, so a relative path would resolve differently.
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
LOG_DIR=$RUN_DIR/logs
VENV=$RUN_DIR/venv
REQUIREMENTS=$SCRIPT_DIR/requirements-services.txt
MONGO_DATA=$RUN_DIR/mongo-data
MAILDIR=$RUN_DIR/maildir

ALL_SERVICES=(redis rabbitmq mongo smtp)

say() { printf '[services] %s\n' "$*"; }
die() {
    printf '[services] ERROR: %s\n' "$1" >&2
    shift
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        printf -- '--- last 40 lines of %s\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
    exit 1
}

# ---------------------------------------------------------------- installing

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        # -n: never prompt; CI has no stdin.
        sudo -n "$@"
    else
        die "need root or passwordless sudo to run: $*"
    fi
}

APT_UPDATED=
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these by hand: $*"
    mkdir -p "$LOG_DIR"
    local log=$LOG_DIR/apt.log
    say "installing $* with apt-get (log: $log)"
    # A fresh image has empty package lists; update once per run, only when needed.
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >>"$log" 2>&1 ||
            die "apt-get update failed" "$log"
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" </dev/null >>"$log" 2>&1 ||
        die "apt-get install $* failed" "$log"
}

ensure_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3 python3-venv
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "$PYTHON is older than 3.11; the pinned wheels in $REQUIREMENTS need 3.11+ (set PYTHON=...)"
}

venv_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c '' 2>/dev/null; }

ensure_venv() {
    local stamp=$VENV/.requirements.sha256 want
    want=$(sha256sum <"$REQUIREMENTS" | cut -d' ' -f1)
    if venv_ok && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    mkdir -p "$LOG_DIR"
    local log=$LOG_DIR/pip.log
    if ! venv_ok; then
        ensure_python
        rm -rf "$VENV"
        say "creating Python venv $VENV"
        # Debian's python3 ships the venv module without ensurepip; that
        # half-creates the venv and fails, and python3-venv fixes it.
        if ! "$PYTHON" -m venv "$VENV" >>"$log" 2>&1; then
            rm -rf "$VENV"
            apt_install python3-venv
            "$PYTHON" -m venv "$VENV" >>"$log" 2>&1 || die "python3 -m venv failed" "$log"
        fi
    fi
    say "installing pinned Python packages into the venv (log: $log)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$REQUIREMENTS" >>"$log" 2>&1 || die "pip install failed" "$log"
    echo "$want" >"$stamp"
}

# ------------------------------------------------------------------- probes
# Each probe exits 0 and prints a version when the service answers its own
# protocol; an open port alone is not enough (RabbitMQ and Mongo both accept
# TCP a little before they can serve).

probe_redis() {
    local pong
    pong=$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) || return 1
    [ "$pong" = PONG ] || return 1
    timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" info server 2>/dev/null |
        sed -n 's/^redis_version:\([0-9.]*\).*/Redis \1/p'
}

# Stdlib-only where possible so status works before the venv exists.
py_probe() {
    local py=$PYTHON
    [ -x "$VENV/bin/python" ] && py=$VENV/bin/python
    command -v "$py" >/dev/null 2>&1 || return 1
    timeout 10 "$py" - "$@" 2>/dev/null <<'PY'
import os
import socket
import sys

kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


def recv_until(sock, n, buf=b""):
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(1)
        buf += chunk
    return buf


if kind == "amqp":
    # Send the AMQP 0-9-1 header; the broker answers with Connection.Start,
    # whose server-properties carry its version.
    with socket.create_connection((host, port), timeout=3) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        buf = recv_until(s, 7)
        if buf[0] != 1:
            sys.exit(1)
        buf = recv_until(s, 8 + int.from_bytes(buf[3:7], "big"), buf)
    key = b"\x07versionS"
    i = buf.find(key)
    version = "?"
    if i >= 0:
        j = i + len(key)
        version = buf[j + 4 : j + 4 + int.from_bytes(buf[j : j + 4], "big")].decode()
    print("RabbitMQ " + version)
elif kind == "smtp":
    with socket.create_connection((host, port), timeout=3) as s:
        banner = s.makefile("rb").readline().decode(errors="replace").strip()
        if not banner.startswith("220"):
            sys.exit(1)
        s.sendall(b"QUIT\r\n")
    print(banner[4:])
elif kind == "mongo":
    from importlib.metadata import version

    from pymongo import MongoClient

    client = MongoClient(
        host, port, directConnection=True, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000
    )
    client.admin.command("ping")
    reported = client.admin.command("buildInfo").get("version", "?")
    try:
        server = "SecantusDB " + version("secantusdb")
    except Exception:
        server = "server"
    print(f"{server}, reports MongoDB {reported}", flush=True)
    # Skip the client's shutdown (endSessions, monitor threads): it costs
    # ~0.6 s and the probe runs on every start and status.
    os._exit(0)
PY
}

probe_rabbitmq() { py_probe amqp "$HOST" "$AMQP_PORT"; }
probe_mongo() { py_probe mongo "$HOST" "$MONGO_PORT"; }
probe_smtp() { py_probe smtp "$HOST" "$SMTP_PORT"; }

port_of() {
    case $1 in
    redis) echo "$REDIS_PORT" ;;
    rabbitmq) echo "$AMQP_PORT" ;;
    mongo) echo "$MONGO_PORT" ;;
    smtp) echo "$SMTP_PORT" ;;
    esac
}

# -------------------------------------------------- processes we launch

# Substring of the command line, so a pid file left by a crash is never
# trusted once the kernel has handed that pid to something else.
marker_of() {
    case $1 in
    redis) echo redis-server ;;
    mongo) echo secantusd-py ;;
    smtp) echo smtp_sink.py ;;
    esac
}

# Prints the pid recorded for $1 if that process is alive and is ours.
live_pid() {
    local pidfile=$RUN_DIR/$1.pid pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$(marker_of "$1")" || return 1
    echo "$pid"
}

# Start "$@" detached from this shell and its terminal (CI waits for every
# process holding its stdout, and a terminal hangup would kill it), with
# its pid in $RUN_DIR/$name.pid and its output in $LOG_DIR/$name.log.
launch() {
    local name=$1
    shift
    local pidfile=$RUN_DIR/$name.pid
    rm -f "$pidfile"
    # setsid forks only sometimes, so $! is not reliably the daemon's pid;
    # the inner sh records its own pid and execs, keeping that pid.
    (cd "$RUN_DIR" && exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        >>"$LOG_DIR/$name.log" 2>&1 </dev/null) &
}

# ------------------------------------------------------------------- start

declare -A LAUNCHED=() ALREADY_UP=()

# True if $1 answers now; remembers its version so the wait needs no re-probe.
already_up() {
    local version
    version=$("probe_$1") || return 1
    ALREADY_UP[$1]=$version
}

launch_redis() {
    already_up redis && return 0
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    # The package's own service may have come up during the install.
    probe_redis >/dev/null && return 0
    mkdir -p "$RUN_DIR/redis"
    say "redis: starting on $HOST:$REDIS_PORT"
    # No persistence: tests want a clean, fast cache. "-::1" binds IPv6
    # loopback only where the machine has it.
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
        --save "" --appendonly no --dir "$RUN_DIR/redis" \
        --logfile "$LOG_DIR/redis.log" --pidfile "$RUN_DIR/redis.pid" </dev/null ||
        die "redis-server failed to start" "$LOG_DIR/redis.log"
    LAUNCHED[redis]=1
}

rabbitmq_log_files() {
    printf '%s\n' "$LOG_DIR/rabbitmq.log"
    ls -t /var/log/rabbitmq/*.log 2>/dev/null | head -n 1 || true
}

launch_rabbitmq() {
    already_up rabbitmq && return 0
    command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
    probe_rabbitmq >/dev/null && return 0
    say "rabbitmq: starting on $HOST:$AMQP_PORT"
    # A stock install listens on every interface; keep AMQP, epmd and the
    # Erlang distribution port on loopback unless the caller says otherwise.
    # Its exit status is not trusted: if the packaged service is still
    # booting from the install it fails with "already running", and the
    # wait below is what decides.
    RABBITMQ_NODE_IP_ADDRESS=${RABBITMQ_NODE_IP_ADDRESS:-$HOST} \
        RABBITMQ_NODE_PORT=${RABBITMQ_NODE_PORT:-$AMQP_PORT} \
        ERL_EPMD_ADDRESS=${ERL_EPMD_ADDRESS:-$HOST} \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-"-kernel inet_dist_use_interface {127,0,0,1}"} \
        rabbitmq-server -detached </dev/null >>"$LOG_DIR/rabbitmq.log" 2>&1 || true
    touch "$RUN_DIR/rabbitmq.started"
    LAUNCHED[rabbitmq]=1
}

launch_mongo() {
    already_up mongo && return 0
    if live_pid mongo >/dev/null; then return 0; fi # an earlier start is still booting
    mkdir -p "$MONGO_DATA"
    # Naming a config turns off secantusd's auto-discovery of ./secantusd.toml
    # and ~/.secantus/, so nothing outside the repo changes how it runs.
    local conf=$RUN_DIR/secantusd.toml
    [ -f "$conf" ] || printf '# Intentionally empty; flags come from scripts/services.sh.\n' >"$conf"
    say "mongo: starting SecantusDB on $HOST:$MONGO_PORT (data: $MONGO_DATA)"
    launch mongo "$VENV/bin/secantusd-py" --config "$conf" \
        --host "$HOST" --port "$MONGO_PORT" --storage-path "$MONGO_DATA"
    LAUNCHED[mongo]=1
}

launch_smtp() {
    already_up smtp && return 0
    if live_pid smtp >/dev/null; then return 0; fi
    say "smtp: starting capture server on $HOST:$SMTP_PORT (maildir: $MAILDIR)"
    launch smtp "$VENV/bin/python" "$SCRIPT_DIR/smtp_sink.py" \
        --host "$HOST" --port "$SMTP_PORT" --maildir "$MAILDIR"
    LAUNCHED[smtp]=1
}

service_logs() {
    if [ "$1" = rabbitmq ]; then rabbitmq_log_files; else echo "$LOG_DIR/$1.log"; fi
}

# Poll until the service answers; fail early if the process we launched died.
wait_for() {
    local svc=$1 deadline=$((SECONDS + WAIT_SECS)) version
    local -a logs
    if [ -n "${ALREADY_UP[$svc]:-}" ]; then
        say "$svc: already up on $HOST:$(port_of "$svc") (${ALREADY_UP[$svc]})"
        return 0
    fi
    while :; do
        if version=$("probe_$svc"); then
            say "$svc: up on $HOST:$(port_of "$svc") ($version)"
            return 0
        fi
        # Redis writes its pid file a moment after daemonizing; until then
        # there is nothing to check.
        if [ -n "${LAUNCHED[$svc]:-}" ] && [ "$svc" != rabbitmq ] && [ -s "$RUN_DIR/$svc.pid" ] &&
            ! live_pid "$svc" >/dev/null; then
            mapfile -t logs < <(service_logs "$svc")
            die "$svc exited during startup" "${logs[@]}"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            # Read the log list only now: a node's own log appears during boot.
            mapfile -t logs < <(service_logs "$svc")
            die "$svc did not answer on $HOST:$(port_of "$svc") within ${WAIT_SECS}s" "${logs[@]}"
        fi
        sleep 0.5
    done
}

cmd_start() {
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    local svc
    # Launch everything first and wait afterwards: RabbitMQ's boot then
    # overlaps with building the venv.
    for svc in "$@"; do
        case $svc in
        redis | rabbitmq) "launch_$svc" ;;
        esac
    done
    for svc in "$@"; do
        case $svc in
        mongo | smtp)
            ensure_venv
            "launch_$svc"
            ;;
        esac
    done
    for svc in "$@"; do wait_for "$svc"; done
    say "all requested services answer (state: $RUN_DIR)"
}

# -------------------------------------------------------------------- stop

stop_pid_service() {
    local svc=$1 pid i
    if ! pid=$(live_pid "$svc"); then
        say "$svc: not running from $RUN_DIR/$svc.pid"
        rm -f "$RUN_DIR/$svc.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    # SecantusDB takes a few seconds to close WiredTiger cleanly.
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$svc: pid $pid ignored SIGTERM for 20s; killing"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$svc.pid"
    say "$svc: stopped (pid $pid)"
}

# Prints the pid of the redis answering on REDIS_PORT if this script started
# it; the pid file alone could belong to a redis on another port.
own_redis_pid() {
    local pid served
    pid=$(live_pid redis) || return 1
    served=$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" info server 2>/dev/null |
        sed -n 's/^process_id:\([0-9]*\).*/\1/p')
    [ "$pid" = "$served" ] || return 1
    echo "$pid"
}

stop_redis() {
    local explicit=$1 i
    if [ "$explicit" != 1 ] && ! own_redis_pid >/dev/null; then
        probe_redis >/dev/null && say "redis: left running (not started by this script; use 'stop redis')"
        return 0
    fi
    if ! probe_redis >/dev/null; then
        say "redis: not running on $HOST:$REDIS_PORT"
        return 0
    fi
    own_redis_pid >/dev/null || say "redis: stopping $HOST:$REDIS_PORT although this script did not start it (asked by name)"
    timeout 10 redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    for ((i = 0; i < 20; i++)); do
        probe_redis >/dev/null || break
        sleep 0.5
    done
    own_redis_pid >/dev/null || rm -f "$RUN_DIR/redis.pid"
    say "redis: stopped"
}

stop_rabbitmq() {
    local explicit=$1
    if [ "$explicit" != 1 ] && [ ! -f "$RUN_DIR/rabbitmq.started" ]; then
        probe_rabbitmq >/dev/null && say "rabbitmq: left running (not started by this script; use 'stop rabbitmq')"
        return 0
    fi
    if ! probe_rabbitmq >/dev/null; then
        say "rabbitmq: not running on $HOST:$AMQP_PORT"
    else
        [ -f "$RUN_DIR/rabbitmq.started" ] ||
            say "rabbitmq: stopping $HOST:$AMQP_PORT although this script did not start it (asked by name)"
        # rabbitmqctl stop returns once the node has shut down.
        timeout 60 rabbitmqctl stop </dev/null >/dev/null 2>&1 || say "rabbitmq: rabbitmqctl stop failed"
        say "rabbitmq: stopped"
    fi
    rm -f "$RUN_DIR/rabbitmq.started"
}

cmd_stop() {
    local explicit=0 svc
    [ "$EXPLICIT_SERVICES" = 1 ] && explicit=1
    for svc in "$@"; do
        case $svc in
        redis | rabbitmq) "stop_$svc" "$explicit" ;;
        mongo | smtp) stop_pid_service "$svc" ;;
        esac
    done
}

# ------------------------------------------------------------------ status

cmd_status() {
    local rc=0 svc version origin pid
    for svc in "$@"; do
        origin=external
        case $svc in
        rabbitmq) [ -f "$RUN_DIR/rabbitmq.started" ] && origin="started by this script" ;;
        redis) pid=$(own_redis_pid) && origin="started by this script, pid $pid" ;;
        *) pid=$(live_pid "$svc") && origin="started by this script, pid $pid" ;;
        esac
        if version=$("probe_$svc"); then
            printf '%-9s up    %s:%-5s  %s (%s)\n' "$svc" "$HOST" "$(port_of "$svc")" "$version" "$origin"
        else
            printf '%-9s DOWN  %s:%-5s\n' "$svc" "$HOST" "$(port_of "$svc")"
            rc=1
        fi
    done
    return "$rc"
}

# ----------------------------------------------------------------- maildir

# Where the SMTP server answering on $SMTP_PORT writes, which is not ours when another
# checkout's sink was already running: tests must read that one.
cmd_maildir() {
    if live_pid smtp >/dev/null; then
        echo "$MAILDIR"
        return
    fi
    local args dir
    args=$(pgrep -af "smtp_sink\.py" | grep -E -- "--port $SMTP_PORT( |\$)" | head -n 1 || true)
    dir=$(printf '%s\n' "$args" | sed -nE 's/.*--maildir ([^ ]+).*/\1/p')
    if [ -n "$dir" ]; then
        echo "$dir"
    else
        echo "$MAILDIR"
    fi
}

# -------------------------------------------------------------------- main

main() {
    local cmd=${1:-start}
    [ $# -gt 0 ] && shift
    local -a services=()
    local svc
    EXPLICIT_SERVICES=0
    for svc in "$@"; do
        case $svc in
        redis | mongo | smtp) services+=("$svc") ;;
        rabbitmq | rabbit | amqp) services+=(rabbitmq) ;;
        # "all" is the default set, not a request to stop what others started.
        all) continue ;;
        *) die "unknown service '$svc' (expected: ${ALL_SERVICES[*]} all)" ;;
        esac
        EXPLICIT_SERVICES=1
    done
    [ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")
    case $cmd in
    start) cmd_start "${services[@]}" ;;
    stop) cmd_stop "${services[@]}" ;;
    status) cmd_status "${services[@]}" ;;
    maildir) cmd_maildir ;;
    -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" ;;
    *) die "unknown command '$cmd' (expected: start, stop, status)" ;;
    esac
}

main "$@"
