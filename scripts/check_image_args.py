#!/usr/bin/env python3
"""Keeps the image build arguments of the release workflow, the Dockerfile and scripts/images.sh
in step (run by scripts/images.sh; offline, standard library only).

- every build argument the workflow or the script passes is an ARG of the Dockerfile;
- the script passes every argument the workflow passes, plus only those that substitute local
  inputs (LOCAL_ONLY), and the Dockerfile's defaults of those are what the release uses;
- the cargo-auditable version the script installs is the Dockerfile's CARGO_AUDITABLE_VERSION,
  and both build the binary with the same cargo command.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Passed by scripts/images.sh only; the release takes the Dockerfile's defaults, which must be:
LOCAL_ONLY = {"BINARY_FROM": "builder", "RUNTIME_IMAGE": "gcr.io/distroless/cc-debian12:nonroot"}
BUILD = "cargo auditable build --release --locked -p"
# scripts/images.sh builds the same way in the profile IMAGE_PROFILE names, release by default.
LOCAL_BUILD = 'cargo auditable build --profile "$PROFILE" --locked -p'
LOCAL_PROFILE = "PROFILE=${IMAGE_PROFILE:-release}"


def dockerfile_args(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"^ARG (\w+)(?:=(\S*))?$", text, re.M)}


def workflow_args(text):
    block = re.search(r"^(\s*)build-args: \|\n((?:\1\s+.*\n)+)", text, re.M)
    if not block:
        raise SystemExit("release.yml: no `build-args: |` block")
    return {line.strip().split("=", 1)[0] for line in block.group(2).splitlines() if line.strip()}


def main():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    workflow = (ROOT / ".github/workflows/release.yml").read_text(encoding="utf-8")
    script = (ROOT / "scripts/images.sh").read_text(encoding="utf-8")
    args = dockerfile_args(dockerfile)
    released = workflow_args(workflow)
    local = set(re.findall(r"--build-arg (\w+)=", script))
    errors = [f"release.yml passes {a}, which is no ARG of the Dockerfile" for a in sorted(released - args.keys())]
    errors += [f"scripts/images.sh passes {a}, which is no ARG of the Dockerfile" for a in sorted(local - args.keys())]
    errors += [f"release.yml passes {a}, scripts/images.sh does not" for a in sorted(released - local)]
    extra = local - released
    errors += [f"scripts/images.sh passes {a}, the release does not (and it is not a local substitute)"
               for a in sorted(extra - LOCAL_ONLY.keys())]
    for arg, release_value in LOCAL_ONLY.items():
        if arg in released:
            errors.append(f"release.yml must leave {arg} at the Dockerfile default")
        if args.get(arg) != release_value:
            errors.append(f"Dockerfile: ARG {arg} must default to {release_value} (the release's)")
    pinned = re.search(r"^CARGO_AUDITABLE_VERSION=(\S+)", script, re.M)
    if not pinned or pinned.group(1) != args.get("CARGO_AUDITABLE_VERSION"):
        errors.append("scripts/images.sh CARGO_AUDITABLE_VERSION differs from the Dockerfile's ARG default")
    if BUILD not in dockerfile:
        errors.append(f"Dockerfile does not build with `{BUILD} SERVICE`")
    if LOCAL_BUILD not in script or LOCAL_PROFILE not in script.splitlines():
        errors.append(f"scripts/images.sh does not build with `{LOCAL_BUILD} SERVICE` "
                      f"and `{LOCAL_PROFILE}`")
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    if not errors:
        print(f"build arguments in step: release {sorted(released)}, local adds {sorted(extra)}; "
              f"cargo-auditable {args['CARGO_AUDITABLE_VERSION']}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
