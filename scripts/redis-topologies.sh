#!/usr/bin/env bash
# Redis topologies for the tests, on loopback ports, from Debian's redis-server (7.0; the
# sentinel is `redis-server --sentinel`), in $RUN_DIR/redis-topologies:
#
#   tls       one server, TLS only, client certificates required    127.0.0.1:6390
#   sentinel  TLS primary + 2 replicas (6391-6393), 3 sentinels (26391-26393, TLS),
#             master name "up-primary", passwords on the data nodes and the sentinels
#   cluster   6 nodes (7001-7006, TLS, a password): 3 primaries with one replica each, made
#             with `redis-cli --cluster create`
#
# A CA, a server certificate (127.0.0.1, localhost) and a client certificate are generated on
# first start (openssl). Every topology is started only if it does not answer yet: a second
# start is a quick no-op.
#
# Usage: scripts/redis-topologies.sh start [tls|sentinel|cluster|all]   (default all)
#        scripts/redis-topologies.sh stop
#        scripts/redis-topologies.sh env tls|sentinel|cluster
#            prints TEST_REDIS_* assignments for the API tests (services/user-service/tests),
#            and REDIS_* ones for a service, one per line
#        scripts/redis-topologies.sh cli tls|sentinel|cluster|sentinel-admin [ARGS...]
#            redis-cli with the topology's TLS and password options
#        scripts/redis-topologies.sh kill-primary sentinel|cluster [SIGNAL]
#            stops the current primary (of slot 0 for the cluster) with SIGNAL (default TERM:
#            Redis shuts down, first letting lagging replicas catch up; KILL: it just dies) and
#            prints its port
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
case $RUN_DIR in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac
DIR=$RUN_DIR/redis-topologies
HOST=127.0.0.1
TLS_PORT=6390
DATA_PORTS=(6391 6392 6393)
SENTINEL_PORTS=(26391 26392 26393)
CLUSTER_PORTS=(7001 7002 7003 7004 7005 7006)
MASTER=up-primary
# Test-only passwords of throw-away servers on loopback.
DATA_PASSWORD=topology-data-pw
SENTINEL_PASSWORD=topology-sentinel-pw

say() { printf '[redis-topologies] %s\n' "$*" >&2; }
die() { printf '[redis-topologies] ERROR: %s\n' "$*" >&2; exit 1; }

tls_client() { echo --tls --cacert "$DIR/ca.crt" --cert "$DIR/client.crt" --key "$DIR/client.key"; }
# shellcheck disable=SC2046
rcli() { local port=$1; shift; timeout 5 redis-cli -h "$HOST" -p "$port" $(tls_client) --no-auth-warning "$@"; }

