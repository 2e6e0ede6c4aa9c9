#!/usr/bin/env python3
"""Checks skaffold.yaml without skaffold (no registry ships skaffold or its JSON schema):

- only the keys skaffold's v4beta Config and Profile know, the expected profiles (dev, prod-like);
- both images built from the Dockerfile with SERVICE set to a stage of that name;
- every chart, values file and raw manifest it names exists, and every value it sets is a key of
  the chart's values.yaml;
- for the base config and each profile (merged as skaffold does: maps merge, lists and scalars
  replace), the chart renders with those values and every port-forward names a rendered Service
  and one of its ports.

Usage: check_skaffold.py HELM skaffold.yaml
"""
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG_KEYS = {"apiVersion", "kind", "metadata", "requires", "build", "test", "render", "manifests",
               "deploy", "portForward", "resourceSelector", "verify", "customActions", "profiles"}
PROFILE_KEYS = {"name", "activation", "requiresAllActivations", "patches", "build", "test", "render",
                "manifests", "deploy", "portForward", "resourceSelector", "verify", "customActions"}
EXPECTED_PROFILES = {"dev", "prod-like"}
SERVICES = {"user-service", "mail-service"}

errors = []


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def has_value(values, dotted):
    node = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_config(helm, label, cfg):
    for art in cfg.get("build", {}).get("artifacts", []):
        docker = art.get("docker") or {}
        dockerfile = ROOT / docker.get("dockerfile", "Dockerfile")
        if not dockerfile.exists():
            errors.append(f"{label}: artifact {art['image']}: no {dockerfile.name}")
            continue
        stages = set(re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)", dockerfile.read_text()))
        service = (docker.get("buildArgs") or {}).get("SERVICE")
        if service != art["image"] or service not in stages:
            errors.append(f"{label}: artifact {art['image']} must build SERVICE={art['image']} (a Dockerfile stage)")
    images = {a["image"] for a in cfg.get("build", {}).get("artifacts", [])}
    if images != SERVICES:
        errors.append(f"{label}: artifacts {sorted(images)}, expected {sorted(SERVICES)}")
    for f in (cfg.get("manifests") or {}).get("rawYaml", []):
        if not (ROOT / f).exists():
            errors.append(f"{label}: rawYaml {f} does not exist")

    services = {}
    for rel in (cfg.get("deploy") or {}).get("helm", {}).get("releases", []):
        chart = ROOT / rel["chartPath"]
        if not (chart / "Chart.yaml").exists():
            errors.append(f"{label}: chartPath {rel['chartPath']} is not a chart")
            continue
        values = yaml.safe_load((chart / "values.yaml").read_text())
        args = [helm, "template", rel["name"], str(chart), "--namespace", rel.get("namespace", "default")]
        for f in rel.get("valuesFiles", []):
            if not (ROOT / f).exists():
                errors.append(f"{label}: valuesFiles {f} does not exist")
            args += ["-f", str(ROOT / f)]
        for key, val in (rel.get("setValues") or {}).items():
            if not has_value(values, key):
                errors.append(f"{label}: setValues {key} is not a chart value")
            args += ["--set", f"{key}={str(val).lower() if isinstance(val, bool) else val}"]
        for key, tmpl in (rel.get("setValueTemplates") or {}).items():
            if not has_value(values, key):
                errors.append(f"{label}: setValueTemplates {key} is not a chart value")
            # What skaffold would substitute: an image name, a tag, a digest.
            fake = "sha256:" + "0" * 64 if "DIGEST" in tmpl else "skaffold-tag" if "TAG" in tmpl else "example/image"
            args += ["--set", f"{key}={fake}"]
        run = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
        if run.returncode:
            errors.append(f"{label}: helm template of release {rel['name']} failed: {run.stderr.strip()}")
            continue
        for doc in yaml.safe_load_all(run.stdout):
            if doc and doc["kind"] == "Service":
                services[(rel.get("namespace", "default"), doc["metadata"]["name"])] = \
                    {p["port"] for p in doc["spec"]["ports"]}
    for pf in cfg.get("portForward", []):
        if pf.get("resourceType") != "service":
            continue
        key = (pf.get("namespace", "default"), pf["resourceName"])
        if key not in services:
            errors.append(f"{label}: portForward service {key[1]} is not rendered")
        elif pf["port"] not in services[key]:
            errors.append(f"{label}: portForward {key[1]}:{pf['port']} is not a port of that Service")
    return len(cfg.get("portForward", []))


def main(helm, path):
    cfg = yaml.safe_load(Path(path).read_text())
    if not re.fullmatch(r"skaffold/v\d+(beta\d+)?", str(cfg.get("apiVersion"))) or cfg.get("kind") != "Config":
        errors.append("apiVersion skaffold/v4betaN and kind Config expected")
    for k in set(cfg) - CONFIG_KEYS:
        errors.append(f"unknown top-level key {k}")
    profiles = cfg.pop("profiles", [])
    names = {p.get("name") for p in profiles}
    if not EXPECTED_PROFILES <= names:
        errors.append(f"profiles {sorted(names)}, expected at least {sorted(EXPECTED_PROFILES)}")
    forwards = check_config(helm, "base", cfg)
    for p in profiles:
        for k in set(p) - PROFILE_KEYS:
            errors.append(f"profile {p.get('name')}: unknown key {k}")
        overlay = {k: v for k, v in p.items() if k not in ("name", "activation", "requiresAllActivations", "patches")}
        forwards += check_config(helm, f"profile {p['name']}", merge(cfg, overlay))
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  skaffold: base + {len(profiles)} profiles rendered, {forwards} port-forwards checked, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
