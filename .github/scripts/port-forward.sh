#!/usr/bin/env bash
# Starts `kubectl port-forward` in the background on a free local port, which kubectl picks
# (":REMOTE"), so no fixed host port can clash with kind's port mappings or anything else on the
# runner, and prints that port. Fails, with kubectl's output, if the forward does not come up.
# The log stays in $RUNNER_TEMP/pf-NAME.log for the failure diagnostics of e2e.yml.
#   port=$(.github/scripts/port-forward.sh NAME NAMESPACE RESOURCE REMOTE_PORT)
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: $0 NAME NAMESPACE RESOURCE REMOTE_PORT" >&2; exit 2; }
name=$1 ns=$2 resource=$3 remote=$4
log="${RUNNER_TEMP:-/tmp}/pf-$name.log"

# stdin/stdout/stderr away from the caller's $(...), which would otherwise wait for kubectl.
nohup kubectl port-forward --address 127.0.0.1 -n "$ns" "$resource" ":$remote" \
  </dev/null >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 30); do
  port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
  if [[ -n "$port" ]]; then
    echo "port-forward $name: 127.0.0.1:$port -> $resource:$remote (pid $pid)" >&2
    echo "$port"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
echo "port-forward $name ($ns $resource:$remote) did not start:" >&2
cat "$log" >&2
exit 1
