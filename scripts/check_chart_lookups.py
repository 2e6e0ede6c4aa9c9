#!/usr/bin/env python3
"""What the chart does with objects already in the cluster (`lookup`), checked without a cluster:
a small stand-in for the Kubernetes API answers discovery and GETs from a set of objects, and
`helm template --dry-run=server` renders against it. Checks (issue 27, items 1 and 7):

- credentials.mode=lookup reuses the passwords of the Secrets in the cluster (no new ones on
  upgrade), and the clients' URLs carry them;
- the broker StatefulSet guards: a changed persistence size, storage class or on/off, a RabbitMQ
  going from one node to a cluster (node names change) and an old cluster's podManagementPolicy
  fail the render naming the migration; unchanged values render.

Usage: check_chart_lookups.py HELM CHART
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

HELM, CHART = sys.argv[1], sys.argv[2]
NS = "user-platform"
RESOURCES = {
    "v1": {"secrets": "Secret", "configmaps": "ConfigMap", "services": "Service",
           "serviceaccounts": "ServiceAccount", "pods": "Pod"},
    "apps/v1": {"statefulsets": "StatefulSet", "deployments": "Deployment"},
    "autoscaling/v2": {"horizontalpodautoscalers": "HorizontalPodAutoscaler"},
    "policy/v1": {"poddisruptionbudgets": "PodDisruptionBudget"},
    "networking.k8s.io/v1": {"networkpolicies": "NetworkPolicy", "ingresses": "Ingress"},
    "rbac.authorization.k8s.io/v1": {"roles": "Role", "rolebindings": "RoleBinding"},
    "apiextensions.k8s.io/v1": {"customresourcedefinitions": "CustomResourceDefinition"},
}
PLURAL = {kind: (gv, plural) for gv, kinds in RESOURCES.items() for plural, kind in kinds.items()}
cluster = {}   # API path -> object, replaced by each case


class Api(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                       "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                      for gv in RESOURCES if "/" in gv]
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        gv = path[5:] if path.startswith("/api/") else path[6:] if path.startswith("/apis/") else None
        if gv in RESOURCES:
            return self.reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                {"name": plural, "singularName": "", "namespaced": kind != "CustomResourceDefinition", "kind": kind,
                 "verbs": ["get", "list", "create", "update", "patch", "delete"]}
                for plural, kind in RESOURCES[gv].items()]})
        if path in cluster:
            return self.reply(200, cluster[path])
        return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})


def api_path(obj):
    gv, plural = PLURAL[obj["kind"]]
    prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
    return f"{prefix}/namespaces/{NS}/{plural}/{obj['metadata']['name']}"


server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
tmp = tempfile.mkdtemp()
kubeconfig = os.path.join(tmp, "kubeconfig")
with open(kubeconfig, "w") as f:
    yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                    "clusters": [{"name": "stand-in", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                    "users": [{"name": "stand-in", "user": {"token": "stand-in"}}],
                    "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in", "namespace": NS}}],
                    "current-context": "stand-in"}, f)
os.chmod(kubeconfig, 0o600)


# mailService.smtp.host has no default: every render names a relay (first: later values win).
SMTP = ["--set", "mailService.smtp.host=smtp.example.com"]


def helm(*args, live=False):
    cmd = [HELM, "template", "check", CHART, "--namespace", NS, *SMTP, *args]
    if live:
        cmd += ["--dry-run=server", "--disable-openapi-validation", "--kubeconfig", kubeconfig]
    else:
        cmd += ["--kube-version", "1.33.0"]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "KUBECONFIG": kubeconfig})
    return p.returncode, p.stdout, p.stderr


def docs_of(out):
    return [d for d in yaml.safe_load_all(out) if d]


def install(*args):
    """The cluster as a previous `helm install` with these values left it."""
    rc, out, err = helm(*args)
    assert rc == 0, err[-300:]
    cluster.clear()
    for d in docs_of(out):
        if d["kind"] in PLURAL:
            # Owned by the release, as Helm marks what it installs.
            d["metadata"].setdefault("annotations", {}).update(
                {"meta.helm.sh/release-name": "check", "meta.helm.sh/release-namespace": NS})
            d["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
            if d["kind"] == "Secret" and "stringData" in d:
                d["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in d.pop("stringData").items()}
            cluster[api_path(d)] = d


results = []


def check(name, fn):
    try:
        fn()
        results.append(("ok", name))
    except AssertionError as e:
        results.append(("FAIL", f"{name}: {e}"))


def upgrade_fails(pattern, before, after):
    def run():
        install(*before)
        rc, _, err = helm(*after, live=True)
        assert rc != 0, "rendered although it should not"
        assert re.search(pattern, err), f"unexpected error: {err.strip()[-300:]}"
    return run


def upgrade_renders(before, after):
    def run():
        install(*before)
        rc, _, err = helm(*after, live=True)
        assert rc == 0, err.strip()[-300:]
    return run


def lookup_keeps_passwords():
    install("--set", "credentials.mode=seed", "--set", "credentials.seed=" + "k" * 40)
    rc, out, err = helm(live=True)   # credentials.mode=lookup (default) against that cluster
    assert rc == 0, err[-300:]
    secrets = {d["metadata"]["name"]: d["stringData"] for d in docs_of(out) if d["kind"] == "Secret"}
    live = {path.rsplit("/", 1)[1]: {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}
            for path, obj in cluster.items() if obj["kind"] == "Secret"}
    for name in ("check-user-platform-rabbitmq", "check-user-platform-redis"):
        assert secrets[name] == live[name], f"{name}: new passwords instead of the cluster's"
    conn = secrets["check-user-platform-user-service-connection"]
    assert live["check-user-platform-rabbitmq"]["user-service-password"] in conn["amqp-url"]
    assert live["check-user-platform-redis"]["user-service-password"] in conn["redis-url"]


check("credentials.mode=lookup: an upgrade keeps the cluster's passwords, the clients' URLs carry them", lookup_keeps_passwords)
check("unchanged values upgrade (no false guard)", upgrade_renders([], []))
check("a 3-node RabbitMQ upgrades unchanged", upgrade_renders(["--set", "rabbitmq.replicas=3"], ["--set", "rabbitmq.replicas=3"]))
check("Redis persistence.size change is refused naming the migration",
      upgrade_fails(r"redis\.persistence\.size 2Gi differs .*--cascade=orphan", [], ["--set", "redis.persistence.size=2Gi"]))
check("RabbitMQ storageClass change is refused",
      upgrade_fails(r"rabbitmq\.persistence\.storageClass fast differs", [], ["--set", "rabbitmq.persistence.storageClass=fast"]))
check("Redis persistence turned off on an existing StatefulSet is refused",
      upgrade_fails(r"redis\.persistence\.enabled cannot change", [], ["--set", "redis.persistence.enabled=false"]))
check("RabbitMQ from 1 to 3 nodes (node names change, empty database) is refused",
      upgrade_fails(r"rabbitmq\.replicas 3 changes the node name", [], ["--set", "rabbitmq.replicas=3"]))


def old_cluster_policy():
    install("--set", "rabbitmq.replicas=3")
    for path, obj in cluster.items():
        if obj["kind"] == "StatefulSet" and obj["metadata"]["name"].endswith("-rabbitmq"):
            obj["spec"].pop("podManagementPolicy", None)   # as the chart before issue 27 made it
    rc, _, err = helm("--set", "rabbitmq.replicas=3", live=True)
    assert rc != 0 and "--cascade=orphan" in err and "OrderedReady" in err, err[-300:]


check("an existing OrderedReady RabbitMQ cluster is refused with the --cascade=orphan migration", old_cluster_policy)

server.shutdown()
width = max(len(s) for s, _ in results)
for status, name in results:
    print(f"{status:<{width}} {name}")
failed = sum(1 for s, _ in results if s != "ok")
print(f"chart lookups: {len(results)} checks, {failed} failed")
sys.exit(1 if failed else 0)
