#!/usr/bin/env python3
"""Cross-checks of a rendered user-platform chart (what a schema cannot see).

Usage: check_manifests.py docs/configuration.md rendered.yaml

- every env var of both services' tables in docs/configuration.md is set on its container (SMTP_PORT and the
  SMTP credentials are optional), secrets come through secretKeyRef, unknown names are reported;
- security context, resources and admin-port probes on every container;
- Services, PDBs, HPAs, ScaledObjects, ServiceMonitors and Ingresses point at things that exist;
- KEDA ScaledObject / TriggerAuthentication, ServiceMonitor and PrometheusRule semantics (the
  schemas are checked by check-jsonschema), Grafana dashboard ConfigMaps;
- NetworkPolicies: every pod of the release is selected, named ports exist on the selected pods,
  in-release peers select something, and the flows the platform needs are allowed.
Exits 1 on any error.
"""
import json
import re
import sys

import yaml

SECRET_VARS = {"MONGODB_URI", "AMQP_URL", "SMTP_USERNAME", "SMTP_PASSWORD",
               "OTEL_EXPORTER_OTLP_HEADERS", "ADMIN_API_TOKENS", "MFA_ENCRYPTION_KEYS",
               "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"}
# Redis variables both services must carry alike (the connection; credentials differ per client).
REDIS_SHARED = ("REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_TLS", "REDIS_CLUSTER_NODES",
                "REDIS_TLS", "REDIS_CA_FILE", "REDIS_CLIENT_CERT_FILE", "REDIS_CLIENT_KEY_FILE", "REDIS_ALLOW_EVICTION")
# The admin API is off unless userService.adminApi.enabled; MFA_ENCRYPTION_KEYS only comes with
# userService.config.mfa.existingSecret (two-factor login off without).
OPTIONAL = {"mail-service": {"SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD",
                             # set with caBundle only
                             "SMTP_CA_FILE"},
            "user-service": {"ADMIN_API_ADDR", "ADMIN_API_TOKENS", "MFA_ENCRYPTION_KEYS",
                             # The services' defaults apply; chart values for them are still
                             # to come (admin login limit, connection cap).
                             "RATE_LIMIT_ADMIN_AUTH", "HTTP_MAX_CONNECTIONS",
                             # the service's default window; the warning and the metric need no
                             # tuning in a cluster
                             "PROXY_CHECK_WINDOW",
                             # set only when given: the service derives them from PUBLIC_URL
                             # and MFA_ISSUER, which the chart always sets
                             "PASSKEY_RP_ID", "PASSKEY_RP_NAME", "PASSKEY_ORIGINS"}}
# The README's tracing table (both services) is added by main(); the pod name and namespace are
# set for $(...) expansion in OTEL_RESOURCE_ATTRIBUTES.
EXTRA_OK = {"RUST_LOG", "LOG_FORMAT", "OTEL_K8S_POD_NAME", "OTEL_K8S_NAMESPACE",
            # caBundle: read by the AMQP client's TLS library, not by the services' own code
            "SSL_CERT_FILE"}
# Set ahead of the code that reads it: mail-service gets the user-service's Redis for delivery
# de-duplication (its own ACL user on the same Redis), and the user-service's AMQP user name.
EXTRA_PER_SERVICE = {"mail-service": {"REDIS_URL", "AMQP_PUBLISHER_USER"}, "user-service": set()}
STD_LABELS = ["app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
              "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart"]

errors, warnings = [], []


def err(msg):
    errors.append(msg)


