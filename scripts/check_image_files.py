#!/usr/bin/env python3
"""Lists every file of an image and fails on anything outside the expected set.

    check_image_files.py BASE_IMAGE [SERVICE_IMAGE=BINARY ...]

The base image (scripts/image-base.sh) may hold only: glibc and libgcc_s with the dynamic loader,
the CA bundle, tzdata's zone files, netbase's and base-files' /etc files, passwd/group with
nonroot 65532, copyright notices and the dpkg status.d records. No shell, no package manager, no
other program. Each service image must be the base plus exactly its one binary in /usr/local/bin.
The files are read from `docker export` of a created (never started) container, which also holds
what the engine adds (/.dockerenv, /etc/hosts, /etc/hostname, /etc/resolv.conf, /dev, /proc, /sys).
"""

import os
import re
import subprocess
import sys
import tarfile

DOCKER = os.environ.get("DOCKER", "docker")
ALLOWED = [
    r"etc/(passwd|group|nsswitch\.conf|os-release|debian_version|host\.conf|issue|issue\.net)",
    r"etc/(services|protocols|rpc|ethertypes)",
    r"etc/ld\.so\.conf\.d/[\w.-]+\.conf",
    r"etc/ssl/certs/ca-certificates\.crt",
    r"lib64/ld-linux-x86-64\.so\.2",
    r"(usr/)?lib/(x86_64|aarch64)-linux-gnu/[\w.+-]+\.so(\.\d+)*",
    r"usr/lib/(x86_64|aarch64)-linux-gnu/gconv/([\w.+-]+\.so|gconv-modules(\.cache)?)",
    r"usr/lib/(x86_64|aarch64)-linux-gnu/gconv/gconv-modules\.d/[\w.-]+\.conf",
    r"usr/lib/os-release",
    r"usr/share/zoneinfo/.+",
    r"usr/share/doc/[\w.+-]+/copyright",
    r"usr/share/doc/[\w.+-]+",  # symbolic links only (libgcc-s1 -> gcc-12-base), see problems()
    r"var/lib/dpkg/status\.d/[\w.+-]+",
]
# Named outright so that a failure says what it found.
FORBIDDEN = re.compile(
    r"(^|/)(sh|bash|dash|ash|zsh|busybox|toybox|apt|apt-get|apt-cache|dpkg|dpkg-deb|rpm|"
    r"ldconfig|su|sudo|login|mount|curl|wget|python3?|perl)$"
)
# Added by the engine to every container (empty files or mount points).
ENGINE = {".dockerenv", "dev/console", "dev/pts", "dev/shm", "etc/hosts", "etc/hostname",
          "etc/resolv.conf", "etc/mtab"}
ALLOWED_RE = re.compile("^(" + "|".join(ALLOWED) + ")$")


def members(image):
    cid = subprocess.run(
        [DOCKER, "create", image, "/nonexistent"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        export = subprocess.Popen([DOCKER, "export", cid], stdout=subprocess.PIPE)
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            found = [(m.name.removeprefix("./").rstrip("/"), m) for m in tar if m.name not in (".", "./")]
        if export.wait() != 0:
            sys.exit(f"docker export {image} failed")
        return found
    finally:
        subprocess.run([DOCKER, "rm", cid], check=True, capture_output=True)


def problems(entries, extra_files=()):
    errors = []
    files = 0
    for name, m in entries:
        if m.isdir() or name in ENGINE:
            continue
        files += 1
        if FORBIDDEN.search(name):
            errors.append(f"forbidden program: /{name}")
        elif name in extra_files:
            if not m.isreg() or m.mode & 0o022 or m.uid != 0:
                errors.append(f"/{name}: must be a regular file owned by root, not group/other-writable")
        elif not ALLOWED_RE.match(name):
            errors.append(f"unexpected file: /{name}")
        elif name.startswith("usr/share/doc/") and name.count("/") == 3 and not m.issym():
            errors.append(f"unexpected file: /{name}")
        elif m.isreg() and m.mode & 0o111 and ".so" not in name:
            errors.append(f"unexpected executable: /{name}")
    missing = set(extra_files) - {name for name, _ in entries}
    errors += [f"missing: /{name}" for name in sorted(missing)]
    return files, errors


def check_users(image, entries):
    names = {name for name, _ in entries}
    errors = [f"{image}: missing /{f}" for f in ("etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt",
                                                 "etc/os-release", "usr/share/zoneinfo/UTC", "etc/services")
              if f not in names]
    home = dict(entries).get("home/nonroot")
    if home is None or (home.uid, home.gid) != (65532, 65532):
        errors.append(f"{image}: /home/nonroot must exist, owned by 65532:65532")
    return errors


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    base = argv[1]
    entries = members(base)
    files, errors = problems(entries)
    errors = [f"{base}: {e}" for e in errors] + check_users(base, entries)
    base_names = {name for name, m in entries if not m.isdir()}
    print(f"{base}: {files} files, all in the expected set" if not errors else f"{base}: {files} files")
    for spec in argv[2:]:
        image, binary = spec.split("=", 1)
        extra = f"usr/local/bin/{binary}"
        svc_entries = members(image)
        n, errs = problems(svc_entries, extra_files=(extra,))
        added = {name for name, m in svc_entries if not m.isdir()} - base_names - {extra}
        errs += [f"not in the base image: /{name}" for name in sorted(added - ENGINE)]
        errors += [f"{image}: {e}" for e in errs]
        print(f"{image}: {n} files: the base's and /{extra}" if not errs else f"{image}: {n} files")
    for e in errors:
        print(f"FAIL {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
