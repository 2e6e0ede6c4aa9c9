#!/usr/bin/env python3
"""Render assertions and negative cases of the user-platform chart: one check per production
concern of issue 12 (docs/deployment.md, "Production checklist"), so none can come back.

Usage: check_chart_rules.py HELM CHART
Prints one line per check and exits 1 if any fails.
"""
import atexit
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

HELM, CHART = sys.argv[1], sys.argv[2]
APIS = ["--api-versions", "keda.sh/v1alpha1/ScaledObject",
        "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
        "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]
CRD_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}
results = []
# mailService.smtp.host has no default (the chart fails without it): every render names a relay
# in a values file of its own, first, so that the ci/ files and --set still override it.
SMTP_VALUES = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
SMTP_VALUES.write("mailService:\n  smtp:\n    host: smtp.example.com\n")
SMTP_VALUES.close()
atexit.register(os.unlink, SMTP_VALUES.name)


def helm(*args):
    cmd = [HELM, "template", "check", CHART, "--namespace", "user-platform",
           "--kube-version", "1.33.0", "-f", SMTP_VALUES.name, *args]
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


check("issue 31: mailService.smtp.host has no default; rendering without it fails naming the value",
      fails(r"mailService\.smtp\.host is required: the SMTP relay", "--set", "mailService.smtp.host="))


# ------------------------------------------------------------------ 2. stable, kept credentials
def secret_data(docs):
    return {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}


def stable_credentials():
    seed = ["--set", "credentials.mode=seed", "--set", "credentials.seed=" + "s" * 40, *APIS]
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
    docs = render("--set", "redis.resources.limits.memory=512Mi", "--set", "redis.resources.requests.memory=512Mi",
                  "--set", "rabbitmq.resources.limits.memory=2Gi", "--set", "rabbitmq.resources.requests.memory=2Gi")
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
        assert t["spec"]["priorityClassName"] == "user-platform-brokers"
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
    docs = render("--set", "userService.ingress.enabled=true", "--set", "userService.config.trustedProxies=10.0.0.0/8")
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

# ================================================================== issue 27: GitOps, upgrades, outages
SEED = ["--set", "credentials.mode=seed"]


def pod_annotations(docs, kind, name_part):
    return one(docs, kind, name_part)["spec"]["template"]["metadata"].get("annotations") or {}


# ------------------------------------------------------------------ 27.1 credentials mode, services roll
def credentials_roll_services():
    a = render(*APIS, *SEED, "--set", "credentials.seed=" + "a" * 40)
    b = render(*APIS, *SEED, "--set", "credentials.seed=" + "b" * 40)
    for kind, name in (("Deployment", "user-service"), ("Deployment", "mail-service"),
                       ("StatefulSet", "-rabbitmq"), ("StatefulSet", "-redis")):
        key = "checksum/connection" if kind == "Deployment" else "checksum/credentials"
        ca, cb = pod_annotations(a, kind, name).get(key), pod_annotations(b, kind, name).get(key)
        assert ca and cb and ca != cb, f"{kind} {name}: {key} does not follow the credentials ({ca}, {cb})"
    # The same seed gives the same pods (no roll on every GitOps render).
    assert pod_annotations(a, "Deployment", "user-service") == \
        pod_annotations(render(*APIS, *SEED, "--set", "credentials.seed=" + "a" * 40), "Deployment", "user-service")
    ext = render(*APIS, "--set", "credentials.mode=existingSecret", "--set", "rabbitmq.auth.existingSecret=mq",
                 "--set", "redis.auth.existingSecret=rd")
    assert not [d for d in ext if d["kind"] == "Secret"], "existingSecret mode generated a Secret"


check("27.1 credentials.mode seed: a new seed rolls both services and both brokers, the same seed nothing; existingSecret generates none", credentials_roll_services)
check("27.1 credentials.mode=seed without a seed is rejected", fails(r"credentials\.mode=seed needs credentials\.seed", *SEED))
check("27.1 a seed with credentials.mode=lookup is rejected (the mode is explicit)",
      fails(r"credentials\.seed is set but credentials\.mode is lookup", "--set", "credentials.seed=" + "s" * 40))
check("27.1 credentials.mode=existingSecret without the brokers' Secrets is rejected",
      fails(r"credentials\.mode=existingSecret: set rabbitmq\.auth\.existingSecret", "--set", "credentials.mode=existingSecret"))
check("27.1 schema rejects an unknown credentials.mode", fails(r"value must be one of", "--set", "credentials.mode=random"))


# ------------------------------------------------------------------ 27.2 client addresses behind proxies
check("27.2 Ingress without trustedProxies is rejected",
      fails(r"trustedProxies is empty with userService\.ingress\.enabled", "--set", "userService.ingress.enabled=true"))
check("27.2 LoadBalancer Service without externalTrafficPolicy Local or trustedProxies is rejected",
      fails(r"externalTrafficPolicy", "--set", "userService.service.type=LoadBalancer"))