def readme_vars(path):
    """{service: [VAR, ...]} from the README's configuration tables; "both" holds the tracing
    table's variables, which either service may be given."""
    out, current = {}, None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^##+\s+(user-service|mail-service|Both services|Traces|Redis \(both services\))\s*$", line)
        if m:
            current = m.group(1) if m.group(1).endswith("-service") else "both"
            out.setdefault(current, [])
            continue
        if line.startswith("#"):
            current = None
        if current and line.startswith("| `"):
            first_cell = line.split("|")[1]
            out[current] += re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell)
    return out


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def main(readme, rendered):
    docs = [d for d in yaml.safe_load_all(open(rendered, encoding="utf-8")) if d]
    by_kind = {}
    seen = set()
    for d in docs:
        key = (d["kind"], d["metadata"]["name"])
        if key in seen:
            err(f"duplicate {key}")
        seen.add(key)
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        labels = d["metadata"].get("labels") or {}
        for lbl in STD_LABELS:
            if lbl not in labels:
                err(f"{d['kind']}/{d['metadata']['name']}: label {lbl} missing")

    tables = readme_vars(readme)
    EXTRA_OK.update(tables.get("both", []))
    for svc in ("user-service", "mail-service"):
        if not tables.get(svc):
            err(f"README: no configuration table found for {svc}")

    workloads = {**{("Deployment", n): d for n, d in by_kind.get("Deployment", {}).items()},
                 **{("StatefulSet", n): d for n, d in by_kind.get("StatefulSet", {}).items()}}
    secrets = set(by_kind.get("Secret", {}))
    external_secrets = set()

    for (kind, name), w in workloads.items():
        pod = w["spec"]["template"]["spec"]
        tmpl_labels = w["spec"]["template"]["metadata"]["labels"]
        if not matches(w["spec"]["selector"]["matchLabels"], tmpl_labels):
            err(f"{kind}/{name}: selector does not match pod labels")
        psc = pod.get("securityContext") or {}
        if not psc.get("runAsNonRoot"):
            err(f"{kind}/{name}: pod runAsNonRoot not set")
        for c in pod["containers"]:
            where = f"{kind}/{name}/{c['name']}"
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                err(f"{where}: readOnlyRootFilesystem not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                err(f"{where}: allowPrivilegeEscalation not false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                err(f"{where}: capabilities do not drop ALL")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                err(f"{where}: seccompProfile is not RuntimeDefault")
            res = c.get("resources") or {}
            if not res.get("requests") or not res.get("limits"):
                err(f"{where}: resources requests/limits missing")
            for p in ("startupProbe", "livenessProbe", "readinessProbe"):
                if p not in c:
                    err(f"{where}: {p} missing")
            for env in c.get("env", []):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    (secrets if ref["name"] in secrets else external_secrets).add(ref["name"])
            svc = tmpl_labels.get("app.kubernetes.io/component")
            if svc in tables and c["name"] == svc:
                check_app_container(where, svc, c, tables[svc])

    for n, s in by_kind.get("Service", {}).items():
        targets = [w for w in workloads.values()
                   if matches(s["spec"].get("selector"), w["spec"]["template"]["metadata"]["labels"])]
        if not targets:
            err(f"Service/{n}: selector matches no workload")
        for port in s["spec"]["ports"]:
            tp = port.get("targetPort")
            if isinstance(tp, str) and targets:
                names = {p.get("name") for c in targets[0]["spec"]["template"]["spec"]["containers"]
                         for p in c.get("ports", [])}
                if tp not in names:
                    err(f"Service/{n}: targetPort {tp} is not a container port name")

    for n, p in by_kind.get("PodDisruptionBudget", {}).items():
        if not any(matches(p["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"])
                   for w in workloads.values()):
            err(f"PodDisruptionBudget/{n}: selector matches no workload")

    scaled = {}
    for n, h in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = h["spec"]["scaleTargetRef"]
        scaled.setdefault(ref["name"], []).append(f"HPA/{n}")
        if (ref["kind"], ref["name"]) not in workloads:
            err(f"HPA/{n}: target {ref['kind']}/{ref['name']} not rendered")
    tas = by_kind.get("TriggerAuthentication", {})
    for n, so in by_kind.get("ScaledObject", {}).items():
        spec = so["spec"]
        ref = spec["scaleTargetRef"]
        scaled.setdefault(ref["name"], []).append(f"ScaledObject/{n}")
        if ("Deployment", ref["name"]) not in workloads:
            err(f"ScaledObject/{n}: target Deployment/{ref['name']} not rendered")
        for f in ("minReplicaCount", "maxReplicaCount", "cooldownPeriod"):
            if not isinstance(spec.get(f), int):
                err(f"ScaledObject/{n}: {f} missing or not an integer")
        if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 0):
            err(f"ScaledObject/{n}: minReplicaCount > maxReplicaCount")
        for t in spec.get("triggers", []):
            md = t.get("metadata", {})
            if t.get("type") != "rabbitmq":
                err(f"ScaledObject/{n}: trigger type {t.get('type')}")
            if md.get("mode") != "QueueLength" or not md.get("queueName"):
                err(f"ScaledObject/{n}: mode QueueLength and queueName required")
            for f in ("value", "activationValue"):
                if not isinstance(md.get(f), str) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", md[f]):
                    err(f"ScaledObject/{n}: metadata.{f} must be a numeric string")
            if "host" in md:
                err(f"ScaledObject/{n}: host must come from the TriggerAuthentication, not metadata")
            ta = tas.get((t.get("authenticationRef") or {}).get("name"))
            if not ta:
                err(f"ScaledObject/{n}: authenticationRef does not name a rendered TriggerAuthentication")
            elif not any(r.get("parameter") == "host" and r.get("name") and r.get("key")
                         for r in ta["spec"].get("secretTargetRef", [])):
                err(f"TriggerAuthentication/{ta['metadata']['name']}: no secretTargetRef for host")
        if not spec.get("triggers"):
            err(f"ScaledObject/{n}: no triggers")
    for target, owners in scaled.items():
        if len(owners) > 1:
            err(f"Deployment/{target} is scaled by several owners: {owners}")
        d = workloads.get(("Deployment", target))
        if d and "replicas" in d["spec"]:
            err(f"Deployment/{target}: sets replicas although {owners[0]} owns them")

    services = by_kind.get("Service", {})
    for n, sm in by_kind.get("ServiceMonitor", {}).items():
        sel = sm["spec"]["selector"]["matchLabels"]
        hits = [s for s in services.values() if matches(sel, s["metadata"].get("labels", {}))]
        if not hits:
            err(f"ServiceMonitor/{n}: selector matches no Service")
        for ep in sm["spec"].get("endpoints", []):
            if hits and ep.get("port") not in {p["name"] for s in hits for p in s["spec"]["ports"]}:
                err(f"ServiceMonitor/{n}: endpoint port {ep.get('port')} not on the Service")

    for n, pr in by_kind.get("PrometheusRule", {}).items():
        names = set()
        for g in pr["spec"].get("groups", []):
            for rule in g.get("rules", []):
                if rule.get("record"):
                    if not rule.get("expr") or rule.get("alert"):
                        err(f"PrometheusRule/{n}: recording rule without expr, or with alert: {rule}")
                    continue
                a = rule.get("alert")
                if not a or not rule.get("expr"):
                    err(f"PrometheusRule/{n}: rule without alert name or expr: {rule}")
                if not (rule.get("annotations") or {}).get("runbook_url", "").startswith("http"):
                    err(f"PrometheusRule/{n}/{a}: runbook_url annotation missing")
                if a in names:
                    err(f"PrometheusRule/{n}: duplicate alert {a}")
                names.add(a)
                if (rule.get("labels") or {}).get("severity") not in ("warning", "critical"):
                    err(f"PrometheusRule/{n}/{a}: severity must be warning or critical")
                if not (rule.get("annotations") or {}).get("summary"):
                    err(f"PrometheusRule/{n}/{a}: summary annotation missing")

    uids = {}
    for n, cm in by_kind.get("ConfigMap", {}).items():
        if "grafana_dashboard" not in (cm["metadata"].get("labels") or {}):
            continue
        for key, text in (cm.get("data") or {}).items():
            try:
                dash = json.loads(text)
            except ValueError as e:
                err(f"ConfigMap/{n}/{key}: not JSON: {e}")
                continue
            if not dash.get("uid") or not dash.get("title") or not dash.get("panels"):
                err(f"ConfigMap/{n}/{key}: dashboard needs uid, title and panels")
            if dash.get("uid") in uids:
                err(f"ConfigMap/{n}/{key}: uid {dash['uid']} also in {uids[dash['uid']]}")
            uids[dash.get("uid")] = n
            for p in dash.get("panels", []):
                if p.get("type") != "row" and not p.get("targets"):
                    err(f"ConfigMap/{n}/{key}: panel {p.get('title')!r} has no query")

    for n, ing in by_kind.get("Ingress", {}).items():
        for rule in ing["spec"].get("rules", []):
            for path in rule["http"]["paths"]:
                b = path["backend"]["service"]
                s = services.get(b["name"])
                if not s or b["port"].get("name") not in {p["name"] for p in s["spec"]["ports"]}:
                    err(f"Ingress/{n}: backend {b} not rendered")

    check_network_policies(by_kind, workloads)
    envs = {}
    for (kind, name), w in workloads.items():
        for c in w["spec"]["template"]["spec"]["containers"]:
            envs[c["name"]] = {e["name"]: e for e in c.get("env", [])}
    if "user-service" in envs and "mail-service" in envs:
        # Both services reach the same Redis the same way (one helper renders both): the same
        # mode, and the same plain addresses and TLS settings. Each has its own credentials (a
        # Secret each); a plain URL carries none and must then be the same Redis.
        modes = {s: (envs[s].get("REDIS_MODE") or {}).get("value", "standalone") for s in ("user-service", "mail-service")}
        if len(set(modes.values())) != 1:
            err(f"REDIS_MODE differs between the services: {modes}")
        for var in REDIS_SHARED:
            us, ms = envs["user-service"].get(var), envs["mail-service"].get(var)
            if var == "REDIS_URL" and modes["user-service"] == "standalone" and (not us or not ms):
                err(f"REDIS_URL missing in standalone mode (user-service {us}, mail-service {ms})")
            if (us is None) != (ms is None) or (us and "value" in us and "value" in ms and us != ms):
                err(f"{var} differs between user-service ({us}) and mail-service ({ms})")

    for w in warnings:
        print(f"  warning: {w}")
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  cross-checks: {len(docs)} objects, {len(errors)} errors, {len(warnings)} warnings;"
          f" external secrets referenced: {', '.join(sorted(external_secrets)) or 'none'}")
    return 1 if errors else 0


