#!/usr/bin/env bash
# Proves the shipped alerts and dashboards against a real Prometheus (Debian's prometheus 2.42,
# with promtool):
#   1. the PrometheusRule rendered from the chart is written out as a plain rules file;
#      `promtool check rules`, then `promtool test rules` with the unit tests of
#      scripts/monitoring/rules-tests/ (every alert: a case that fires and one that does not)
#      and the generated SLO burn-rate tests (scripts/monitoring/rule_tests.py);
#   2. a live run (scripts/monitoring/live_check.py): a Prometheus of its own scrapes both
#      service binaries and RabbitMQ's rabbitmq_prometheus plugin, a short workload runs, and
#      every panel query of every dashboard must return data (or be allow-listed with a reason).
#
# Usage: scripts/check-monitoring.sh [rules|live|all]   (default all)
# Needs helm from scripts/check-deploy.sh (.run/deploy-tools/bin/helm) or $HELM, the services of
# scripts/services.sh and the debug binaries (built here if missing). Idempotent installs:
#   prometheus  Debian package, pinned version (the daemon is never started by the package)
#   python      scripts/requirements-monitoring.txt in .run/venv-monitoring
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN_DIR=${RUN_DIR:-$ROOT/.run}
PROMETHEUS_DEB_VERSION="2.42.0+ds-5+deb12u1"
VENV="$RUN_DIR/venv-monitoring"
HELM=${HELM:-$ROOT/.run/deploy-tools/bin/helm}   # where check-deploy.sh installs it

log() { printf '==> %s\n' "$*"; }
die() { printf 'check-monitoring: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

install_prometheus() {
  if dpkg-query -W -f='${Version}' prometheus 2>/dev/null | grep -qxF "$PROMETHEUS_DEB_VERSION"; then
    return
  fi
  log "installing prometheus $PROMETHEUS_DEB_VERSION (apt)"
  # The package would start its daemon on :9090; this check runs its own. A policy-rc.d that
  # denies every start is what Debian provides for this (kept if one exists already).
  local policy=/usr/sbin/policy-rc.d added=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    added=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "prometheus=$PROMETHEUS_DEB_VERSION" </dev/null >/dev/null || { [ -n "$added" ] && as_root rm -f "$policy"; die "apt-get install prometheus=$PROMETHEUS_DEB_VERSION failed"; }
  [ -n "$added" ] && as_root rm -f "$policy"
  true
}

install_python() {
  local req="$ROOT/scripts/requirements-monitoring.txt" want
  want=$(sha256sum <"$req" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
    return
  fi
  log "installing $(grep -v '^#' "$req" | tr '\n' ' ')into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" </dev/null
  echo "$want" >"$VENV/.requirements.sha256"
}

install_prometheus
install_python
[ -x "$HELM" ] || HELM=$(command -v helm) || die "no helm: run scripts/check-deploy.sh first (it installs the pinned one) or set HELM"
PY="$VENV/bin/python"
OUT="$RUN_DIR/monitoring"
mode=${1:-all}
started=$(date +%s)
status=0

if [ "$mode" = all ] || [ "$mode" = rules ]; then
  log "alert and recording rules: promtool $(promtool --version 2>&1 | awk 'NR==1 {print $3}') check + unit tests (rendered from the chart)"
  "$PY" scripts/monitoring/rule_tests.py "$HELM" "$OUT/rules-test" || status=1
fi

if [ "$mode" = all ] || [ "$mode" = live ]; then
  log "dashboards and rules against a live Prometheus, both services and RabbitMQ"
  # The services' debug binaries: a no-op after `cargo test` in scripts/test.sh.
  cargo build --locked -q -p user-service -p mail-service --bins
  target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
  "$ROOT/scripts/services.sh" start >/dev/null
  # The broker ships the plugin; enabling is idempotent and applies to the running node.
  as_root rabbitmq-plugins enable --quiet rabbitmq_prometheus >/dev/null
  "$PY" scripts/monitoring/live_check.py --helm "$HELM" --bin-dir "$target_dir/debug" \
    --run-dir "$OUT/live" || status=1
fi

log "check-monitoring: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started ))s"
exit $status
