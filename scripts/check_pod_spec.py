#!/usr/bin/env python3
"""The chart's pod spec against the images the container tests ran (scripts/images.sh).

    check_pod_spec.py RENDERED_YAML OUT_ENV user-service=IMAGE mail-service=IMAGE

RENDERED_YAML is `helm template` of charts/user-platform with its default values (and the
required SMTP relay). For each service
it reads the Deployment's pod and container security contexts, ports, probes, memory limit and
SHUTDOWN_TIMEOUT, checks them (uid/gid 65532, non-root, read-only root, no privilege escalation,
every capability dropped, startup/liveness on /healthz and readiness on /readyz at the admin
port, ADMIN_ADDR/HTTP_ADDR on the container ports) and checks the image against them: its user,
its exposed ports. OUT_ENV gets the values as shell assignments (USER_SERVICE_MEMORY=512m, ...),
from which scripts/images.sh takes its `docker run` flags: the containers run as the chart runs
the pods.
"""

import json
import os
import re
import subprocess
import sys

import yaml

DOCKER = os.environ.get("DOCKER", "docker")


def deployment(docs, name):
    for doc in docs:
        if doc and doc.get("kind") == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            for container in pod["containers"]:
                if container["name"] == name:
                    return pod, container
    raise SystemExit(f"no Deployment runs a container named {name}")


def memory(limit):
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", limit).groups()
    return f"{int(number) * (1024 if unit == 'Gi' else 1)}m"


def seconds(duration):
    number, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()
    return int(number) * (60 if unit == "m" else 1)


def check(name, image, pod, c, errors):
    pod_sc, sc = pod.get("securityContext", {}), c.get("securityContext", {})
    user = f"{sc.get('runAsUser', pod_sc.get('runAsUser'))}:{sc.get('runAsGroup', pod_sc.get('runAsGroup'))}"
    want = {
        "user 65532:65532": user == "65532:65532",
        "runAsNonRoot": sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True,
        "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem") is True,
        "allowPrivilegeEscalation false": sc.get("allowPrivilegeEscalation") is False,
        "capabilities drop ALL": sc.get("capabilities", {}).get("drop") == ["ALL"],
    }
    errors += [f"{name}: the chart lacks {k}" for k, ok in want.items() if not ok]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for var, port in (("ADMIN_ADDR", "admin"), ("HTTP_ADDR", "http")):
        if port in ports and env.get(var) != f"0.0.0.0:{ports[port]}":
            errors.append(f"{name}: {var}={env.get(var)} is not the {port} container port {ports[port]}")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") != "admin":
            errors.append(f"{name}: {probe} is {get}, expected {path} on the admin port")
    config = json.loads(subprocess.run([DOCKER, "image", "inspect", image], check=True,
                                       capture_output=True, text=True).stdout)[0]["Config"]
    if config.get("User") != user:
        errors.append(f"{name}: image user {config.get('User')!r}, the pod runs as {user}")
    exposed = {int(p.split("/")[0]) for p in config.get("ExposedPorts") or {}}
    if exposed != set(ports.values()):
        errors.append(f"{name}: image exposes {sorted(exposed)}, the pod's ports are {sorted(ports.values())}")
    key = name.upper().replace("-", "_")
    values = {
        "USER": user,
        "MEMORY": memory(c["resources"]["limits"]["memory"]),
        "ADMIN_PORT": ports["admin"],
        "HTTP_PORT": ports.get("http", ""),
        "SHUTDOWN_TIMEOUT": seconds(env["SHUTDOWN_TIMEOUT"]),
        "GRACE": pod.get("terminationGracePeriodSeconds", 30),
    }
    return [f"{key}_{k}={v}" for k, v in values.items()]


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    with open(argv[1], encoding="utf-8") as f:
        docs = list(yaml.safe_load_all(f))
    errors, lines = [], []
    for spec in argv[3:]:
        name, image = spec.split("=", 1)
        pod, container = deployment(docs, name)
        lines += check(name, image, pod, container, errors)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    if not errors:
        print("the chart's pods match the images and the tested flags: " + ", ".join(lines))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