def proxies_opt_out():
    render("--set", "userService.ingress.enabled=true", "--set", "userService.config.rateLimits.allowProxyAddress=true")
    docs = render("--set", "userService.service.type=LoadBalancer", "--set", "userService.service.externalTrafficPolicy=Local")
    svc = [d for d in objs(docs, "Service", "user-service") if d["spec"]["type"] == "LoadBalancer"][0]
    assert svc["spec"]["externalTrafficPolicy"] == "Local"
    prod = yaml.safe_load(open(f"{CHART}/ci/production-values.yaml"))
    assert prod["userService"]["ingress"]["enabled"] and prod["userService"]["config"].get("trustedProxies"), \
        "the production example has an Ingress without trustedProxies"


check("27.2 explicit opt-out renders; LoadBalancer with externalTrafficPolicy Local; the production example sets trustedProxies", proxies_opt_out)


# ------------------------------------------------------------------ 27.3 RabbitMQ cluster restart
def rabbitmq_restart():
    docs = render(*APIS, "--set", "rabbitmq.replicas=3", "--set", "rabbitmq.quorumWaitSeconds=300")
    sts = one(docs, "StatefulSet", "-rabbitmq")
    assert sts["spec"].get("podManagementPolicy") == "Parallel", "a cluster starts in order (deadlock after a full stop)"
    pod = sts["spec"]["template"]["spec"]
    c = next(c for c in pod["containers"] if c["name"] == "rabbitmq")
    cmd = " ".join(c["lifecycle"]["preStop"]["exec"]["command"])
    assert "await_online_quorum_plus_one" in cmd and "--timeout 300" in cmd, cmd
    assert pod["terminationGracePeriodSeconds"] >= 300 + 30, pod["terminationGracePeriodSeconds"]
    single = one(render(), "StatefulSet", "-rabbitmq")
    assert "podManagementPolicy" not in single["spec"], "a single node changed podManagementPolicy (immutable)"


check("27.3 RabbitMQ cluster: Parallel pod management, preStop await_online_quorum_plus_one, grace period above its timeout; single node unchanged", rabbitmq_restart)


# ------------------------------------------------------------------ 27.4 Redis TLS (25.5: the services have it now)
def rediss_url():
    docs = render("--set", "redis.enabled=false", "--set", "redis.external.url=rediss://redis.example.com:6380",
                  "--set", "redis.external.tls.enabled=true")
    for w in ("user-service", "mail-service"):
        e = env(container(docs, ("Deployment", w), w))
        assert e["REDIS_URL"]["value"] == "rediss://redis.example.com:6380", e["REDIS_URL"]
        assert e["REDIS_MODE"]["value"] == "standalone" and "REDIS_TLS" not in e, "standalone sets REDIS_TLS (refused)"


check("27.4 a rediss:// external URL renders (standalone TLS; no REDIS_TLS, which that mode refuses)", rediss_url)
check("27.4 redis.external.tls.enabled with a redis:// URL is rejected",
      fails(r"needs a rediss:// URL", "--set", "redis.enabled=false", "--set", "redis.external.url=redis://r.example.com:6379",
            "--set", "redis.external.tls.enabled=true"))


# ------------------------------------------------------------------ 27.5 KEDA takes the HPA over
def keda_transfer():
    plain = render()
    hpa = one(plain, "HorizontalPodAutoscaler", "mail-service")
    so = one(render(*APIS), "ScaledObject")
    assert so["metadata"]["annotations"].get("scaledobject.keda.sh/transfer-hpa-ownership") == "true"
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] == hpa["metadata"]["name"], \
        "the ScaledObject does not take over the fallback HPA"
    assert hpa["metadata"]["name"] == "keda-hpa-" + so["metadata"]["name"], "not KEDA's default HPA name"
    ha = one(render(*APIS, "-f", f"{CHART}/ci/rabbitmq-ha-values.yaml"), "ScaledObject")
    assert ha["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"], "advanced values lost"


check("27.5 ScaledObject takes over the CPU HPA (transfer-hpa-ownership, same name: KEDA's default); advanced values kept", keda_transfer)


# ------------------------------------------------------------------ 27.6 checksums of the rendered ConfigMaps
def config_checksums():
    base = render(*APIS, "--set", "rabbitmq.replicas=3")
    cases = [("--set", "emailQueue=mails"), ("--set", "userService.config.eventsExchange=ev"),
             ("--set", "rabbitmq.auth.users.keda.username=scaler"), ("--set", "rabbitmq.clusterDomain=example.org"),
             ("--set", "clusterDomain=example.org"), ("--set", "rabbitmq.vhost=up"),
             ("--set", "redis.auth.adminUsername=root"), ("--set", "mailService.config.redisKeyPrefix=m:"),
             ("--set-json", "rabbitmq.memoryHighWatermark=0.5"), ("--set", "userService.replicaCount=4")]
    for args in cases:
        docs = render(*APIS, "--set", "rabbitmq.replicas=3", *args)
        for broker in ("rabbitmq", "redis"):
            data_a = one(base, "ConfigMap", f"{broker}-config")["data"]
            data_b = one(docs, "ConfigMap", f"{broker}-config")["data"]
            sum_a = pod_annotations(base, "StatefulSet", f"-{broker}")["checksum/config"]
            sum_b = pod_annotations(docs, "StatefulSet", f"-{broker}")["checksum/config"]
            assert (data_a != data_b) == (sum_a != sum_b), \
                f"{broker} with {' '.join(args)}: ConfigMap changed {data_a != data_b}, checksum changed {sum_a != sum_b}"


