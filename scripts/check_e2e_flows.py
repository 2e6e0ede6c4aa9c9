#!/usr/bin/env python3
"""Evaluates the NetworkPolicies of the e2e setup (the chart rendered as .github/workflows/e2e.yml
installs it, plus k8s/mongodb-dev.yaml and k8s/mailpit.yaml) against the connections the e2e run
needs (with k8s/forward-auth-demo.yaml, the app behind ingress-nginx). kind (v0.24 and later) enforces NetworkPolicy, so a flow missing here breaks the run.

Semantics are those of networking.k8s.io/v1: a pod selected by a policy of a direction only
accepts what one of those policies allows; podSelector peers are in the policy's namespace unless
a namespaceSelector is given; ports by number or by the destination container's port name; an
ipBlock matches the API server (host network) but, conservatively, no pod (CNIs differ there, so
in-cluster peers must be named by selectors). Probes and `kubectl port-forward` are not filtered
and need no flow. Outside pods: CoreDNS (kube-system, k8s-app=kube-dns), KEDA's operator
(namespace keda) ingress-nginx's controller (namespace ingress-nginx) and the API server (the `kubernetes` Service 10.96.0.1:443, kind's node
172.18.0.2:6443).

Usage: check_e2e_flows.py RENDERED.yaml K8S_MANIFEST.yaml...
"""
import ipaddress
import sys
from pathlib import Path

import yaml

NS = "user-platform"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
API_SERVER = [("10.96.0.1", 443), ("172.18.0.2", 6443)]


class Pod:
    def __init__(self, name, ns, labels, ports):
        self.name, self.ns, self.labels, self.ports = name, ns, labels, ports   # ports: name -> (port, proto)


def pod_of(doc, default_ns):
    spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
    labels = (doc["metadata"] if doc["kind"] == "Pod" else doc["spec"]["template"]["metadata"]).get("labels") or {}
    ports = {}
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for p in c.get("ports") or []:
            ports[p.get("name") or str(p["containerPort"])] = (p["containerPort"], p.get("protocol", "TCP"))
    return Pod(doc["metadata"]["name"], doc["metadata"].get("namespace", default_ns), labels, ports)


def selects(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        has, val = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if (op == "In" and val not in e["values"]) or (op == "NotIn" and has and val in e["values"]) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def peer_matches(peer, policy_ns, target):
    """target: a Pod, or an IP string (host-network endpoint)."""
    if "ipBlock" in peer:
        if isinstance(target, Pod):
            return False
        ip = ipaddress.ip_address(target)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and \
            not any(ip in ipaddress.ip_network(x) for x in block.get("except") or [])
    if isinstance(target, str):
        return False
    ns_ok = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": target.ns}) \
        if "namespaceSelector" in peer else target.ns == policy_ns
    pod_ok = selects(peer["podSelector"], target.labels) if "podSelector" in peer else True
    return ns_ok and pod_ok


def port_matches(rule_ports, port, proto, dst):
    if not rule_ports:
        return True
    for rp in rule_ports:
        if rp.get("protocol", "TCP") != proto:
            continue
        want = rp.get("port")
        if want is None:
            return True
        if isinstance(want, str) and not want.isdigit():
            named = dst.ports.get(want) if isinstance(dst, Pod) else None
            if named and named == (port, proto):
                return True
            continue
        if int(want) <= port <= int(rp.get("endPort", want)):
            return True
    return False


def allowed(policies, pod, direction, other, port, proto, dst):
    """Whether `pod`'s policies of `direction` admit the connection with `other`."""
    key = "ingress" if direction == "Ingress" else "egress"
    peer_key = "from" if direction == "Ingress" else "to"
    mine = [p for p in policies if p["metadata"].get("namespace", NS) == pod.ns
            and selects(p["spec"]["podSelector"], pod.labels)
            and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not mine:
        return True
    for p in mine:
        for rule in p["spec"].get(key) or []:
            peers = rule.get(peer_key)
            if (not peers or any(peer_matches(x, p["metadata"].get("namespace", NS), other) for x in peers)) \
                    and port_matches(rule.get("ports"), port, proto, dst):
                return True
    return False


def flow_ok(policies, src, dst, port, proto="TCP"):
    if not allowed(policies, src, "Egress", dst, port, proto, dst):
        return "egress of the source denies it"
    if isinstance(dst, Pod) and not allowed(policies, dst, "Ingress", src, port, proto, dst):
        return "ingress of the destination denies it"
    return None


def main(rendered, *manifests):
    docs = []
    for f in (rendered, *manifests):
        docs += [d for d in yaml.safe_load_all(Path(f).read_text()) if d]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = [pod_of(d, NS) for d in docs if d["kind"] in WORKLOADS]

    def find(label, value):
        hits = [p for p in pods if p.labels.get(label) == value]
        if len(hits) != 1:
            sys.exit(f"check_e2e_flows: expected one pod with {label}={value}, found {len(hits)}")
        return hits[0]

    comp = lambda c: find("app.kubernetes.io/component", c)   # noqa: E731
    us, ms, redis, rabbit, test = (comp(c) for c in ("user-service", "mail-service", "redis", "rabbitmq", "test"))
    mongo, mailpit = find("app.kubernetes.io/name", "mongodb"), find("app.kubernetes.io/name", "mailpit")
    dns = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP"), "dns-tcp": (53, "TCP")})
    # The KEDA chart labels its operator pods with both.
    keda = Pod("keda-operator", "keda", {"app": "keda-operator", "app.kubernetes.io/name": "keda-operator"}, {})
    # The ingress-nginx chart's controller pods.
    ingress = Pod("ingress-nginx-controller", "ingress-nginx",
                  {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}, {})
    whoami = find("app.kubernetes.io/name", "whoami")

    flows = []
    for src in (us, ms, rabbit, mongo, test):
        flows += [(f"{src.name} -> DNS {proto}", src, dns, 53, proto) for proto in ("UDP", "TCP")]
    flows += [
        ("user-service -> MongoDB", us, mongo, 27017, "TCP"),
        ("MongoDB -> itself (replica set member)", mongo, mongo, 27017, "TCP"),
        ("user-service -> Redis", us, redis, 6379, "TCP"),
        ("user-service -> RabbitMQ", us, rabbit, 5672, "TCP"),
        ("mail-service -> Redis", ms, redis, 6379, "TCP"),
        ("mail-service -> RabbitMQ", ms, rabbit, 5672, "TCP"),
        ("mail-service -> Mailpit SMTP", ms, mailpit, 1025, "TCP"),
        ("KEDA operator -> RabbitMQ (AMQP queue length)", keda, rabbit, 5672, "TCP"),
        ("helm test -> user-service admin", test, us, 9090, "TCP"),
        ("ingress-nginx -> user-service /v1/auth/check (forward-auth)", ingress, us, us.ports["http"][0], "TCP"),
        ("ingress-nginx -> forward-auth demo app", ingress, whoami, whoami.ports["http"][0], "TCP"),
        ("helm test -> mail-service admin", test, ms, 9091, "TCP"),
    ]
    flows += [(f"mail-service -> API server {ip}:{port} (EmailTemplate watch)", ms, ip, port, "TCP")
              for ip, port in API_SERVER]
    failures = 0
    for name, src, dst, port, proto in flows:
        why = flow_ok(policies, src, dst, port, proto)
        if why:
            failures += 1
            print(f"  ERROR: {name} ({port}/{proto}): {why}")
    print(f"  e2e flows: {len(flows)} connections against {len(policies)} NetworkPolicies, {failures} denied")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