def selects(selector, labels):
    """A LabelSelector (matchLabels only, as the chart renders them) against pod labels."""
    if selector.get("matchExpressions"):
        err(f"unexpected matchExpressions in {selector}")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def check_network_policies(by_kind, workloads):
    policies = by_kind.get("NetworkPolicy", {})
    if not policies:
        return
    pods = {f"{k}/{n}": (w["spec"]["template"]["metadata"]["labels"], w["spec"]["template"]["spec"])
            for (k, n), w in workloads.items()}
    pods.update({f"Pod/{n}": (p["metadata"].get("labels") or {}, p["spec"])
                 for n, p in by_kind.get("Pod", {}).items()})
    covered = {}
    for n, np in policies.items():
        spec = np["spec"]
        hit = [k for k, (labels, _) in pods.items() if selects(spec["podSelector"], labels)]
        if not spec["podSelector"].get("matchLabels") or not hit:
            err(f"NetworkPolicy/{n}: podSelector selects no pod of the release")
        if sorted(spec.get("policyTypes", [])) != ["Egress", "Ingress"]:
            err(f"NetworkPolicy/{n}: policyTypes must be Ingress and Egress (default deny both ways)")
        for k in hit:
            covered.setdefault(k, []).append(n)
        port_names = {p["name"] for k in hit for c in pods[k][1]["containers"] for p in c.get("ports", [])}
        for rule in spec.get("ingress", []):
            for port in rule.get("ports", []):
                if isinstance(port.get("port"), str) and port["port"] not in port_names:
                    err(f"NetworkPolicy/{n}: ingress port {port['port']} is not a container port")
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction, []):
                for peer in rule.get("from", []) + rule.get("to", []):
                    sel = peer.get("podSelector")
                    # Peers naming this release's pods must match one; others (k8s/ extras) can't be seen.
                    if sel and "namespaceSelector" not in peer and \
                            "app.kubernetes.io/instance" in (sel.get("matchLabels") or {}) and \
                            not any(selects(sel, labels) for labels, _ in pods.values()):
                        err(f"NetworkPolicy/{n}: {direction} peer {sel} selects no pod of the release")
    for k in pods:
        if k not in covered:
            err(f"{k}: not selected by any NetworkPolicy")

    def allows(src_component, dst_component, port):
        """Does the destination's policy admit src on port, and src's policy let it out?"""
        src = [np["spec"] for np in policies.values()
               if np["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == src_component]
        dst = [np["spec"] for np in policies.values()
               if np["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == dst_component]
        dst_ports = {p["containerPort"] for k, (labels, pod) in pods.items()
                     if labels.get("app.kubernetes.io/component") == dst_component
                     for c in pod["containers"] for p in c.get("ports", [])
                     if p.get("name") == port or p["containerPort"] == port}
        out_ok = any(any(p.get("port") in dst_ports for p in r.get("ports", []))
                     and any((peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/component") == dst_component
                             for peer in r.get("to", []))
                     for s in src for r in s.get("egress", []))
        in_ok = any(any(p.get("port") == port for p in r.get("ports", []))
                    and any((peer.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/component") == src_component
                            for peer in r.get("from", []))
                    for s in dst for r in s.get("ingress", []))
        return out_ok and in_ok

    components = {labels.get("app.kubernetes.io/component") for labels, _ in pods.values()}
    needed = [("user-service", "redis", "redis"), ("mail-service", "redis", "redis"),
              ("user-service", "rabbitmq", "amqp"), ("mail-service", "rabbitmq", "amqp")]
    for src, dst, port in needed:
        if dst in components and not allows(src, dst, port):
            err(f"NetworkPolicies do not let {src} reach {dst} on {port}")


def check_app_container(where, svc, c, table):
    env = {e["name"]: e for e in c.get("env", [])}
    for var in table:
        # REDIS_URL is the standalone mode's; the other modes refuse it.
        if var == "REDIS_URL" and (env.get("REDIS_MODE") or {}).get("value", "standalone") != "standalone":
            continue
        if var not in env and var not in OPTIONAL[svc]:
            err(f"{where}: README variable {var} not set")
    for name, e in env.items():
        if name not in table and name not in EXTRA_OK | EXTRA_PER_SERVICE[svc]:
            warnings.append(f"{where}: {name} is not in the README table (extraEnv?)")
        if name in SECRET_VARS and "secretKeyRef" not in (e.get("valueFrom") or {}):
            err(f"{where}: {name} must come from a secretKeyRef")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    admin = env.get("ADMIN_ADDR", {}).get("value", "")
    if "admin" not in ports or not admin.endswith(f":{ports['admin']}"):
        err(f"{where}: ADMIN_ADDR {admin!r} does not match the admin container port")
    expect = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expect.items():
        http = (c.get(probe) or {}).get("httpGet") or {}
        if http.get("path") != path or http.get("port") not in ("admin", ports.get("admin")):
            err(f"{where}: {probe} must GET {path} on the admin port")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
