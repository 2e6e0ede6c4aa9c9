#!/usr/bin/env bash
# Failure diagnostics of e2e.yml: state of the release namespace, the logs of every pod in the
# cluster (all containers, and the previous instance of restarted ones), events, and the logs of
# every port-forward the job started ($RUNNER_TEMP/pf-*.log). Never fails itself.
#   .github/scripts/e2e-diagnostics.sh NAMESPACE
set -uo pipefail
ns=${1:?namespace}
section() { printf '\n::group::%s\n' "$*"; }
end() { echo "::endgroup::"; }

section "objects in $ns"
kubectl get all,networkpolicy,scaledobject,hpa,emailtemplates -n "$ns" -o wide
kubectl get emailtemplates -n "$ns" -o yaml
kubectl describe pods -n "$ns"
end

section "NetworkPolicies (all namespaces)"
kubectl get networkpolicy -A -o wide
end

kubectl get pods -A --no-headers -o custom-columns=NS:.metadata.namespace,NAME:.metadata.name,RESTARTS:.status.containerStatuses[*].restartCount \
  | while read -r pns pod restarts; do
      section "logs $pns/$pod"
      kubectl logs -n "$pns" "$pod" --all-containers --prefix --tail 500
      if [[ "$restarts" =~ [1-9] ]]; then
        echo "--- previous instance"
        kubectl logs -n "$pns" "$pod" --all-containers --prefix --previous --tail 200
      fi
      end
    done

section "events (all namespaces)"
kubectl get events -A --sort-by .lastTimestamp
end

for f in "${RUNNER_TEMP:-/tmp}"/pf-*.log; do
  [[ -e "$f" ]] || { echo "no port-forward logs"; break; }
  section "port-forward log $(basename "$f")"
  cat "$f"
  end
done
exit 0