check("27.6 broker checksum/config changes exactly when the rendered ConfigMap data changes", config_checksums)


# ------------------------------------------------------------------ 27.8 images
DIGEST = "sha256:" + "ab" * 32


def images():
    docs = render("--set", "redis.image.digest=" + DIGEST)
    redis = one(docs, "StatefulSet", "-redis")["spec"]["template"]["spec"]
    assert redis["containers"][0]["image"] == f"docker.io/library/redis:7.4.6-alpine@{DIGEST}", redis["containers"][0]["image"]
    assert redis["initContainers"][0]["image"] == redis["containers"][0]["image"]
    values = yaml.safe_load(open(f"{CHART}/values.yaml"))
    redis_tag = tuple(int(x) for x in values["redis"]["image"]["tag"].split("-")[0].split("."))
    assert redis_tag >= (7, 4, 6), f"Redis {redis_tag} has the Lua RCE (CVE-2025-49844)"
    rabbit_tag = tuple(int(x) for x in values["rabbitmq"]["image"]["tag"].split("-")[0].split("."))
    assert rabbit_tag >= (4, 1, 0), f"RabbitMQ {rabbit_tag}"
    all_digests = []
    for key in ("userService", "mailService", "redis", "rabbitmq", "tests"):
        all_digests += ["--set", f"{key}.image.digest={DIGEST}"]
    docs = render(*APIS, "--set", "global.requireImageDigests=true", "--set", "global.imageRegistry=mirror.example.com/hub",
                  *all_digests)
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec") or (d["spec"] if d["kind"] == "Pod" else None)
        for c in (spec or {}).get("containers", []) + (spec or {}).get("initContainers", []):
            assert c["image"].startswith("mirror.example.com/hub/") and c["image"].endswith("@" + DIGEST), c["image"]


check("27.8 patched broker tags; every image takes a digest (repo:tag@digest) and global.imageRegistry", images)
check("27.8 global.requireImageDigests refuses an image without a digest",
      fails(r"global\.requireImageDigests: redis\.image\.digest is empty", "--set", "global.requireImageDigests=true",
            *[a for k in ("userService", "mailService", "rabbitmq", "tests") for a in ("--set", f"{k}.image.digest={DIGEST}")]))


def production_digests():
    prod = yaml.safe_load(open(f"{CHART}/ci/production-values.yaml"))
    assert prod.get("global", {}).get("requireImageDigests") is True, "the production example does not require digests"


check("27.8 the production example requires digests for every image it runs", production_digests)


# ------------------------------------------------------------------ 27.9 retry queues survive a node
def retry_queue_type():
    def kind(*args):
        return env(container(render(*args), ("Deployment", "mail-service"), "mail-service"))["RETRY_QUEUE_TYPE"]["value"]
    assert kind() == "classic", "single-node default is not classic"
    assert kind("--set", "rabbitmq.replicas=3") == "quorum", "a 3-node cluster keeps classic retry queues"
    assert kind("--set", "rabbitmq.replicas=3", "--set", "mailService.config.retryQueueType=classic") == "classic", \
        "an explicit classic is overridden"
    ext = ("--set", "rabbitmq.enabled=false", "--set", "rabbitmq.external.existingSecret=mq")
    assert kind(*ext, "--set", "rabbitmq.replicas=3") == "classic", "replicas of an unused bundled broker count"
    assert kind(*ext, "--set", "mailService.config.retryQueueType=quorum") == "quorum"


check("27.9 RETRY_QUEUE_TYPE: quorum on a bundled cluster, classic on one node, explicit value wins", retry_queue_type)
check("27.9 schema rejects a retry queue type the service does not know",
      fails(r"value must be one of", "--set", "mailService.config.retryQueueType=stream"))


# ------------------------------------------------------------------ 25.5 Redis modes (issue 25, part 5)
SENTINEL_VALUES = f"{CHART}/ci/redis-sentinel-values.yaml"
CLUSTER_VALUES = f"{CHART}/ci/external-redis-cluster-values.yaml"
PASSWORD_VARS = re.compile(r"(^|_)PASSWORD$|^REDISCLI_AUTH$|^REDIS_URL$")


def service_envs(docs):
    return {w: env(container(docs, ("Deployment", w), w)) for w in ("user-service", "mail-service")}


def no_plain_redis_secrets(docs):
    """No password as a plain env value, and no URL with credentials, in any container."""
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec") or {}
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                if "value" in e and PASSWORD_VARS.search(e["name"]):
                    assert e["name"] == "REDIS_URL" and "@" not in e["value"], \
                        f"{d['metadata']['name']}/{c['name']}: {e['name']} is a plain value"


