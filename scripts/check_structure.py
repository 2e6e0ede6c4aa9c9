#!/usr/bin/env python3
"""The house rules of the Rust sources, checked from the code itself.

For every crate under services/ (its src/ only; tests, examples and benches are not rooms):
  * no import circle between files: an edge A -> B is a path in A that names an item of B
    (`use crate::…`, `use super::…`, inline `crate::x::y` paths, and paths through a module
    alias imported with `use`); a name that a module file re-exports (`pub use child::Name`) is
    followed to the file that defines it, so a parent's re-export is not a circle;
  * no file over MAX_FILE_LINES lines;
  * no function over MAX_FN_LINES lines (from its `fn` line to its closing brace).
Exceptions are listed in ALLOWED below, each with the reason; an exception that is no longer
needed fails the check too, so the list stays short and true.

Usage: scripts/check_structure.py [--report]   (--report prints the sizes of the largest items)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = sorted(p for p in (ROOT / "services").glob("*/src") if p.is_dir())
MAX_FILE_LINES = 400
MAX_FN_LINES = 60

# "path" for a file, "path::fn_name" for a function: why it may stay longer than the rule.
ALLOWED: dict[str, str] = {}


# ------------------------------------------------------------------------------ lexing
def strip_code(text: str) -> str:
    """The source with comments and the contents of string and char literals blanked out
    (newlines kept, so line numbers stay right)."""
    out: list[str] = []
    i, n = 0, len(text)

    def blank(s: str) -> str:
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and not _ident_before(text, i):
            close = '"' + m.group(1)
            j = text.find(close, m.end())
            j = n if j < 0 else j + len(close)
            out.append('""' + blank(text[i + 2 : j]) if j - i >= 2 else text[i:j])
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and not _ident_before(text, i)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + blank(text[i + 1 : j]) + '"')
            i = j + 1
        elif c == "'":
            m = re.compile(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'").match(text, i)
            if m:
                out.append("' '")
                i = m.end()
            else:  # a lifetime or a label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _ident_before(text: str, i: int) -> bool:
    return i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")


def matching_brace(code: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def without_test_modules(code: str) -> str:
    """Blank out `#[cfg(test)]` items: unit tests may use anything."""
    for m in reversed(list(re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*([{;])", code))):
        if m.group(3) == "{":
            end = matching_brace(code, m.end() - 1)
            code = code[: m.start()] + "".join("\n" if ch == "\n" else " " for ch in code[m.start() : end + 1]) + code[end + 1 :]
    return code


# ------------------------------------------------------------------------------ modules
@dataclass
class Module:
    path: tuple[str, ...]
    file: Path
    code: str
    reexports: dict[str, tuple[str, ...]] = field(default_factory=dict)
    defined: set[str] = field(default_factory=set)


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def expand_use(tree: str) -> list[tuple[list[str], str | None]]:
    """`a::{b, c::{d as e}}` -> [(['a','b'], None), (['a','c','d'], 'e')]."""
    tree = re.sub(r"\s+as\s+", "@", tree)
    tree = re.sub(r"\s+", "", tree)
    results: list[tuple[list[str], str | None]] = []

    def walk(prefix: list[str], s: str) -> None:
        if "{" in s and (s.index("{") < s.index("::{") + 3 if "::{" in s else s.startswith("{")):
            head, _, rest = s.partition("{")
            inner = rest[: rest.rfind("}")]
            base = prefix + [p for p in head.split("::") if p]
            depth, start = 0, 0
            for k, ch in enumerate(inner + ","):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == "," and depth == 0:
                    if inner[start:k]:
                        walk(base, inner[start:k])
                    start = k + 1
            return
        alias = None
        if "@" in s:
            s, _, alias = s.partition("@")
        results.append((prefix + [p for p in s.split("::") if p], alias))

    walk([], tree)
    return results


def absolute(mod: tuple[str, ...], segs: list[str], is_dir_module: bool) -> list[str] | None:
    if not segs:
        return None
    if segs[0] == "crate":
        return segs[1:]
    if segs[0] in ("super", "self"):
        base = list(mod)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                if not base:
                    return None
                base.pop()
            segs = segs[1:]
        return base + segs
    return None


class Crate:
    def __init__(self, src: Path) -> None:
        self.src = src
        self.modules: dict[tuple[str, ...], Module] = {}
        for file in sorted(src.rglob("*.rs")):
            code = without_test_modules(strip_code(file.read_text()))
            self.modules[module_path(src, file)] = Module(module_path(src, file), file, code)
        for m in self.modules.values():
            m.defined = set(re.findall(r"\b(?:fn|struct|enum|trait|type|const|static|mod|macro_rules!)\s+(\w+)", m.code))
            for stmt in re.finditer(r"\bpub(?:\([^)]*\))?\s+use\s+([^;]+);", m.code):
                for segs, alias in expand_use(stmt.group(1)):
                    full = self._abs_or_child(m, segs)
                    if full:
                        m.reexports[alias or full[-1]] = tuple(full)

    def _abs_or_child(self, m: Module, segs: list[str]) -> list[str] | None:
        full = absolute(m.path, segs, True)
        if full is None and segs and (m.path + (segs[0],)) in self.modules:
            full = list(m.path) + segs  # `pub use child::Name` (2018 paths)
        return full

    def resolve(self, full: list[str], seen: int = 0) -> tuple[str, ...] | None:
        """The module (file) that defines what `full` names."""
        for k in range(len(full), -1, -1):
            mod = tuple(full[:k])
            if mod in self.modules:
                rest = full[k:]
                m = self.modules[mod]
                if rest and rest[0] in m.reexports and rest[0] not in m.defined and seen < 8:
                    return self.resolve(list(m.reexports[rest[0]]) + rest[1:], seen + 1)
                return mod
        return None

    def edges(self) -> dict[tuple[str, ...], dict[tuple[str, ...], set[str]]]:
        graph: dict[tuple[str, ...], dict[tuple[str, ...], set[str]]] = {p: {} for p in self.modules}
        for m in self.modules.values():
            aliases: dict[str, tuple[str, ...]] = {}
            paths: list[list[str]] = []
            for stmt in re.finditer(r"\buse\s+([^;]+);", m.code):
                for segs, alias in expand_use(stmt.group(1)):
                    full = self._abs_or_child(m, segs)
                    if full is None:
                        continue
                    if full and full[-1] == "self":
                        full = full[:-1]
                    paths.append(full)
                    if full and tuple(full) in self.modules:
                        aliases[alias or full[-1]] = tuple(full)
            for p in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", m.code):
                full = absolute(m.path, p.group(1).split("::"), True)
                if full:
                    paths.append(full)
            for name, mod in aliases.items():
                for p in re.finditer(rf"(?<![\w:]){re.escape(name)}((?:::\w+)+)", m.code):
                    paths.append(list(mod) + p.group(1).split("::")[1:])
            for full in paths:
                target = self.resolve(full)
                if target is not None and target != m.path and not _is_ancestor_decl(m.path, target, full):
                    graph[m.path].setdefault(target, set()).add(full[-1])
        return graph


def _is_ancestor_decl(src: tuple[str, ...], target: tuple[str, ...], full: list[str]) -> bool:
    # `mod child;` in a parent is not an import; neither is naming one's own parent module
    # only to reach a sibling (resolve() already followed it).
    return False


def circles(graph: dict) -> list[list[tuple[str, ...]]]:
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    found: list = []
    counter = [0]

    def strong(v) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return found


# ------------------------------------------------------------------------------ sizes
def functions(code: str) -> list[tuple[str, int, int]]:
    """(name, first line, length in lines) of every fn with a body."""
    found = []
    for m in re.finditer(r"\bfn\s+(\w+)", code):
        j, depth = m.end(), 0
        while j < len(code):
            ch = code[j]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1 if code[j - 1] != "-" else 0
            elif ch == ";" and depth <= 0:
                break
            elif ch == "{" and depth <= 0:
                end = matching_brace(code, j)
                first = code.count("\n", 0, m.start()) + 1
                last = code.count("\n", 0, end) + 1
                found.append((m.group(1), first, last - first + 1))
                break
            j += 1
    return found


def main() -> int:
    report = "--report" in sys.argv
    problems: list[str] = []
    used_allowances: set[str] = set()
    sizes: list[tuple[int, str]] = []
    for src in CRATES:
        crate = Crate(src)
        graph = crate.edges()
        for comp in circles(graph):
            files = [str(crate.modules[p].file.relative_to(ROOT)) for p in comp]
            ties = []
            for a in comp:
                for b in comp:
                    if b in graph[a]:
                        names = ", ".join(sorted(graph[a][b])[:6])
                        ties.append(f"    {crate.modules[a].file.relative_to(ROOT)} -> {crate.modules[b].file.relative_to(ROOT)}: {names}")
            problems.append("import circle between " + ", ".join(files) + "\n" + "\n".join(ties))
        for m in crate.modules.values():
            rel = str(m.file.relative_to(ROOT))
            lines = m.file.read_text().count("\n")
            sizes.append((lines, rel))
            if lines > MAX_FILE_LINES:
                if rel in ALLOWED:
                    used_allowances.add(rel)
                else:
                    problems.append(f"{rel}: {lines} lines (at most {MAX_FILE_LINES})")
            for name, first, length in functions(m.code):
                key = f"{rel}::{name}"
                sizes.append((length, f"{key} (line {first})"))
                if length > MAX_FN_LINES:
                    if key in ALLOWED:
                        used_allowances.add(key)
                    else:
                        problems.append(f"{rel}:{first}: fn {name} is {length} lines (at most {MAX_FN_LINES})")
    for key in sorted(set(ALLOWED) - used_allowances):
        problems.append(f"allow-list entry no longer needed: {key}")
    if report:
        for length, what in sorted(sizes, reverse=True)[:40]:
            print(f"{length:5} {what}")
    for p in problems:
        print(p)
    if problems:
        print(f"check_structure: {len(problems)} problem(s)")
        return 1
    print(f"check_structure: {len(CRATES)} crates, no import circle, files <= {MAX_FILE_LINES} lines, functions <= {MAX_FN_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