certificates() {
    [ -f "$DIR/client.crt" ] && return 0
    command -v openssl >/dev/null || die "openssl is needed to make the test CA"
    mkdir -p "$DIR"
    say "generating a test CA and certificates in $DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=user-platform test CA" \
        -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
    local name
    for name in server client; do
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" \
            -keyout "$DIR/$name.key" -out "$DIR/$name.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n' \
            "$([ $name = server ] && echo serverAuth,clientAuth || echo clientAuth)" >"$DIR/$name.ext"
        openssl x509 -req -in "$DIR/$name.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
            -CAcreateserial -days 3650 -extfile "$DIR/$name.ext" -out "$DIR/$name.crt" 2>/dev/null
    done
    chmod 600 "$DIR"/*.key
}

# The TLS lines of a server: TLS only, with the test CA; $1 = yes|no (client certificates).
tls_conf() {
    cat <<CONF
port 0
tls-cert-file $DIR/server.crt
tls-key-file $DIR/server.key
tls-ca-cert-file $DIR/ca.crt
tls-auth-clients $1
tls-replication yes
CONF
}

# Starts a server from a config file unless its port answers. $1 = name, $2 = port.
launch() {
    local name=$1 port=$2 sentinel=${3:-}
    if rcli "$port" ${sentinel:+-a "$SENTINEL_PASSWORD"} ${sentinel:-${AUTH:+-a "$AUTH"}} ping 2>/dev/null | grep -q PONG; then
        return 0
    fi
    redis-server "$DIR/$name.conf" ${sentinel:+--sentinel} >/dev/null
}

wait_for() {
    local port=$1 i
    shift
    for i in $(seq 1 100); do
        rcli "$port" "$@" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    die "nothing answers on $HOST:$port (logs in $DIR)"
}

server_conf() {
    local name=$1 port=$2 auth_clients=$3
    mkdir -p "$DIR/$name"
    {
        tls_conf "$auth_clients"
        cat <<CONF
tls-port $port
bind $HOST
daemonize yes
dir $DIR/$name
pidfile $DIR/$name.pid
logfile $DIR/$name.log
save ""
appendonly no
maxmemory-policy noeviction
CONF
    } >"$DIR/$name.conf"
}

start_tls() {
    server_conf tls "$TLS_PORT" yes
    launch tls "$TLS_PORT"
    wait_for "$TLS_PORT"
}

start_sentinel() {
    local i port
    for i in 0 1 2; do
        port=${DATA_PORTS[$i]}
        server_conf "data-$port" "$port" no
        printf 'requirepass %s\nmasterauth %s\n' "$DATA_PASSWORD" "$DATA_PASSWORD" >>"$DIR/data-$port.conf"
        # Only a fresh replica is pointed at the first primary; after a failover the sentinels
        # have rewritten each config with the current one.
        [ "$i" = 0 ] || grep -q '^replicaof' "$DIR/data-$port.conf" ||
            echo "replicaof $HOST ${DATA_PORTS[0]}" >>"$DIR/data-$port.conf"
        AUTH=$DATA_PASSWORD launch "data-$port" "$port"
    done
    for port in "${SENTINEL_PORTS[@]}"; do
        if [ ! -f "$DIR/sentinel-$port.conf" ]; then
            mkdir -p "$DIR/sentinel-$port"
            {
                tls_conf no
                cat <<CONF
tls-port $port
bind $HOST
daemonize yes
dir $DIR/sentinel-$port
pidfile $DIR/sentinel-$port.pid
logfile $DIR/sentinel-$port.log
requirepass $SENTINEL_PASSWORD
sentinel monitor $MASTER $HOST ${DATA_PORTS[0]} 2
sentinel auth-pass $MASTER $DATA_PASSWORD
sentinel down-after-milliseconds $MASTER 2000
sentinel failover-timeout $MASTER 10000
CONF
            } >"$DIR/sentinel-$port.conf"
        fi
        launch "sentinel-$port" "$port" sentinel
    done
    for port in "${DATA_PORTS[@]}"; do wait_for "$port" -a "$DATA_PASSWORD"; done
    for port in "${SENTINEL_PORTS[@]}"; do wait_for "$port" -a "$SENTINEL_PASSWORD"; done
}

start_cluster() {
    local port
    for port in "${CLUSTER_PORTS[@]}"; do
        if [ ! -f "$DIR/cluster-$port.conf" ]; then
            server_conf "cluster-$port" "$port" no
            printf 'cluster-enabled yes\ntls-cluster yes\ncluster-node-timeout 2000\ncluster-config-file nodes.conf\nrequirepass %s\nmasterauth %s\n' \
                "$DATA_PASSWORD" "$DATA_PASSWORD" >>"$DIR/cluster-$port.conf"
        fi
        AUTH=$DATA_PASSWORD launch "cluster-$port" "$port"
    done
    for port in "${CLUSTER_PORTS[@]}"; do wait_for "$port" -a "$DATA_PASSWORD"; done
    if ! rcli "${CLUSTER_PORTS[0]}" -a "$DATA_PASSWORD" cluster info | grep -q 'cluster_state:ok'; then
        if ! rcli "${CLUSTER_PORTS[0]}" -a "$DATA_PASSWORD" cluster info | grep -q 'cluster_known_nodes:6'; then
            say "creating the cluster"
            # shellcheck disable=SC2046
            redis-cli $(tls_client) -a "$DATA_PASSWORD" --no-auth-warning --cluster create \
                $(printf "$HOST:%s " "${CLUSTER_PORTS[@]}") --cluster-replicas 1 --cluster-yes >"$DIR/cluster-create.log"
        fi
        local i
        for i in $(seq 1 100); do
            rcli "${CLUSTER_PORTS[0]}" -a "$DATA_PASSWORD" cluster info | grep -q 'cluster_state:ok' && return 0
            sleep 0.2
        done
        die "the cluster did not reach cluster_state:ok"
    fi
}

stop_all() {
    local pidfile
    for pidfile in "$DIR"/*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    # Next start begins from fresh replication and cluster state.
    rm -rf "$DIR"/data-* "$DIR"/sentinel-* "$DIR"/cluster-* "$DIR"/tls "$DIR"/tls.conf
    say "stopped"
}

print_env() {
    local prefix=$1 mode=$2
    case $mode in
    tls)
        echo "${prefix}REDIS_URL=rediss://$HOST:$TLS_PORT"
        ;;
    sentinel)
        echo "${prefix}REDIS_MODE=sentinel"
        echo "${prefix}REDIS_SENTINELS=$(printf "$HOST:%s," "${SENTINEL_PORTS[@]}" | sed 's/,$//')"
        echo "${prefix}REDIS_SENTINEL_MASTER=$MASTER"
        echo "${prefix}REDIS_SENTINEL_PASSWORD=$SENTINEL_PASSWORD"
        echo "${prefix}REDIS_PASSWORD=$DATA_PASSWORD"
        echo "${prefix}REDIS_TLS=true"
        ;;
    cluster)
        echo "${prefix}REDIS_MODE=cluster"
        echo "${prefix}REDIS_CLUSTER_NODES=$(printf "$HOST:%s," "${CLUSTER_PORTS[@]:0:3}" | sed 's/,$//')"
        echo "${prefix}REDIS_PASSWORD=$DATA_PASSWORD"
        echo "${prefix}REDIS_TLS=true"
        ;;
    *) die "unknown topology: $mode" ;;
    esac
    echo "${prefix}REDIS_CA_FILE=$DIR/ca.crt"
    if [ "$mode" = tls ]; then
        echo "${prefix}REDIS_CLIENT_CERT_FILE=$DIR/client.crt"
        echo "${prefix}REDIS_CLIENT_KEY_FILE=$DIR/client.key"
    fi
}

primary_port() {
    case $1 in
    sentinel) rcli "${SENTINEL_PORTS[0]}" -a "$SENTINEL_PASSWORD" sentinel get-master-addr-by-name "$MASTER" | sed -n 2p ;;
    cluster) rcli "${CLUSTER_PORTS[0]}" -a "$DATA_PASSWORD" cluster slots | awk 'NR == 1 && $1 == 0 { getline; getline; getline; print; exit }' ;;
    esac
}

command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
case ${1:-start} in
start)
    certificates
    what=${2:-all}
    case $what in tls | all) start_tls ;; esac
    case $what in sentinel | all) start_sentinel ;; esac
    case $what in cluster | all) start_cluster ;; esac
    say "up: $what"
    ;;
stop) stop_all ;;
env) print_env "${3-TEST_}" "${2:?topology}" ;;
cli)
    mode=${2:?topology}
    shift 2
    case $mode in
    tls) rcli "$TLS_PORT" "$@" ;;
    sentinel) rcli "$(primary_port sentinel)" -a "$DATA_PASSWORD" "$@" ;;
    sentinel-admin) rcli "${SENTINEL_PORTS[0]}" -a "$SENTINEL_PASSWORD" "$@" ;;
    cluster) rcli "${CLUSTER_PORTS[0]}" -a "$DATA_PASSWORD" -c "$@" ;;
    esac
    ;;
kill-primary)
    port=$(primary_port "${2:?sentinel or cluster}")
    [ -n "$port" ] || die "no primary found"
    pidfile=$DIR/$([ "$2" = sentinel ] && echo data || echo cluster)-$port.pid
    kill -s "${3:-TERM}" "$(cat "$pidfile")"
    echo "$port"
    ;;
*) die "usage: $0 start|stop|env|cli|kill-primary" ;;
esac
