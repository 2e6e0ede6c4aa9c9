#!/usr/bin/env python3
"""Checks binaries built with `cargo auditable` against the RustSec advisory database, offline,
and writes a CycloneDX SBOM for each.

    audit_binaries.py ADVISORY_DB DENY_TOML SBOM_DIR CREATED BINARY...
    audit_binaries.py --self-test ADVISORY_DB     the version matching, and a known advisory found

cargo auditable puts the dependency tree (every package's name, version, source and kind) into
the ELF section `.dep-v0` as zlib-compressed JSON. For each package this reads the advisories of
ADVISORY_DB/crates/<name>/*.md (their TOML front matter) and reports those whose `patched` and
`unaffected` version requirements both miss the package's version, as `cargo audit bin` does.
Vulnerabilities and the informational kinds cargo deny denies by default (unmaintained, unsound)
fail; other informational advisories are printed; withdrawn ones and the ids of the `ignore`
list of DENY_TOML's [advisories] are skipped. Version requirements follow Cargo's rules (a bare
version is a caret requirement); pre-releases are ordered as SemVer orders them.
The SBOM (CycloneDX 1.5 JSON, SBOM_DIR/<binary name>.cdx.json) lists the same packages with
package URLs and the dependency graph, timestamped CREATED.
"""

import json
import pathlib
import re
import struct
import sys
import tomllib
import uuid
import zlib

DENIED_INFORMATIONAL = {"unmaintained", "unsound"}


def dep_section(path):
    data = pathlib.Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise SystemExit(f"{path}: not a 64-bit ELF file")
    endian = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(endian + "Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, 0x3A)

    def header(i):
        name, _, _, _, offset, size = struct.unpack_from(endian + "IIQQQQ", data, shoff + i * shentsize)
        return name, offset, size

    _, str_offset, _ = header(shstrndx)
    for i in range(shnum):
        name, offset, size = header(i)
        end = data.index(b"\0", str_offset + name)
        if data[str_offset + name:end] == b".dep-v0":
            return json.loads(zlib.decompress(data[offset:offset + size]))
    raise SystemExit(f"{path}: no .dep-v0 section (not built with cargo auditable)")


def parse_version(text):
    core, _, pre = text.strip().partition("+")[0].partition("-")
    parts = [int(p) for p in core.split(".")]
    return parts, pre


def key(parts, pre):
    # A release sorts after its pre-releases; numeric identifiers before alphanumeric ones.
    ids = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in pre.split(".")) if pre else ()
    return (tuple(parts + [0] * (3 - len(parts))), 1 if not pre else 0, ids)


def comparator_matches(comparator, version):
    op, text = re.fullmatch(r"\s*(>=|<=|>|<|=|\^|~)?\s*(\S+)\s*", comparator).groups()
    parts, pre = parse_version(text)
    v = key(*parse_version(version))
    low = key(parts, pre)
    if op in (">=", ">", "<=", "<"):
        return {">=": v >= low, ">": v > low, "<=": v <= low, "<": v < low}[op]
    if op == "=" or op == "~":
        keep = len(parts) if op == "=" else min(len(parts), 2)
        if op == "=" and len(parts) == 3:
            return v == low
    else:  # caret, also a bare version: the leftmost non-zero part stays fixed
        keep = next((i + 1 for i, p in enumerate(parts) if p != 0), len(parts))
        keep = min(keep, len(parts))
    upper = parts[:keep]
    upper[-1] += 1
    return low <= v < key(upper, "")


def matches(requirement, version):
    return all(comparator_matches(c, version) for c in requirement.split(","))


