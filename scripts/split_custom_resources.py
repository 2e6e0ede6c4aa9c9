#!/usr/bin/env python3
"""Writes every custom resource (an apiVersion group outside Kubernetes' own) of a rendered
manifest to DIR/<kind>--<name>.json, one object per file, for check-jsonschema.

Usage: split_custom_resources.py rendered.yaml DIR
"""
import json
import sys

import yaml

BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling"}


def main(rendered, out):
    for doc in yaml.safe_load_all(open(rendered, encoding="utf-8")):
        if not doc:
            continue
        group = doc["apiVersion"].rpartition("/")[0]
        if group in BUILTIN_GROUPS or group.endswith(".k8s.io"):
            continue
        with open(f"{out}/{doc['kind'].lower()}--{doc['metadata']['name']}.json", "w", encoding="utf-8") as f:
            json.dump(doc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
