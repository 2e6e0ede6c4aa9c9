#!/usr/bin/env python3
"""Render assertions and negative cases of the user-platform chart: one check per production
concern of issue 12 (docs/deployment.md, "Production checklist"), so none can come back.

Usage: check_chart_rules.py HELM CHART
Prints one line per check and exits 1 if any fails.
"""
import json
import re
import subprocess
import sys

import yaml

HELM, CHART = sys.argv[1], sys.argv[2]
APIS = ["--api-versions", "keda.sh/v1alpha1/ScaledObject",
        "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
        "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
results = []


def helm(*args):
    cmd = [HELM, "template", "check", CHART, "--namespace", "user-platform",
           "--kube-version", "1.33.0", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def render(*args):
    rc, out, err = helm(*args)
    if rc != 0:
        raise AssertionError(f"helm template {' '.join(args)} failed: {err.strip()[-400:]}")
    return [d for d in yaml.safe_load_all(out) if d]


def check(name, fn):
    try:
        fn()
        results.append(("ok", name))
    except AssertionError as e:
        results.append(("FAIL", f"{name}: {e}"))


def fails(pattern, *args):
    def run():
        rc, _, err = helm(*args)
        assert rc != 0, "rendered although it should not"
        assert re.search(pattern, err), f"unexpected error: {err.strip()[-300:]}"
    return run


def objs(docs, kind, name_part=""):
    return [d for d in docs if d["kind"] == kind and name_part in d["metadata"]["name"]]


def one(docs, kind, name_part=""):
    found = objs(docs, kind, name_part)
    assert len(found) == 1, f"expected one {kind} *{name_part}*, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def container(docs, workload, name):
    w = one(docs, workload[0], workload[1])
    return next(c for c in w["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def env(c):
    return {e["name"]: e for e in c.get("env", [])}


# ------------------------------------------------------------------ 1. CRD objects follow the cluster
def crds_follow_cluster():
    plain = render()
    kinds = {d["kind"] for d in plain}
    assert not kinds & CRD_KINDS, f"default render without the APIs has {kinds & CRD_KINDS}"
    one(plain, "HorizontalPodAutoscaler", "mail-service")
    full = render(*APIS)
    assert CRD_KINDS <= {d["kind"] for d in full}, "with --api-versions the CRD objects are missing"
    assert not objs(full, "HorizontalPodAutoscaler", "mail-service"), "KEDA and the CPU HPA both scale mail-service"
    off = render(*APIS, "--set", "mailService.keda.enabled=false", "--set", "serviceMonitor.enabled=false",
                 "--set", "prometheusRule.enabled=false")
    assert not {d["kind"] for d in off} & CRD_KINDS, "false still renders CRD objects"


check("default render has no KEDA/prometheus-operator object, --api-versions renders them, false never", crds_follow_cluster)
check("keda.enabled=true without the API fails naming it",
      fails(r"mailService\.keda\.enabled=true but the cluster does not serve keda\.sh/v1alpha1/ScaledObject", "--set", "mailService.keda.enabled=true"))
check("serviceMonitor.enabled=true without the API fails naming it",
      fails(r"does not serve monitoring\.coreos\.com/v1/ServiceMonitor", "--set", "serviceMonitor.enabled=true"))
check("prometheusRule.enabled=true without the API fails naming it",
      fails(r"does not serve monitoring\.coreos\.com/v1/PrometheusRule", "--set", "prometheusRule.enabled=true"))


# ------------------------------------------------------------------ 2. stable, kept credentials
def secret_data(docs):
    return {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}


def stable_credentials():
    seed = ["--set", "credentials.seed=" + "s" * 40, *APIS]
    a, b = secret_data(render(*seed)), secret_data(render(*seed))
    assert a == b, "two renders with credentials.seed give different Secrets"
    docs = render(*APIS)
    for kind_name in ("rabbitmq", "redis"):
        s = one(docs, "Secret", f"-{kind_name}")
        assert (s["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep", \
            f"Secret {s['metadata']['name']} is not kept on uninstall"
    data = secret_data(docs)
    rabbit = next(v for k, v in data.items() if k.endswith("-rabbitmq"))
    redis = next(v for k, v in data.items() if k.endswith("-redis"))
    for client in ("user-service", "mail-service", "keda"):
        conn = next(v for k, v in data.items() if k.endswith(f"-{client}-connection"))
        assert f":{rabbit[client + '-password']}@" in conn["amqp-url"], f"{client}: AMQP URL and broker password differ"
        if client != "keda":
            assert f":{redis[client + '-password']}@" in conn["redis-url"], f"{client}: Redis URL and ACL password differ"
            assert conn["redis-url"].startswith(f"redis://{client}:"), f"{client}: not its own Redis user"
        assert conn["amqp-url"].startswith(f"amqp://{client}:"), f"{client}: not its own AMQP user"


check("generated credentials: identical across renders (seed), kept on uninstall, consistent in every Secret", stable_credentials)
check("schema rejects credentials inside redis.external.url",
      fails(r"redis\.external\.url|does not match pattern", "--set", "redis.enabled=false",
            "--set", "redis.external.url=redis://user:secret@redis.example.com:6379"))


def existing_secret():
    docs = render(*APIS, "--set", "rabbitmq.auth.existingSecret=mq", "--set", "redis.auth.existingSecret=rd")
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets rendered although existingSecret is set"
    us = env(container(docs, ("Deployment", "user-service"), "user-service"))
    assert us["AMQP_URL"]["valueFrom"]["secretKeyRef"] == {"name": "mq", "key": "user-service-url"}
    assert us["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "rd", "key": "user-service-url"}
    ta = one(docs, "TriggerAuthentication")
    assert ta["spec"]["secretTargetRef"][0]["name"] == "mq" and ta["spec"]["secretTargetRef"][0]["key"] == "keda-url"


check("existingSecret for the bundled brokers: no Secret rendered, every reference points at it", existing_secret)


# ------------------------------------------------------------------ 3. least privilege
def least_privilege():
    docs = render(*APIS)
    redis = one(docs, "StatefulSet", "-redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--aclfile" in args and "--protected-mode" not in args, f"Redis args: {args}"
    acl = one(docs, "ConfigMap", "redis-config")["data"]["init.sh"]
    assert "user default off" in acl
    assert re.search(r"user user-service on .*~up:\* \+@all -@dangerous", acl), "user-service ACL"
    assert re.search(r"user mail-service on .*~up:sent:\* ~up:sending:\* \+@all -@dangerous", acl), "mail-service ACL"
    tail = one(docs, "ConfigMap", "rabbitmq-config")["data"]["definitions-tail.json"]
    perms = {p["user"]: p for p in json.loads("{" + tail)["permissions"]}
    us, ms, keda = perms["user-service"], perms["mail-service"], perms["keda"]
    assert re.fullmatch(us["write"], "user.events") and re.fullmatch(us["write"], "amq.default")
    assert not re.fullmatch(us["read"], "email_queue.retry.0") and not re.fullmatch(us["configure"], "email_queue.retry.0")
    assert re.fullmatch(ms["configure"], "email_queue.retry.2") and re.fullmatch(ms["read"], "email_queue")
    assert not re.fullmatch(ms["write"], "user.events"), "mail-service may publish domain events"
    assert keda["configure"] == "^$" and keda["write"] == "^$" and re.fullmatch(keda["read"], "email_queue")
    refs = {}
    for svc in ("user-service", "mail-service"):
        e = env(container(docs, ("Deployment", svc), svc))
        refs[svc] = (e["AMQP_URL"]["valueFrom"]["secretKeyRef"]["name"], e["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"])
        assert refs[svc][0].endswith(f"-{svc}-connection") and refs[svc][1].endswith(f"-{svc}-connection"), refs[svc]
    ms_env = env(container(docs, ("Deployment", "mail-service"), "mail-service"))
    assert ms_env["AMQP_PUBLISHER_USER"]["value"] == "user-service"
    ta = one(docs, "TriggerAuthentication")
    assert ta["spec"]["secretTargetRef"][0]["name"].endswith("-keda-connection"), "KEDA shares a service's user"


check("Redis ACL users per service, default user off; RabbitMQ users per client with narrow permissions; own URL Secrets", least_privilege)


# ------------------------------------------------------------------ 4. memory caps
def memory_caps():
    docs = render("--set", "redis.resources.limits.memory=512Mi", "--set", "rabbitmq.resources.limits.memory=2Gi")
    args = one(docs, "StatefulSet", "-redis")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == str(256 * 1024 * 1024), "Redis maxmemory is not half the limit"
    conf = one(docs, "ConfigMap", "rabbitmq-config")["data"]["10-user-platform.conf"]
    assert f"total_memory_available_override_value = {2 * 1024 ** 3}" in conf, "RabbitMQ memory not capped at the limit"


check("Redis maxmemory (half the limit) and RabbitMQ total_memory_available_override_value", memory_caps)


# ------------------------------------------------------------------ 5. broker restarts
def broker_restarts():
    a = render()
    for sts in objs(a, "StatefulSet"):
        labels = sts["spec"]["template"]["metadata"]["labels"]
        assert "helm.sh/chart" not in labels and "app.kubernetes.io/version" not in labels, \
            f"{sts['metadata']['name']}: chart/version labels in the pod template restart it on every bump"
    b = render("--set-json", "rabbitmq.memoryHighWatermark=0.5")
    ca = one(a, "StatefulSet", "-rabbitmq")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    cb = one(b, "StatefulSet", "-rabbitmq")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert ca != cb, "RabbitMQ checksum/config does not follow its configuration"


check("no chart/version labels in broker pod templates; RabbitMQ checksum/config hashes the config", broker_restarts)


# ------------------------------------------------------------------ 6-7. scaling, shutdown, budgets
check("KEDA minReplicaCount 0 with activationQueueLength > 0 is rejected",
      fails(r"activationQueueLength", *APIS, "--set", "mailService.keda.minReplicaCount=0",
            "--set", "mailService.keda.activationQueueLength=1"))


def kube_version():
    chart = yaml.safe_load(open(f"{CHART}/Chart.yaml"))
    assert chart["kubeVersion"].startswith(">=1.30"), "preStop sleep needs Kubernetes 1.30"


check("kubeVersion >= 1.30 (the preStop sleep action)", kube_version)
check("Kubernetes 1.29 is refused", fails(r"kubeVersion|incompatible|not compatible|1\.29", "--kube-version", "1.29.5"))


def grace():
    docs = render("--set", "userService.config.shutdownTimeout=1m", "--set", "mailService.config.shutdownTimeout=45s")
    us = one(docs, "Deployment", "user-service")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    ms = one(docs, "Deployment", "mail-service")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert (us, ms) == (75, 55), f"grace periods {us}, {ms} (want 60+5+10, 45+10)"


check("terminationGracePeriodSeconds follows shutdownTimeout (+ preStop sleep)", grace)
check("a grace period shorter than shutdownTimeout is rejected",
      fails(r"must exceed", "--set", "userService.terminationGracePeriodSeconds=20"))


def pdb_single():
    docs = render("--set", "userService.autoscaling.enabled=false", "--set", "userService.replicaCount=1")
    assert not objs(docs, "PodDisruptionBudget", "user-service"), "PDB over a single replica"
    assert not objs(render(), "PodDisruptionBudget", "mail-service"), "PDB over the single mail-service replica"
    assert objs(render(), "PodDisruptionBudget", "user-service"), "no PDB with two replicas"


check("no PodDisruptionBudget for a single replica", pdb_single)


def hash_concurrency():
    docs = render("--set", "userService.resources.limits.cpu=null")
    ref = env(container(docs, ("Deployment", "user-service"), "user-service"))["HASH_CONCURRENCY"]["valueFrom"]["resourceFieldRef"]
    assert ref["resource"] == "requests.cpu", ref


check("HASH_CONCURRENCY from requests.cpu without a CPU limit", hash_concurrency)
check("no CPU limit, request or hashConcurrency is rejected",
      fails(r"HASH_CONCURRENCY", "--set", "userService.resources.limits.cpu=null", "--set", "userService.resources.requests.cpu=null"))


# ------------------------------------------------------------------ 8. network
def network():
    docs = render(*APIS)
    for np in objs(docs, "NetworkPolicy"):
        for rule in np["spec"].get("egress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if 53 in ports:
                assert "to" not in rule and 5353 in ports, f"{np['metadata']['name']}: DNS egress narrowed by default"
    rabbit = one(docs, "NetworkPolicy", "-rabbitmq")
    peers = [p for r in rabbit["spec"]["ingress"] for p in r.get("from", [])]
    assert {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}}} in peers, \
        "KEDA's namespace is assumed"


check("DNS egress works with NodeLocal DNSCache/OpenShift; KEDA found in any namespace", network)


# ------------------------------------------------------------------ 9. what chart users expect
def extras():
    docs = render(*APIS, "-f", f"{CHART}/ci/rabbitmq-ha-values.yaml")
    for d in docs:
        # The alert rules and dashboards (templates/prometheusrule.yaml, dashboards.yaml) are
        # checked with their own templates.
        dashboard = "grafana_dashboard" in (d["metadata"].get("labels") or {})
        if d["kind"] not in ("Pod", "PrometheusRule") and not dashboard:
            assert (d["metadata"].get("annotations") or {}).get("owner.example.com/team") == "identity", \
                f"{d['kind']}/{d['metadata']['name']}: commonAnnotations missing"
    us = one(docs, "Deployment", "user-service")["spec"]["template"]["spec"]
    c = us["containers"][0]
    assert c["envFrom"] and any(v["name"] == "custom-ca" for v in us["volumes"]) \
        and any(m["name"] == "custom-ca" for m in c["volumeMounts"]), "extraEnvFrom/extraVolumes/extraVolumeMounts"
    assert one(docs, "HorizontalPodAutoscaler", "user-service")["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert one(docs, "ScaledObject")["spec"]["advanced"]["restoreToOriginalReplicaCount"] is False
    sm = one(docs, "ServiceMonitor", "user-service")["spec"]["endpoints"][0]
    assert sm["metricRelabelings"][0]["action"] == "drop"
    for sts in objs(docs, "StatefulSet"):
        t = sts["spec"]["template"]
        assert t["metadata"]["annotations"]["backup.example.com/exclude"] == "true"
        assert t["spec"]["priorityClassName"] == "system-cluster-critical"
    side = render("--set-json", 'mailService.sidecars=[{"name":"proxy","image":"envoy:v1"}]',
                  "--set-json", 'mailService.initContainers=[{"name":"wait","image":"busybox:1"}]',
                  "--set-json", 'redis.podSecurityContext={"runAsNonRoot":true}')
    ms = one(side, "Deployment", "mail-service")["spec"]["template"]["spec"]
    assert [c["name"] for c in ms["containers"]] == ["mail-service", "proxy"] and ms["initContainers"][0]["name"] == "wait"
    assert one(side, "StatefulSet", "-redis")["spec"]["template"]["spec"]["securityContext"] == {"runAsNonRoot": True}


check("extraEnvFrom, extraVolumes, initContainers, sidecars, commonAnnotations, HPA behavior, KEDA advanced, relabelings, broker pod overrides", extras)


def admin_service_wrapper():
    docs = render(*APIS)
    names = [d["metadata"]["name"] for d in objs(docs, "Service", "user-service")]
    assert len(names) == 2, names
    admin_service_checks(docs)


def admin_service_checks(docs):
    services = {d["metadata"]["name"]: d for d in objs(docs, "Service", "user-service")}
    pub = next(s for n, s in services.items() if not n.endswith("-admin"))
    adm = next(s for n, s in services.items() if n.endswith("-admin"))
    assert [p["name"] for p in pub["spec"]["ports"]] == ["http"], "the public Service carries the admin port"
    assert adm["spec"]["type"] == "ClusterIP" and [p["name"] for p in adm["spec"]["ports"]] == ["admin"]
    sm = one(docs, "ServiceMonitor", "user-service")
    assert sm["spec"]["selector"]["matchLabels"].get("userplatform.io/endpoint") == "admin"
    job = [r for r in sm["spec"]["endpoints"][0]["relabelings"] if r.get("targetLabel") == "job"]
    assert job and job[0]["replacement"] == pub["metadata"]["name"], "job label changed"


check("admin port on its own ClusterIP Service, scraped with an unchanged job label", admin_service_wrapper)


# ------------------------------------------------------------------ 5 (issue). RabbitMQ HA
def rabbitmq_ha():
    docs = render(*APIS, "--set", "rabbitmq.replicas=3")
    sts = one(docs, "StatefulSet", "-rabbitmq")
    assert sts["spec"]["replicas"] == 3
    conf = one(docs, "ConfigMap", "rabbitmq-config")["data"]
    assert "cluster_formation.peer_discovery_backend = kubernetes" in conf["10-user-platform.conf"]
    assert "quorum_queue.initial_cluster_size = 3" in conf["10-user-platform.conf"]
    assert "rabbitmq_peer_discovery_k8s" in conf["enabled_plugins"]
    assert one(docs, "PodDisruptionBudget", "-rabbitmq")["spec"]["maxUnavailable"] == 1
    one(docs, "Role", "peer-discovery")
    init = sts["spec"]["template"]["spec"]["initContainers"][0]
    assert "ERLANG_COOKIE" in env(init)
    check_single = render()
    assert not objs(check_single, "PodDisruptionBudget", "-rabbitmq") and not objs(check_single, "Role", "peer-discovery")


check("rabbitmq.replicas=3: peer discovery, quorum queues on every node, PDB, Erlang cookie", rabbitmq_ha)
check("schema rejects an even RabbitMQ cluster size", fails(r"value must be one of", "--set", "rabbitmq.replicas=2"))

# ------------------------------------------------------------------ hosted pages (userService.pages)
PAGES_VALUES = f"{CHART}/ci/pages-values.yaml"


def us_pod(docs):
    return one(docs, "Deployment", "user-service")["spec"]["template"]


def pages_defaults():
    docs = render()
    e = env(container(docs, ("Deployment", "user-service"), "user-service"))
    for var in ("PUBLIC_URL", "VERIFY_EMAIL_URL", "PASSWORD_RESET_URL", "PAGES_TEMPLATE_DIR", "SESSION_COOKIE_DOMAIN"):
        assert e[var]["value"] == "", f"{var} is {e[var]['value']!r}, want empty (the service's default)"
    assert e["PAGES_ENABLED"]["value"] == "true"
    ms = env(container(docs, ("Deployment", "mail-service"), "mail-service"))
    assert ms["ALLOWED_LINK_ORIGINS"]["value"] == "http://localhost:8080", ms["ALLOWED_LINK_ORIGINS"]
    assert not objs(docs, "ConfigMap", "user-service-pages")
    assert "checksum/pages-templates" not in (us_pod(docs)["metadata"].get("annotations") or {})
    # An Ingress without TLS still gives https (TLS may end in front of it; the cookies need it),
    # and the link origins follow PUBLIC_URL.
    docs = render("--set", "userService.ingress.enabled=true")
    e = env(container(docs, ("Deployment", "user-service"), "user-service"))
    assert e["PUBLIC_URL"]["value"] == "https://users.example.com", e["PUBLIC_URL"]
    ms = env(container(docs, ("Deployment", "mail-service"), "mail-service"))
    assert ms["ALLOWED_LINK_ORIGINS"]["value"] == "https://users.example.com", ms["ALLOWED_LINK_ORIGINS"]
    # Explicit link URLs are kept and their origins allowed next to the pages'.
    docs = render("--set", "userService.pages.publicUrl=https://login.example.com/",
                  "--set", "userService.config.verifyEmailUrl=https://app.example.com/confirm")
    e = env(container(docs, ("Deployment", "user-service"), "user-service"))
    assert e["PUBLIC_URL"]["value"] == "https://login.example.com"
    assert e["VERIFY_EMAIL_URL"]["value"] == "https://app.example.com/confirm"
    ms = env(container(docs, ("Deployment", "mail-service"), "mail-service"))
    assert ms["ALLOWED_LINK_ORIGINS"]["value"] == "https://app.example.com,https://login.example.com", ms["ALLOWED_LINK_ORIGINS"]


check("pages: PUBLIC_URL empty without an Ingress, https://<first host> with one, link URLs and ALLOWED_LINK_ORIGINS follow it, explicit URLs kept", pages_defaults)


def pages_templates():
    docs = render("-f", PAGES_VALUES)
    values = yaml.safe_load(open(PAGES_VALUES))["userService"]["pages"]
    cm = one(docs, "ConfigMap", "user-service-pages")
    assert cm["data"] == values["templates"]["files"], "ConfigMap data differs from templates.files"
    pod = us_pod(docs)
    c = next(c for c in pod["spec"]["containers"] if c["name"] == "user-service")
    e = env(c)
    mount = next(m for m in c["volumeMounts"] if m["name"] == "pages-templates")
    assert mount["mountPath"] == e["PAGES_TEMPLATE_DIR"]["value"] and mount.get("readOnly") is True and "subPath" not in mount
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "pages-templates")
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    assert e["PUBLIC_URL"]["value"] == "https://accounts.example.com"
    assert e["SESSION_COOKIE_DOMAIN"]["value"] == "example.com"
    assert e["RETURN_TO_ORIGINS"]["value"] == ",".join(values["returnToOrigins"])
    assert e["PAGES_PRIMARY_COLOR"]["value"] == values["brand"]["primaryColor"]
    before = pod["metadata"]["annotations"]["checksum/pages-templates"]
    after = us_pod(render("-f", PAGES_VALUES, "--set-string", "userService.pages.templates.files.pages\\.css=x"))
    assert after["metadata"]["annotations"]["checksum/pages-templates"] != before, "checksum does not follow the files"
    docs = render("--set", "userService.pages.templates.existingConfigMap=brand-pages")
    assert not objs(docs, "ConfigMap", "user-service-pages"), "chart ConfigMap rendered with existingConfigMap"
    pod = us_pod(docs)
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "pages-templates")
    assert vol["configMap"]["name"] == "brand-pages"
    assert "checksum/pages-templates" not in (pod["metadata"].get("annotations") or {})


check("pages: inline templates in the chart's ConfigMap, mounted read-only at PAGES_TEMPLATE_DIR, checksum rolls the pods; existingConfigMap mounted as is", pages_templates)
check("pages off without link URLs is rejected",
      fails(r"userService\.config\.verifyEmailUrl is required with userService\.pages\.enabled=false", "--set", "userService.pages.enabled=false"))
check("a cookie domain that is not the public host's parent is rejected",
      fails(r"cookieDomain \"example\.org\" must be the public URL's host", "--set", "userService.pages.publicUrl=https://accounts.example.com",
            "--set", "userService.pages.cookieDomain=example.org"))
check("a cookie domain without a public URL is rejected",
      fails(r"cookieDomain needs a public URL", "--set", "userService.pages.cookieDomain=example.com"))
check("both templates sources at once are rejected",
      fails(r"set existingConfigMap or files, not both", "--set", "userService.pages.templates.existingConfigMap=x",
            "--set-string", "userService.pages.templates.files.fr\\.json=x"))
check("a wildcard first Ingress host without publicUrl is rejected",
      fails(r"userService\.pages\.publicUrl is required", "--set", "userService.ingress.enabled=true",
            "--set-json", 'userService.ingress.hosts=[{"host":"*.example.com","paths":[{"path":"/","pathType":"Prefix"}]}]'))
check("schema rejects an http public URL that is not localhost",
      fails(r"publicUrl.*does not match pattern", "--set", "userService.pages.publicUrl=http://accounts.example.com"))
check("schema rejects a colour that is not #rrggbb",
      fails(r"primaryColor.*does not match pattern", "--set", "userService.pages.brand.primaryColor=blue"))
check("schema rejects a template file name the service does not read",
      fails(r"does not match pattern", "--set-string", "userService.pages.templates.files.theme\\.txt=x"))

width = max(len(s) for s, _ in results)
for status, name in results:
    print(f"{status:<{width}} {name}")
failed = sum(1 for s, _ in results if s != "ok")
print(f"chart rules: {len(results)} checks, {failed} failed")
sys.exit(1 if failed else 0)
