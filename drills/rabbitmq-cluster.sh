#!/usr/bin/env bash
# Drill: one node of a three-node RabbitMQ cluster stopped (issue 27, item 9), without
# Kubernetes or containers. Starts three nodes of the local rabbitmq-server (Debian's package)
# in a temporary directory: AMQP on 127.0.0.1:$PORT_BASE+1..3, distribution on $DIST_BASE+1..3,
# the host's epmd, a shared Erlang cookie. Then runs the mail-service's retry-queue tests
# (services/mail-service/tests/retry_queues.rs) against node 1:
#   1. node 3 stopped: quorum retry queues are declared with two of three replicas up, delay
#      and hand back messages like classic ones, and a refused declaration stops no delivery;
#   2. node 3 back, classic retry queues homed on it, node 3 stopped again (the failure of
#      classic retry queues in a cluster): the service still delivers, counts the failed
#      declarations, and once node 3 returns declares the queues and retries, unrestarted.
# Needs rabbitmq-server, cargo, and scripts/services.sh's Redis and SMTP capture server.
# The nodes are stopped and the directory removed on exit.
#
# Usage: drills/rabbitmq-cluster.sh
#        drills/rabbitmq-cluster.sh node-start N | node-stop N   (with DRILL_DIR set; the tests
#        call these to stop and start node 3)
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
PORT_BASE=${DRILL_PORT_BASE:-5680}
DIST_BASE=${DRILL_DIST_BASE:-25680}
# Debian's scripts behind the /usr/sbin wrappers (which switch to the rabbitmq user and drop
# the environment this drill sets).
RMQ_BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}

node_env() {
    local i=$1
    export HOME="$DRILL_DIR/home" RABBITMQ_CONF_ENV_FILE="$DRILL_DIR/env.conf"
    export RABBITMQ_NODENAME="drill$i@localhost" RABBITMQ_NODE_PORT=$((PORT_BASE + i))
    export RABBITMQ_DIST_PORT=$((DIST_BASE + i)) RABBITMQ_CONFIG_FILE="$DRILL_DIR/n$i/rabbitmq.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$DRILL_DIR/plugins"
    export RABBITMQ_MNESIA_BASE="$DRILL_DIR/n$i/mnesia" RABBITMQ_LOG_BASE="$DRILL_DIR/n$i/log"
    export RABBITMQ_PID_FILE="$DRILL_DIR/n$i/pid" ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

ctl() { local i=$1; shift; (node_env "$i"; timeout 120 "$RMQ_BIN/rabbitmqctl" -n "drill$i@localhost" "$@"); }

node_start() {
    local i=$1
    mkdir -p "$DRILL_DIR/n$i"
    printf 'listeners.tcp.local = 127.0.0.1:%s\n' $((PORT_BASE + i)) >"$DRILL_DIR/n$i/rabbitmq.conf"
    (node_env "$i"; setsid "$RMQ_BIN/rabbitmq-server" >>"$DRILL_DIR/n$i/stdout" 2>&1 &)
    # await_startup needs a node registered with epmd: wait for the Erlang VM first.
    local tries=0
    until ctl "$i" -q ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 60 ] || { echo "node drill$i did not start:" >&2; tail -20 "$DRILL_DIR/n$i/stdout" >&2; return 1; }
        sleep 1
    done
    ctl "$i" await_startup >/dev/null
}

node_stop() { ctl "$1" stop >/dev/null; }

case "${1:-}" in
    node-start) node_start "$2"; exit ;;
    node-stop) node_stop "$2"; exit ;;
esac

[ -x "$RMQ_BIN/rabbitmq-server" ] || { echo "no rabbitmq-server in $RMQ_BIN (set RABBITMQ_BIN)" >&2; exit 1; }
for i in 1 2 3; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$((PORT_BASE + i))") 2>/dev/null; then
        echo "port $((PORT_BASE + i)) is taken (set DRILL_PORT_BASE)" >&2; exit 1
    fi
done
DRILL_DIR=$(mktemp -d)
export DRILL_DIR
cleanup() {
    for i in 3 2 1; do ctl "$i" stop >/dev/null 2>&1 || true; done
    rm -rf "$DRILL_DIR"
}
trap cleanup EXIT
mkdir -p "$DRILL_DIR/home"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DRILL_DIR/home/.erlang.cookie"
chmod 400 "$DRILL_DIR/home/.erlang.cookie"
: >"$DRILL_DIR/env.conf"
echo '[].' >"$DRILL_DIR/plugins"

scripts/services.sh start >/dev/null
echo "==> starting three nodes on 127.0.0.1:$((PORT_BASE + 1))-$((PORT_BASE + 3))"
for i in 1 2 3; do node_start "$i"; done
for i in 2 3; do
    ctl "$i" stop_app >/dev/null
    ctl "$i" join_cluster drill1@localhost >/dev/null
    ctl "$i" start_app >/dev/null
done
ctl 1 cluster_status --formatter json | python3 -c \
    'import json,sys; s=json.load(sys.stdin); r=s["running_nodes"]; assert len(r)==3, r; print("    running:", *sorted(r))'

export AMQP_URL="amqp://guest:guest@127.0.0.1:$((PORT_BASE + 1))/%2f"
export SMTP_SINK_MAILDIR=${SMTP_SINK_MAILDIR:-$(scripts/services.sh maildir)}
tests=(cargo test --locked -p mail-service --test retry_queues --)

echo "==> 1. node 3 stopped: quorum retry queues"
node_stop 3
"${tests[@]}" --exact quorum_retry_queues_delay_and_hand_back_like_classic_ones \
    a_refused_retry_declaration_neither_stops_delivery_nor_lasts
node_start 3

echo "==> 2. classic retry queues on node 3, node 3 stopped and started again"
export DRILL_OTHER_NODE_URL="amqp://guest:guest@127.0.0.1:$((PORT_BASE + 3))/%2f"
# The tests run in the crate's directory: the script by its absolute path.
self="$PWD/drills/rabbitmq-cluster.sh"
export DRILL_STOP_OTHER_NODE="'$self' node-stop 3" DRILL_START_OTHER_NODE="'$self' node-start 3"
"${tests[@]}" --exact --ignored drill_classic_retry_queues_on_a_stopped_node

echo "rabbitmq-cluster drill: passed (quorum retry queues with a node down; classic ones no longer stop delivery)"
