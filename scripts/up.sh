#!/usr/bin/env bash
# Sets up and starts the whole system locally: the dependency services (MongoDB-compatible
# server, Redis, RabbitMQ, SMTP capture server), then both services built in release mode.
#
# Usage: scripts/up.sh [up|down|status] [--containers]
#   --containers  run both services as their images instead (scripts/images.sh up/down): built
#                 here from the Dockerfile on a local distroless-style base, on the host network,
#                 read-only, as user 65532, with the chart's memory limits; same ports
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
LOG_DIR=$RUN_DIR/logs
cd "$REPO_ROOT"
# shellcheck source=scripts/toolchain.sh
. "$SCRIPT_DIR/toolchain.sh"

USER_HTTP=${USER_HTTP:-127.0.0.1:8080}
# The hosted pages' origin as the browser sees it (the email links point there).
PUBLIC_URL=${PUBLIC_URL:-http://localhost:${USER_HTTP##*:}}
USER_ADMIN=${USER_ADMIN:-127.0.0.1:9090}
MAIL_ADMIN=${MAIL_ADMIN:-127.0.0.1:9091}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_one() {
  local name=$1 pidfile=$RUN_DIR/$1.pid
  if pid_alive "$pidfile"; then
    kill -TERM "$(cat "$pidfile")"
    for _ in $(seq 1 60); do pid_alive "$pidfile" || break; sleep 0.5; done
    echo "stopped $name"
  fi
  rm -f "$pidfile"
}

start_one() {
  local name=$1; shift
  local pidfile=$RUN_DIR/$name.pid
  if pid_alive "$pidfile"; then
    echo "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  mkdir -p "$LOG_DIR"
  env "$@" setsid "$REPO_ROOT/target/release/$name" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

wait_ready() {
  local name=$1 url=$2
  for _ in $(seq 1 120); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$url" 2>/dev/null; then
      echo "$name ready"
      return
    fi
    if ! pid_alive "$RUN_DIR/$name.pid"; then
      echo "error: $name exited; last log lines:" >&2
      tail -n 30 "$LOG_DIR/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "error: $name not ready after 60 s; see $LOG_DIR/$name.log" >&2
  exit 1
}

up() {
  ensure_toolchain
  "$SCRIPT_DIR/services.sh" start
  echo "==> building both services (release)"
  cargo build --release --locked --bins
  local common=(
    RUST_LOG=info
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"
    REDIS_URL="redis://127.0.0.1:6379"
    EMAIL_QUEUE=email_queue
  )
  # A local key for two-factor secrets, kept across restarts so enrolments stay readable.
  local mfa_keys=$RUN_DIR/mfa-encryption-keys
  if [ ! -s "$mfa_keys" ]; then
    mkdir -p "$RUN_DIR"
    (umask 077; printf 'local:%s' "$(head -c 32 /dev/urandom | base64)" > "$mfa_keys")
  fi
  start_one user-service "${common[@]}" \
    HTTP_ADDR="$USER_HTTP" ADMIN_ADDR="$USER_ADMIN" \
    MFA_ENCRYPTION_KEYS="$(cat "$mfa_keys")" \
    MONGODB_URI="mongodb://127.0.0.1:27017/?directConnection=true" MONGODB_DATABASE=user_platform \
    PUBLIC_URL="$PUBLIC_URL"
  start_one mail-service "${common[@]}" \
    ADMIN_ADDR="$MAIL_ADMIN" SMTP_HOST=127.0.0.1 SMTP_PORT=2525 SMTP_TLS=none \
    MAIL_FROM="User Platform <no-reply@localhost>" ALLOWED_LINK_ORIGINS="$PUBLIC_URL"
  wait_ready user-service "http://$USER_ADMIN/readyz"
  wait_ready mail-service "http://$MAIL_ADMIN/readyz"
  cat <<EOT

The user platform is running:
  user-service  API http://$USER_HTTP   admin http://$USER_ADMIN/{healthz,readyz,metrics}
  mail-service  admin http://$MAIL_ADMIN/{healthz,readyz,metrics}
  logs          $LOG_DIR/{user-service,mail-service}.log
  captured mail $RUN_DIR/maildir/new/  (SMTP sink on 127.0.0.1:2525)

Try it in a browser:
  1. open $PUBLIC_URL/signup and create an account
  2. scripts/mail-links.py prints the verification email's link: open it, press the button
  3. log in at $PUBLIC_URL/login; $PUBLIC_URL/account manages the account

Or with the JSON API:
  curl -i -X POST http://$USER_HTTP/v1/users -H 'content-type: application/json' \\
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}'
  grep -rh '^Token:' $RUN_DIR/maildir/new/ | tail -1   # a verification token (the only one on a fresh machine)
  curl -i -X POST http://$USER_HTTP/v1/email-verifications/confirm -H 'content-type: application/json' \\
       -d '{"token":"<token>"}'
  curl -i -X POST http://$USER_HTTP/v1/sessions -H 'content-type: application/json' \\
       -d '{"email":"ada@example.com","password":"correct horse battery staple"}'

Stop both services with: scripts/up.sh down   (dependencies: scripts/services.sh stop)
EOT
}

if [ "${1:-}" = --containers ] || [ "${2:-}" = --containers ]; then
  command=${1:-up}
  [ "$command" = --containers ] && command=${2:-up}
  case "$command" in
    up|down) exec "$SCRIPT_DIR/images.sh" "$command" ;;
    *) echo "usage: $0 [up|down] --containers" >&2; exit 2 ;;
  esac
fi

case "${1:-up}" in
  up) up ;;
  down) stop_one user-service; stop_one mail-service ;;
  status)
    for s in user-service mail-service; do
      if pid_alive "$RUN_DIR/$s.pid"; then echo "$s running (pid $(cat "$RUN_DIR/$s.pid"))"; else echo "$s stopped"; fi
    done ;;
  *) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac
