#!/usr/bin/env python3
"""Offline checks of the GitHub workflows and the local-cluster setup:

- ports: no host port is both mapped by kind (extraPortMappings hostPort in the kind config) and
  taken by a port-forward: skaffold's portForward localPorts (base and profiles), and every
  `kubectl port-forward ... LOCAL:REMOTE` in the workflows, their scripts and the docs. kind binds
  its host ports first, so such a forward cannot start (a forward on ":REMOTE" takes a free port);
- pins: every `uses:` in the workflows names a full 40-hex commit SHA followed by a version
  comment (`@<sha> # v1.2.3`), one SHA and one version per action across all files; `docker://`
  images by sha256 digest; local `./` actions are exempt;
- versions: the kind node image is pinned by digest and the kind release the workflow installs is
  the one the kind config names; the KEDA chart version is the same in the workflow and the docs.

Usage: check_ports_and_pins.py [--kind FILE] [--skaffold FILE] [--workflows FILE...]
                               [--docs FILE...] [--keda-docs FILE]
(defaults: the repository's own files). Prints ERROR lines and a summary; exit 1 on any error.
"""
import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SHA = re.compile(r"[0-9a-f]{40}")
VERSION_COMMENT = re.compile(r"v?\d+(\.\d+){0,2}([-+.][0-9A-Za-z.-]+)?")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*['\"]?([^'\"\s#]+)['\"]?\s*(?:#\s*(\S+))?")
FORWARD = re.compile(r"(?:kubectl\s+(?:[^|;&\n]*?\s)?port-forward|port-forward\.sh)\s+([^|;&\n]*)")
PORT_PAIR = re.compile(r"^(\d*):(\S+)$")   # LOCAL:REMOTE (REMOTE may be a template)

errors = []


def rel(path):
    """A path as shown in messages: relative to the repository when inside it."""
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(path)


def joined_lines(text):
    """Lines with shell continuations (trailing backslash) joined."""
    return re.sub(r"\\\n\s*", " ", text).splitlines()


def kind_host_ports(path):
    cfg = yaml.safe_load(Path(path).read_text()) or {}
    ports = {}
    for node in cfg.get("nodes") or []:
        for m in node.get("extraPortMappings") or []:
            if m.get("hostPort"):
                ports[int(m["hostPort"])] = f"{rel(path)}: extraPortMappings hostPort {m['hostPort']}"
    return ports


def skaffold_forwards(path):
    cfg = yaml.safe_load(Path(path).read_text()) or {}
    found = []
    sections = [("base", cfg)] + [(f"profile {p.get('name')}", p) for p in cfg.get("profiles") or []]
    for label, sec in sections:
        for pf in sec.get("portForward") or []:
            # Without localPort skaffold tries the remote port first.
            local = pf.get("localPort", pf.get("port"))
            if local:
                found.append((int(local), f"{rel(path)} ({label}): portForward {pf.get('resourceName')} localPort {local}"))
    return found


def command_forwards(path):
    """LOCAL ports of `kubectl port-forward` commands (LOCAL:REMOTE or a bare PORT) in a file."""
    found = []
    for n, line in enumerate(joined_lines(Path(path).read_text()), 1):
        for m in FORWARD.finditer(line):
            for arg in m.group(1).split():
                arg = arg.strip("'\"`")
                pair = PORT_PAIR.match(arg)
                if pair and pair.group(1):
                    found.append((int(pair.group(1)), f"{rel(path)}: port-forward {arg} ({line.strip()[:80]})"))
                elif arg.isdigit() and "port-forward.sh" not in m.group(0):
                    found.append((int(arg), f"{rel(path)}: port-forward {arg} ({line.strip()[:80]})"))
    return found


def check_ports(kind, skaffold, files):
    mapped = kind_host_ports(kind)
    forwards = skaffold_forwards(skaffold) if skaffold else []
    for f in files:
        forwards += command_forwards(f)
    for port, where in forwards:
        if port in mapped:
            errors.append(f"host port {port} is mapped by kind ({mapped[port]}) and port-forwarded: {where}")
    return len(mapped), len(forwards)


def yaml_uses(doc):
    """Every `uses` value of a workflow (job-level reusable workflows and steps)."""
    found = []
    for job in (doc.get("jobs") or {}).values():
        if isinstance(job, dict):
            if "uses" in job:
                found.append(job["uses"])
            found += [s["uses"] for s in job.get("steps") or [] if isinstance(s, dict) and "uses" in s]
    return found


def check_pins(workflows):
    seen = {}   # action -> (sha, version, where)
    total = 0
    for wf in workflows:
        text = Path(wf).read_text()
        raw = []
        name = rel(wf)
        for n, line in enumerate(text.splitlines(), 1):
            m = USES_LINE.match(line)
            if not m:
                continue
            ref, comment = m.group(1), m.group(2)
            raw.append(ref)
            where = f"{name}:{n}"
            if ref.startswith("./"):
                continue
            if ref.startswith("docker://"):
                if not re.search(r"@sha256:[0-9a-f]{64}$", ref):
                    errors.append(f"{where}: {ref} is not pinned by sha256 digest")
                continue
            action, _, sha = ref.partition("@")
            if not SHA.fullmatch(sha):
                errors.append(f"{where}: {ref} is not pinned to a full commit SHA")
                continue
            if not comment or not VERSION_COMMENT.fullmatch(comment):
                errors.append(f"{where}: {ref} has no version comment (`@<sha> # v1.2.3`)")
                continue
            key = action.lower()
            if key in seen and seen[key][:2] != (sha, comment):
                errors.append(f"{where}: {action}@{sha} # {comment} differs from {seen[key][2]}")
            seen.setdefault(key, (sha, comment, f"{name} ({action}@{sha} # {comment})"))
        parsed = yaml_uses(yaml.safe_load(text) or {})
        if sorted(parsed) != sorted(raw):
            errors.append(f"{name}: `uses:` written in a form this check cannot read ({len(parsed)} in YAML, {len(raw)} read)")
        total += len(parsed)
    return total, len(seen)


def check_versions(kind, workflows, keda_docs):
    kind_text = Path(kind).read_text()
    cfg = yaml.safe_load(kind_text) or {}
    for node in cfg.get("nodes") or []:
        if not re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", str(node.get("image", ""))):
            errors.append(f"{rel(kind)}: node {node.get('role')} image is not kindest/node:vX.Y.Z@sha256:<digest>")
    named = set(re.findall(r"kind (v\d+\.\d+\.\d+)", kind_text))
    keda = {}
    for wf in workflows:
        text = Path(wf).read_text()
        for v in re.findall(r"^\s*KIND_VERSION:\s*['\"]?(v[\d.]+)", text, re.M):
            if v not in named:
                errors.append(f"{rel(wf)}: KIND_VERSION {v}, but {rel(kind)} is written for kind {sorted(named)}")
        for v in re.findall(r"^\s*KEDA_CHART_VERSION:\s*['\"]?([\d.]+)", text, re.M):
            keda[v] = wf
    if keda_docs:
        documented = set(re.findall(r"kedacore/keda\b[^\n`]*?--version\s+([\d.]+)", Path(keda_docs).read_text()))
        if not documented:
            errors.append(f"{rel(keda_docs)}: the KEDA install has no --version")
        for v, wf in keda.items():
            if documented and v not in documented:
                errors.append(f"{rel(wf)}: KEDA chart {v}, {rel(keda_docs)} installs {sorted(documented)}")
    return sorted(keda)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", default=str(ROOT / "k8s/kind-config.yaml"))
    ap.add_argument("--skaffold", default=str(ROOT / "skaffold.yaml"))
    ap.add_argument("--workflows", nargs="*", default=sorted(map(str, (ROOT / ".github/workflows").glob("*.y*ml"))))
    default_docs = [ROOT / "README.md", ROOT / "k8s/README.md", ROOT / "charts/user-platform/templates/NOTES.txt",
                    *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "k8s").glob("*.yaml")),
                    *sorted((ROOT / ".github/scripts").glob("*.sh"))]
    ap.add_argument("--docs", nargs="*", default=[str(p) for p in default_docs if p.exists()])
    ap.add_argument("--keda-docs", default=str(ROOT / "k8s/README.md"))
    a = ap.parse_args()

    mapped, forwards = check_ports(a.kind, a.skaffold, a.workflows + a.docs)
    uses, actions = check_pins(a.workflows)
    keda = check_versions(a.kind, a.workflows, a.keda_docs)
    for e in errors:
        print(f"  ERROR: {e}")
    print(f"  ports and pins: {mapped} kind host ports, {forwards} fixed port-forwards; "
          f"{uses} uses in {len(a.workflows)} workflows, {actions} actions pinned by SHA with a version; "
          f"KEDA chart {', '.join(keda) or '-'}; {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
