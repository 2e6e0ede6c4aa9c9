#!/usr/bin/env python3
"""Upgrade check of the user-platform chart: renders the chart of the previous release and the
current one, each with its own copy of the same values files (defaults and every ci/*.yaml
present in both), and fails when a field Kubernetes will not change in place differs without a
documented migration: a StatefulSet's selector, serviceName, podManagementPolicy or
volumeClaimTemplates, a Deployment's selector, or a StatefulSet that disappears (its volumes
would be orphaned).

The previous release is the newest `v*` tag, else the commit in scripts/chart-upgrade-baseline
(the chart adopters could have installed; bump it when releasing). A shallow clone fetches it.
ci/ files new since then are compared only when SWITCHES names them (against the old defaults).

Usage: check_chart_upgrade.py HELM CHART [NEW_CHART_DIR]
(NEW_CHART_DIR: render that copy as the current chart, for the negative case of check-deploy.sh)
"""
import os
import subprocess
import sys
import tarfile
import tempfile
import io

import yaml

HELM, CHART = sys.argv[1], sys.argv[2]
NEW_CHART = sys.argv[3] if len(sys.argv) > 3 else CHART
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APIS = ["--api-versions", "keda.sh/v1alpha1/ScaledObject",
        "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
        "--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
        "--api-versions", "traefik.io/v1alpha1/Middleware"]
# Immutable changes this chart makes on purpose, each with the text docs/deployment.md must hold
# (its "Upgrading" section says what to run).
DOCUMENTED = {
    ("StatefulSet", "rabbitmq", "podManagementPolicy"): "--cascade=orphan",
}
# Switches a release may make on upgrade, each a ci/ file rendered by the current chart against
# the previous release's defaults: the same immutable fields (docs/deployment.md says so).
SWITCHES = {
    "redis-sentinel-values.yaml": "the bundled Redis from standalone to Sentinel",
}


def git(*args):
    return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)


def baseline():
    tags = git("tag", "--list", "v*", "--sort=-v:refname").stdout.split()
    if tags:
        return tags[0]
    sha = open(os.path.join(ROOT, "scripts", "chart-upgrade-baseline")).read().strip()
    if git("cat-file", "-e", sha + "^{commit}").returncode != 0:
        git("fetch", "--quiet", "--depth=1", "origin", sha)
    if git("cat-file", "-e", sha + "^{commit}").returncode != 0:
        sys.exit(f"chart upgrade: baseline {sha} is not in this clone and could not be fetched")
    return sha


def extract(rev, dest):
    data = subprocess.run(["git", "-C", ROOT, "archive", rev, CHART], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        t.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(dest)
    return os.path.join(dest, CHART)


def render(chart, values):
    args = [HELM, "template", "up", chart, "--namespace", "user-platform", "--kube-version", "1.33.0", *APIS]
    if values:
        args += ["-f", values]
    else:
        # The defaults: mailService.smtp.host has no default any more (the old chart's had one);
        # both charts get the same relay.
        args += ["--set", "mailService.smtp.host=smtp.example.com"]
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip()[-300:])
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(p.stdout) if d}


def component(obj):
    return (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component", obj["metadata"]["name"])


def claims(sts):
    out = []
    for c in sts["spec"].get("volumeClaimTemplates") or []:
        out.append({"name": c["metadata"]["name"], "spec": c["spec"]})
    return out


def immutable(obj):
    s = obj["spec"]
    if obj["kind"] == "StatefulSet":
        return {"selector": s["selector"], "serviceName": s.get("serviceName"),
                "podManagementPolicy": s.get("podManagementPolicy", "OrderedReady"),
                "volumeClaimTemplates": claims(obj)}
    if obj["kind"] == "Deployment":
        return {"selector": s["selector"]}
    return {}


def main():
    rev = baseline()
    doc = open(os.path.join(ROOT, "docs", "deployment.md")).read()
    tmp = tempfile.mkdtemp()
    old_chart = extract(rev, tmp)
    variants = [("defaults", None, None)]
    for f in sorted(os.listdir(os.path.join(CHART, "ci"))):
        old_file = os.path.join(old_chart, "ci", f)
        if f.endswith(".yaml") and os.path.exists(old_file):
            variants.append((f, old_file, os.path.join(NEW_CHART, "ci", f)))
        elif f in SWITCHES:
            variants.append((f"defaults -> {f} ({SWITCHES[f]})", None, os.path.join(NEW_CHART, "ci", f)))
    problems, documented, compared = [], set(), 0
    for name, old_values, new_values in variants:
        try:
            old, new = render(old_chart, old_values), render(NEW_CHART, new_values)
        except RuntimeError as e:
            problems.append(f"{name}: render failed: {e}")
            continue
        for key, o in old.items():
            if o["kind"] not in ("StatefulSet", "Deployment"):
                continue
            compared += 1
            n = new.get(key)
            if n is None:
                if o["kind"] == "StatefulSet":
                    problems.append(f"{name}: StatefulSet {key[1]} is gone (renamed?): its volumes would be orphaned")
                continue
            a, b = immutable(o), immutable(n)
            for field in a:
                if a[field] != b[field]:
                    marker = DOCUMENTED.get((o["kind"], component(o), field))
                    if marker and marker in doc:
                        documented.add(f"{o['kind']} {component(o)} {field}")
                    else:
                        problems.append(f"{name}: {o['kind']} {key[1]}: immutable {field} changes "
                                        f"({a[field]!r} -> {b[field]!r}) without a documented migration")
    for p in problems:
        print(f"  {p}")
    extra = f"; documented migrations: {', '.join(sorted(documented))}" if documented else ""
    print(f"chart upgrade: {rev[:12]} -> working tree, {len(variants)} variants, {compared} workloads compared, "
          f"{len(problems)} problems{extra}")
    return 1 if problems else 0


sys.exit(main())