def advisories(db, name):
    for path in sorted((pathlib.Path(db) / "crates" / name).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        front = re.search(r"```toml\n(.*?)\n```", text, re.S)
        if front:
            yield tomllib.loads(front.group(1))


def ignored_ids(deny_toml):
    with open(deny_toml, "rb") as f:
        entries = tomllib.load(f).get("advisories", {}).get("ignore", [])
    return {e["id"] if isinstance(e, dict) else e for e in entries}


def audit(packages, db, ignore):
    errors, notes = [], []
    for pkg in packages:
        for adv in advisories(db, pkg["name"]):
            info, versions = adv["advisory"], adv.get("versions", {})
            if info.get("withdrawn") or info["id"] in ignore:
                continue
            safe = versions.get("patched", []) + versions.get("unaffected", [])
            if any(matches(req, pkg["version"]) for req in safe):
                continue
            kind = info.get("informational")
            line = f"{info['id']} {pkg['name']} {pkg['version']}: {kind or 'vulnerability'}: {info.get('title', '')}"
            (errors if kind is None or kind in DENIED_INFORMATIONAL else notes).append(line)
    return errors, notes


def sbom(name, packages, created):
    # A package URL (pkg:cargo/...) names a crates.io package; workspace packages get none.
    refs = [f"pkg:cargo/{p['name']}@{p['version']}" for p in packages]
    purls = [{"purl": ref} if p.get("source") == "crates.io" else {} for p, ref in zip(packages, refs)]
    root = next((i for i, p in enumerate(packages) if p.get("root")), 0)
    components = [
        {"type": "library", "bom-ref": ref, "name": p["name"], "version": p["version"], **purl,
         "scope": "excluded" if p.get("kind") == "build" else "required"}
        for i, (p, ref, purl) in enumerate(zip(packages, refs, purls)) if i != root
    ]
    main_component = {"type": "application", "bom-ref": refs[root], "name": packages[root]["name"],
                      "version": packages[root]["version"]}
    dependencies = [{"ref": ref, "dependsOn": [refs[d] for d in p.get("dependencies", [])]}
                    for p, ref in zip(packages, refs)]
    body = {"components": components, "dependencies": dependencies}
    serial = uuid.uuid5(uuid.NAMESPACE_URL, name + json.dumps(body, sort_keys=True))
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "serialNumber": f"urn:uuid:{serial}",
            "version": 1,
            "metadata": {"timestamp": created, "component": main_component,
                         "tools": {"components": [{"type": "application", "name": "audit_binaries.py",
                                                   "description": "from the cargo auditable .dep-v0 data"}]}},
            **body}


def self_test(db):
    cases = [(">= 0.9.4", "0.9.4", True), (">= 0.9.4", "0.9.3", False), ("0.13.10", "0.13.12", True),
             ("0.13.10", "0.14.0", False), ("^0.0.3", "0.0.4", False), ("~1.2", "1.2.9", True),
             ("< 0.10.0, >= 0.9.18", "0.9.20", True), ("< 0.10.0, >= 0.9.18", "0.10.1", False),
             (">= 1.0.0", "1.0.0-rc.1", False), ("=1.2", "1.2.7", True), ("^1.2.3", "2.0.0", False)]
    for requirement, version, want in cases:
        if matches(requirement, version) is not want:
            raise SystemExit(f"self-test: {requirement!r} on {version}: expected {want}")
    # hyper 0.14.2 has known advisories (request smuggling, fixed in 0.14.10 and later).
    errors, _ = audit([{"name": "hyper", "version": "0.14.2"}], db, set())
    if not errors:
        raise SystemExit("self-test: hyper 0.14.2 should have advisories")
    print(f"self-test: {len(cases)} version requirements; hyper 0.14.2: {len(errors)} advisories found")
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    if len(argv) < 6:
        raise SystemExit(__doc__)
    db, deny_toml, sbom_dir, created, binaries = argv[1], argv[2], pathlib.Path(argv[3]), argv[4], argv[5:]
    ignore = ignored_ids(deny_toml)
    if not (pathlib.Path(db) / "crates").is_dir():
        raise SystemExit(f"no advisory database at {db}")
    sbom_dir.mkdir(parents=True, exist_ok=True)
    failed = False
    for binary in binaries:
        packages = dep_section(binary)["packages"]
        errors, notes = audit(packages, db, ignore)
        name = pathlib.Path(binary).name
        (sbom_dir / f"{name}.cdx.json").write_text(json.dumps(sbom(name, packages, created), indent=1))
        print(f"{name}: {len(packages)} packages from .dep-v0, {len(errors)} advisories that fail, "
              f"{len(notes)} informational; SBOM {sbom_dir / (name + '.cdx.json')}")
        for line in notes:
            print(f"  note: {line}")
        for line in errors:
            print(f"  FAIL: {line}", file=sys.stderr)
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