def sentinel_bundled():
    docs = render(*APIS, "-f", SENTINEL_VALUES)
    sts = one(docs, "StatefulSet", "-redis")
    pod = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 3, f"replicas {sts['spec']['replicas']}"
    names = [c["name"] for c in pod["containers"]]
    assert names[:2] == ["redis", "sentinel"], f"containers {names}"
    redis = pod["containers"][0]
    args = redis["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction", "sentinel data nodes may evict"
    assert redis["command"] == ["sh", "/config/start-redis.sh"]
    cm = one(docs, "ConfigMap", "-redis")["data"]
    for key in ("start-redis.sh", "start-sentinel.sh", "common.sh"):
        assert key in cm, f"ConfigMap lacks {key}"
    assert "sentinel monitor user-platform ${host} 6379 2" in cm["start-sentinel.sh"]
    assert 'requirepass "${SENTINEL_PASSWORD}"' in cm["start-sentinel.sh"], "sentinels without their own auth"
    assert "masteruser admin" in cm["start-redis.sh"], "replicas do not authenticate"
    # The per-client ACL users stay, limited to their keys, with ROLE for the primary check.
    acl = cm["init.sh"]
    assert re.search(r'user user-service on .* ~up:\* \+@all -@dangerous \+role"', acl), "user-service ACL user"
    assert re.search(r'user mail-service on .* ~up:sent:\* ~up:sending:\* \+@all -@dangerous \+role"', acl), "mail-service ACL user"
    assert "sentinel-password" in one(docs, "Secret", "-redis")["stringData"], "no generated sentinel password"
    pdb = one(docs, "PodDisruptionBudget", "-redis")
    assert pdb["spec"]["maxUnavailable"] == 1 and pdb["spec"]["selector"] == sts["spec"]["selector"]
    headless = one(docs, "Service", "-redis-headless")
    assert {p["name"] for p in headless["spec"]["ports"]} == {"redis", "sentinel"}
    envs = service_envs(docs)
    sentinels = [f"check-user-platform-redis-{i}.check-user-platform-redis-headless.user-platform.svc.cluster.local:26379" for i in range(3)]
    for w, e in envs.items():
        assert e["REDIS_MODE"]["value"] == "sentinel", f"{w}: REDIS_MODE {e['REDIS_MODE']}"
        assert e["REDIS_SENTINELS"]["value"].split(",") == sentinels, f"{w}: {e['REDIS_SENTINELS']}"
        assert e["REDIS_SENTINEL_MASTER"]["value"] == "user-platform"
        assert e["REDIS_USERNAME"]["value"] == w, f"{w}: not its own ACL user"
        assert e["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"{w}-password"
        assert e["REDIS_SENTINEL_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "sentinel-password"
        assert "REDIS_URL" not in e, f"{w}: REDIS_URL in sentinel mode (refused by the services)"
    assert envs["user-service"]["REDIS_WAIT_REPLICAS"]["value"] == "1" and "REDIS_WAIT_REPLICAS" not in envs["mail-service"]
    for d in objs(docs, "Secret", "-connection"):
        assert "redis-url" not in d["stringData"], f"{d['metadata']['name']}: a Redis URL nobody uses"
    np = one(docs, "NetworkPolicy", "-redis")
    assert any(p["port"] == "sentinel" for r in np["spec"]["ingress"] for p in r["ports"]), "sentinel port not admitted"
    assert np["spec"]["egress"], "Sentinel pods cannot reach each other"
    rules = json.dumps(one(docs, "PrometheusRule"))
    for alert in ("RedisMemoryNearMaxmemory", "RedisEvictingKeys", "RedisReplicationBroken", "RedisFailover"):
        assert alert in rules, f"{alert} missing"
    no_plain_redis_secrets(docs)


check("25.5 redis.architecture=sentinel: 3 data pods with a sentinel each, noeviction, PDB, own ACL users, "
      "the services in sentinel mode with secretKeyRef passwords, failover alert", sentinel_bundled)
check("25.5 the bundled Sentinel with an evicting policy is rejected",
      fails(r"needs redis\.maxmemoryPolicy=noeviction", "--set", "redis.architecture=sentinel", "--set", "redis.maxmemoryPolicy=allkeys-lru"))


def standalone_unchanged():
    docs = render()
    assert one(docs, "StatefulSet", "-redis")["spec"]["replicas"] == 1
    assert not objs(docs, "PodDisruptionBudget", "-redis"), "PDB for a single Redis"
    e = service_envs(docs)
    assert e["user-service"]["REDIS_MODE"]["value"] == "standalone" and "REDIS_URL" in e["user-service"]
    assert e["user-service"]["SESSION_MAX_PER_ACCOUNT"]["value"] == "50"
    assert e["user-service"]["REDIS_ALLOW_EVICTION"]["value"] == "false" == e["mail-service"]["REDIS_ALLOW_EVICTION"]["value"]
    assert "SESSION_MAX_PER_ACCOUNT" not in e["mail-service"]


check("25.5 the default stays one Redis pod in standalone mode; SESSION_MAX_PER_ACCOUNT and REDIS_ALLOW_EVICTION set", standalone_unchanged)


def external_cluster_tls():
    docs = render(*APIS, "-f", CLUSTER_VALUES)
    assert not objs(docs, "StatefulSet", "-redis"), "bundled Redis rendered with redis.enabled=false"
    envs = service_envs(docs)
    for w, e in envs.items():
        assert e["REDIS_MODE"]["value"] == "cluster" and "REDIS_URL" not in e
        assert len(e["REDIS_CLUSTER_NODES"]["value"].split(",")) == 3
        assert e["REDIS_TLS"]["value"] == "true"
        assert e["REDIS_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "redis-cluster-credentials", "key": "username"}
        assert e["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-cluster-credentials", "key": "password"}
        dep = one(docs, "Deployment", w)
        c = container(docs, ("Deployment", w), w)
        vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        for var in ("REDIS_CA_FILE", "REDIS_CLIENT_CERT_FILE", "REDIS_CLIENT_KEY_FILE"):
            path = e[var]["value"]
            mount = next((m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
            assert mount and mount.get("readOnly"), f"{w}: {var} {path} is not on a read-only mount"
            files = [i["path"] for s in vols[mount["name"]]["projected"]["sources"]
                     for i in (s.get("secret") or s.get("configMap"))["items"]]
            assert path[len(mount["mountPath"]) + 1:] in files, f"{w}: {var} {path} not in volume {mount['name']} ({files})"
        ca = next(s["configMap"] for s in vols["redis-tls"]["projected"]["sources"] if "configMap" in s)
        assert ca["name"] == "redis-ca", ca
    assert envs["user-service"]["REDIS_WAIT_REPLICAS"]["value"] == "1"
    assert envs["user-service"]["SESSION_MAX_PER_ACCOUNT"]["value"] == "20"
    no_plain_redis_secrets(docs)


check("25.5 external Redis Cluster over TLS: REDIS_MODE, seeds, REDIS_TLS, credentials by secretKeyRef, "
      "the CA and client certificate mounted read-only where REDIS_CA_FILE/CERT/KEY point", external_cluster_tls)

EXT = ["--set", "redis.enabled=false"]
EXT_SENTINEL = [*EXT, "--set", "redis.external.mode=sentinel",
                "--set", "redis.external.sentinel.sentinels={s1.example.internal:26379,s2.example.internal}",
                "--set", "redis.external.sentinel.masterName=main"]


def external_sentinel():
    docs = render(*EXT_SENTINEL, "--set", "redis.external.sentinel.existingSecret=sentinel-auth",
                  "--set", "redis.external.sentinel.tls=true", "--set", "redis.external.tls.enabled=true",
                  "--set", "redis.external.tls.ca.secret=redis-ca", "--set", "redis.external.auth.existingSecret=redis-auth",
                  "--set", "redis.external.auth.usernameKey=")
    for w, e in service_envs(docs).items():
        assert e["REDIS_MODE"]["value"] == "sentinel"
        assert e["REDIS_SENTINELS"]["value"] == "s1.example.internal:26379,s2.example.internal"
        assert e["REDIS_SENTINEL_MASTER"]["value"] == "main"
        assert e["REDIS_SENTINEL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "sentinel-auth", "key": "sentinel-password"}
        assert "REDIS_SENTINEL_USERNAME" not in e and "REDIS_USERNAME" not in e, "user names without their keys"
        assert e["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-auth", "key": "password"}
        assert e["REDIS_SENTINEL_TLS"]["value"] == "true" and e["REDIS_TLS"]["value"] == "true"
        assert e["REDIS_CA_FILE"]["value"] == "/etc/user-platform/redis-tls/ca.crt" and "REDIS_CLIENT_CERT_FILE" not in e
    no_plain_redis_secrets(docs)


check("25.5 external Sentinel: sentinels, master name, the sentinels' and the data nodes' passwords by secretKeyRef, TLS to both, CA from a Secret", external_sentinel)
check("25.5 external sentinel mode without sentinels is rejected",
      fails(r"redis\.external\.sentinel\.sentinels is required", *EXT, "--set", "redis.external.mode=sentinel",
            "--set", "redis.external.sentinel.masterName=main"))
check("25.5 external cluster mode without seed nodes is rejected",
      fails(r"redis\.external\.cluster\.nodes is required", *EXT, "--set", "redis.external.mode=cluster"))
check("25.5 a URL in sentinel mode is rejected (the services refuse REDIS_URL there)",
      fails(r"are for mode standalone", *EXT_SENTINEL, "--set", "redis.external.url=redis://r.example.com"))
check("25.5 a CA bundle without TLS is rejected",
      fails(r"need redis\.external\.tls\.enabled=true", *EXT_SENTINEL, "--set", "redis.external.tls.ca.configMap=ca"))
check("25.5 data-node credentials in standalone mode are rejected (they belong in the URL)",
      fails(r"in standalone mode the credentials are part of the URL", *EXT, "--set", "redis.external.existingSecret=r",
            "--set", "redis.external.auth.existingSecret=a"))
check("25.5 schema rejects an unknown Redis mode",
      fails(r"value must be one of", *EXT, "--set", "redis.external.mode=replicated"))
check("25.5 schema rejects a session cap above 1000",
      fails(r"maximum", "--set", "userService.config.sessionMaxPerAccount=5000"))


# ------------------------------------------------------------------ 27 low: Redis exporter
def redis_exporter():
    MON = ["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]
    off = render(*MON)
    sts = one(off, "StatefulSet", "-redis")
    assert [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]] == ["redis"], "exporter on by default"
    assert "redis_memory" not in json.dumps(off), "Redis alerts without an exporter"
    docs = render(*MON, "--set", "redis.metrics.enabled=true")
    sts = one(docs, "StatefulSet", "-redis")
    c = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "metrics")
    assert re.search(r":v\d+\.\d+\.\d+$", c["image"]), f"exporter image not pinned: {c['image']}"
    e = env(c)
    assert e["REDIS_USER"]["value"] == "exporter" and e["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "probe-password"
    acl = next(l for l in one(docs, "ConfigMap", "-redis")["data"]["init.sh"].splitlines() if "user exporter" in l)
    assert "resetkeys" in acl and "-@all" in acl and "~" not in acl and "+@" not in acl, f"exporter ACL too wide: {acl}"
    assert {"ServiceMonitor"} <= {d["kind"] for d in docs if d["metadata"]["name"].endswith("-redis")}, "no Redis ServiceMonitor"
    np = one(docs, "NetworkPolicy", "-redis")
    assert any(p["port"] == "metrics" for r in np["spec"]["ingress"] for p in r["ports"]), "metrics port not admitted"
    rules = json.dumps(one(docs, "PrometheusRule"))
    for alert in ("RedisMemoryNearMaxmemory", "RedisEvictingKeys", "RedisReplicationBroken"):
        assert alert in rules, f"{alert} missing"


check("27 low: redis.metrics adds a pinned redis_exporter with a read-only ACL user, its ServiceMonitor, NetworkPolicy port and alerts; off by default", redis_exporter)


def absence_alerts():
    rule = lambda *a: json.dumps(one(render("--api-versions", "monitoring.coreos.com/v1/PrometheusRule", *a), "PrometheusRule"))
    assert "UserServiceAbsent" not in rule(), "absence alerts without the chart's ServiceMonitors (no such job)"
    both = rule("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    assert "UserServiceAbsent" in both and "MailServiceAbsent" in both
    zero = rule("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "keda.sh/v1alpha1/ScaledObject",
                "--set", "mailService.keda.minReplicaCount=0")
    assert "MailServiceScalerErrors" in zero and "and on ()" in zero, "scale-to-zero mail-service alerts when idle"


check("27 low: absence alerts only with the chart's ServiceMonitors; the KEDA alert with KEDA; scale-to-zero needs waiting work", absence_alerts)


# ------------------------------------------------------------------ 27 also: admin Ingress
ADMIN_ING = ["--set", "userService.adminApi.enabled=true", "--set", "userService.adminApi.existingSecret=admin",
             "--set", "userService.adminApi.ingress.enabled=true", "--set", "userService.adminApi.ingress.className=internal",
             "--set-json", 'userService.adminApi.ingress.hosts=[{"host":"admin.internal.example.com","paths":[{"path":"/","pathType":"Prefix"}]}]']
ADMIN_TLS = ["--set-json", 'userService.adminApi.ingress.tls=[{"secretName":"admin-tls","hosts":["admin.internal.example.com"]}]']


def admin_ingress():
    assert not [d for d in render("--set", "userService.adminApi.enabled=true", "--set", "userService.adminApi.existingSecret=admin")
                if d["kind"] == "Ingress"], "an admin Ingress by default"
    docs = render(*ADMIN_ING, *ADMIN_TLS, "--set", "userService.ingress.enabled=true",
                  "--set", "userService.config.trustedProxies=10.0.0.0/8")
    ing = one(docs, "Ingress", "-admin-api")
    backends = {p["backend"]["service"]["name"] + ":" + p["backend"]["service"]["port"]["name"]
                for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {ing["metadata"]["name"] + ":admin-api"}, f"admin Ingress routes to {backends}"
    public = next(d for d in docs if d["kind"] == "Ingress" and d is not ing)
    assert all(p["backend"]["service"]["port"]["name"] == "http" for r in public["spec"]["rules"] for p in r["http"]["paths"]), \
        "the public Ingress reaches more than the public port"
    assert ing["spec"]["tls"] and ing["spec"]["ingressClassName"] == "internal"


check("27 also: an optional admin-API Ingress of its own (off by default), to the admin-api Service only, with TLS", admin_ingress)
check("27 also: an admin Ingress without TLS is rejected", fails(r"adminApi\.ingress\.tls is empty", *ADMIN_ING))
check("27 also: an admin Ingress without the admin API is rejected",
      fails(r"needs userService\.adminApi\.enabled", *ADMIN_ING[4:], *ADMIN_TLS))
check("27 also: an admin Ingress on a public Ingress host is rejected",
      fails(r"also a host of the public Ingress", *ADMIN_ING, *ADMIN_TLS, "--set", "userService.ingress.enabled=true",
            "--set", "userService.config.trustedProxies=10.0.0.0/8",
            "--set-json", 'userService.ingress.hosts=[{"host":"admin.internal.example.com","paths":[{"path":"/","pathType":"Prefix"}]}]'))


check("27 also: schema rejects persistence.existingClaim for the brokers (volumeClaimTemplates cannot take one; docs/deployment.md)",
      fails(r"additional properties 'existingClaim' not allowed", "--set", "rabbitmq.persistence.existingClaim=mine"))


# ------------------------------------------------------------------ 27 low: custom CA bundles
def ca_bundle():
    for w in ("user-service", "mail-service"):
        assert "SSL_CERT_FILE" not in env(container(render(), ("Deployment", w), w)), f"{w}: SSL_CERT_FILE by default"
    for src, key in (("configMap", "configMap"), ("secret", "secret")):
        docs = render("--set", f"caBundle.{src}=trust", "--set", "caBundle.key=bundle.pem")
        for w in ("user-service", "mail-service"):
            c = container(docs, ("Deployment", w), w)
            assert env(c)["SSL_CERT_FILE"]["value"] == "/etc/user-platform/ca/bundle.pem", f"{w}: SSL_CERT_FILE"
            mount = next(m for m in c["volumeMounts"] if m["name"] == "ca-bundle")
            assert mount["mountPath"] == "/etc/user-platform/ca" and mount["readOnly"]
            vol = next(v for v in one(docs, "Deployment", w)["spec"]["template"]["spec"]["volumes"] if v["name"] == "ca-bundle")
            assert key in vol and vol[key]["items"] == [{"key": "bundle.pem", "path": "bundle.pem"}], f"{w}: {vol}"
            assert env(c)["OTEL_EXPORTER_OTLP_CERTIFICATE"]["value"] == "/etc/user-platform/ca/bundle.pem", f"{w}: OTLP"
        smtp = env(container(docs, ("Deployment", "mail-service"), "mail-service"))
        assert smtp["SMTP_CA_FILE"]["value"] == "/etc/user-platform/ca/bundle.pem", "mail-service: SMTP_CA_FILE"
        assert "SMTP_CA_FILE" not in env(container(docs, ("Deployment", "user-service"), "user-service"))
    plain = render("--set", "caBundle.configMap=trust", "--set", "mailService.smtp.tls=none")
    assert "SMTP_CA_FILE" not in env(container(plain, ("Deployment", "mail-service"), "mail-service")), \
        "SMTP_CA_FILE with smtp.tls none (the service refuses it)"


check("27 low: caBundle mounts an existing ConfigMap or Secret in both services and points SSL_CERT_FILE (AMQP), "
      "OTEL_EXPORTER_OTLP_CERTIFICATE (traces) and SMTP_CA_FILE (the relay, with TLS) at it; nothing by default", ca_bundle)
check("27 low: caBundle with both a ConfigMap and a Secret is rejected",
      fails(r"caBundle: set configMap or secret, not both", "--set", "caBundle.configMap=a", "--set", "caBundle.secret=b"))


# ------------------------------------------------------------------ 27.10 external broker publisher
check("27.10 external broker with per-client users and no userServiceUsername is rejected",
      fails(r"userServiceUsername is empty", "--set", "rabbitmq.enabled=false", "--set", "rabbitmq.external.existingSecret=mq",
            "--set", "rabbitmq.external.keys.user-service=us", "--set", "rabbitmq.external.keys.mail-service=ms"))


# ------------------------------------------------------------------ 27.11 Guaranteed broker memory, WAL, fractions
def broker_memory():
    docs = render(*APIS, "--set", "rabbitmq.replicas=3")
    for broker in ("-redis", "-rabbitmq"):
        c = one(docs, "StatefulSet", broker)["spec"]["template"]["spec"]["containers"][0]
        assert c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"], f"{broker}: request below limit"
    conf = one(docs, "ConfigMap", "rabbitmq-config")["data"]["10-user-platform.conf"]
    assert "raft.wal_max_size_bytes = 268435456" in conf, "WAL not a quarter of the 1Gi limit"
    docs = render("--set", "redis.resources.limits.memory=0.5Gi", "--set", "redis.resources.requests.memory=512Mi",
                  "--set", "rabbitmq.resources.limits.memory=1.5Gi", "--set", "rabbitmq.resources.requests.memory=1.5Gi")
    args = one(docs, "StatefulSet", "-redis")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == "268435456", "0.5Gi truncated"
    conf = one(docs, "ConfigMap", "rabbitmq-config")["data"]["10-user-platform.conf"]
    assert f"total_memory_available_override_value = {int(1.5 * 1024 ** 3)}" in conf


check("27.11 broker memory request = limit, quorum WAL a quarter of the limit, fractional sizes (0.5Gi) exact", broker_memory)
check("27.11 a broker memory request below its limit is rejected",
      fails(r"redis\.resources\.requests\.memory \(64Mi\) must equal limits\.memory", "--set", "redis.resources.requests.memory=64Mi"))


# ------------------------------------------------------------------ 27.12 Atlas private endpoint ports
def atlas_ports():
    docs = render(*APIS, "-f", f"{CHART}/ci/production-values.yaml")
    np = one(docs, "NetworkPolicy", "user-service")
    mongo = [r for r in np["spec"]["egress"] if any(p.get("port") == 27017 for p in r.get("ports", []))]
    assert mongo and {"port": 1024, "endPort": 65535, "protocol": "TCP"} in mongo[0]["ports"], mongo


check("27.12 production example's MongoDB egress admits Atlas private endpoint ports 1024-65535", atlas_ports)


# ------------------------------------------------------------------ 27 low
def low():
    docs = render(*APIS, "--set", "mailService.keda.minReplicaCount=0")
    test = one(docs, "Pod", "test-readyz")["spec"]["containers"][0]["args"][0]
    assert "mail-service" not in test and "user-service-admin" in test, "helm test asks a mail-service scaled to zero"
    assert "mail-service" in one(render(*APIS), "Pod", "test-readyz")["spec"]["containers"][0]["args"][0]
    probes = one(render(), "StatefulSet", "-redis")["spec"]["template"]["spec"]["containers"][0]
    assert probes["startupProbe"].get("exec") == probes["livenessProbe"]["exec"], "Redis startup probe is not the PONG check"
    long_release = subprocess.run([HELM, "template", "r" * 53, CHART, "--namespace", "user-platform", "-f", SMTP_VALUES.name, *APIS,
                                   "--set", "rabbitmq.replicas=3", "--set", "forwardAuth.enabled=true"],
                                  capture_output=True, text=True)
    assert long_release.returncode == 0, long_release.stderr[-300:]
    names = set()
    for d in (x for x in yaml.safe_load_all(long_release.stdout) if x):
        n = d["metadata"]["name"]
        limit = 52 if d["kind"] == "StatefulSet" else 63
        if d["kind"] in ("Service", "StatefulSet", "Deployment", "Pod", "HorizontalPodAutoscaler", "ServiceAccount") or d["kind"] in CRD_KINDS:
            assert len(n) <= limit, f"{d['kind']} {n} has {len(n)} characters"
        assert (d["kind"], n) not in names, f"two {d['kind']} named {n}"
        names.add((d["kind"], n))
    for w in ("user-service", "mail-service"):
        keys = {t["topologyKey"] for t in one(render(), "Deployment", w)["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}, f"{w} spread {keys}"


check("27 low: helm test skips a mail-service at zero, Redis startup probe PONG, 53-character release names fit, spread over nodes and zones for both services", low)


def forward_auth_domain():
    rc, out, err = helm("--set", "clusterDomain=corp.internal", "--set", "forwardAuth.enabled=true",
                        "--api-versions", "traefik.io/v1alpha1/Middleware")
    assert rc == 0, err[-300:]
    assert ".svc.corp.internal:80/v1/auth/check" in out and ".svc.cluster.local" not in out, "forward-auth URL ignores clusterDomain"


check("27 low: the forward-auth URL follows clusterDomain", forward_auth_domain)
check("27 low: system-* priority classes outside kube-system are rejected",
      fails(r"priorityClassName system-cluster-critical is reserved for kube-system", "--set", "redis.priorityClassName=system-cluster-critical"))


# ------------------------------------------------------------------ 28.14: plain SMTP, dead-letter TTL
check("28.14: plain SMTP with credentials to a relay off loopback is refused (the service refuses it too)",
      fails(r"would send the SMTP credentials in clear text", "--set", "mailService.smtp.tls=none",
            "--set", "mailService.smtp.existingSecret=smtp"))


def plain_smtp_to_loopback():
    c = container(render("--set", "mailService.smtp.tls=none", "--set", "mailService.smtp.existingSecret=smtp",
                         "--set", "mailService.smtp.host=127.0.0.1"), ("Deployment", "mail-service"), "mail-service")
    assert env(c)["SMTP_TLS"]["value"] == "none"


check("28.14: plain SMTP with credentials to a sidecar relay on loopback renders", plain_smtp_to_loopback)


def dead_letter_policy():
    import json as _json
    for ttl, ms in (("7d", 604800000), ("90m", 5400000)):
        docs = render("--set", f"mailService.config.deadLetterTtl={ttl}", "--set", "emailQueue=mail.work")
        cm = next(d for d in docs if d["kind"] == "ConfigMap" and "definitions-tail.json" in (d.get("data") or {}))
        # The users are prepended at start: the tail is the rest of one JSON object.
        tail = _json.loads("{" + cm["data"]["definitions-tail.json"])
        (policy,) = tail["policies"]
        assert policy["pattern"] == r"^mail\.work\.dead$" and policy["apply-to"] == "queues", policy
        assert policy["definition"] == {"message-ttl": ms}, policy


check("28.14: the bundled broker's definitions carry the dead-letter queue's message-ttl policy (DEAD_LETTER_TTL)",
      dead_letter_policy)


def keda_private_ca():
    ext = ("--set", "rabbitmq.enabled=false", "--set", "rabbitmq.external.existingSecret=mq")
    docs = render(*APIS, *ext, "--set", "caBundle.secret=corp-ca", "--set", "caBundle.key=ca.pem")
    auth = next(d for d in docs if d["kind"] == "TriggerAuthentication")
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert refs["ca"]["name"] == "corp-ca" and refs["ca"]["key"] == "ca.pem", refs
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == refs["tls"]["name"])
    assert secret["stringData"] == {"tls": "enable"}, secret
    plain = render(*APIS, *ext)
    auth = next(d for d in plain if d["kind"] == "TriggerAuthentication")
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"host"}, auth


check("27 low: KEDA's scaler trusts caBundle.secret for an external broker (tls and ca parameters)", keda_private_ca)

width = max(len(s) for s, _ in results)
for status, name in results:
    print(f"{status:<{width}} {name}")
failed = sum(1 for s, _ in results if s != "ok")
print(f"chart rules: {len(results)} checks, {failed} failed")
sys.exit(1 if failed else 0)
