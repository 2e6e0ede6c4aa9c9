#!/usr/bin/env python3
"""Checks that docs/configuration.md lists exactly the environment variables the services read.

The code is scanned, not a list kept by hand: every string literal in the non-test Rust code
under services/*/src that looks like an environment variable name (UPPER_SNAKE_CASE with at
least one underscore, or one of SINGLE_WORD_VARIABLES) counts as a variable the code reads,
however the reading is written (`env.optional("X", ..)`, `std::env::var("X")`, a table of
names and parsers). Literals that look like one but are not (NOT_VARIABLES) are listed below
with the reason. Test code (`#[cfg(test)]` items, `tests.rs`, `tests/` directories) is skipped:
its literals are fixtures.

The reference side: every `NAME` in backticks in the first column of a table row of
docs/configuration.md (a cell may name several: `A`, `B`).

Fails, naming each, when the code reads a variable the reference lacks, or the reference
lists one the code no longer reads. Single upper-case words in the code that are in neither
list also fail, so that a new one-word variable is classified instead of slipping through.

Usage: scripts/check_env_reference.py [--repo DIR] [--list]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# Variables whose name has no underscore. Such literals are too common to take them all
# (`"PING"`, `"POST"`), so they are named here.
SINGLE_WORD_VARIABLES = {
    "HOSTNAME",  # common::amqp: the connection name shown by RabbitMQ (`<service>@<host>`)
    "PREFETCH",  # mail-service: unacknowledged messages at once
}

# Literals shaped like a variable name that are no environment variable the services read.
NOT_VARIABLES = {
    # compile-time `env!()` values Cargo sets while building, not read at run time
    "CARGO_PKG_VERSION": "env!() at build time",
    "CARGO_MANIFEST_DIR": "env!() at build time",
    "CARGO_PKG_NAME": "env!() at build time",
}

# Single upper-case words that occur in the code and are not variables: HTTP methods and
# header values, Redis commands, protocol words. A new one-word literal must be added either
# here or to SINGLE_WORD_VARIABLES.
NOT_VARIABLE_WORDS = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",  # HTTP methods (route tables)
    "DENY",  # the X-Frame-Options value of the hosted pages
    "PING", "DEL", "CLUSTER", "INFO", "MULTI", "EXEC", "WAIT", "CONFIG",  # Redis commands
    "CLIENT", "SETNAME", "TRACKING", "BCAST", "PREFIX", "NOPERM",  # common::redis::tracking
}

VAR_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
WORD_RE = re.compile(r"^[A-Z][A-Z0-9]{2,}$")


def rust_tokens(src: str):
    """Yields ('str', value, offset) for string literals and ('punct', ch, offset) for `{`, `}`,
    `#`, `;`, and ('word', text, offset) for identifiers, skipping comments, char literals
    and lifetimes. Enough of Rust's lexical grammar to find literals and match braces."""
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j + 1
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif re.match(r"b?r#*\"", src[i:i + 40]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r"b?r(#*)\"", src[i:])
            hashes = m.group(1)
            start = i + m.end()
            end = src.find('"' + hashes, start)
            end = n if end < 0 else end
            yield ("str", src[start:end], i)
            i = end + 1 + len(hashes)
        elif c == '"' or (c == "b" and src.startswith('b"', i)):
            start = i + (2 if c == "b" else 1)
            j = start
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            yield ("str", src[start:j], i)
            i = j + 1
        elif c == "'":
            # a char literal ('x', '\n', '\u{1F600}', '"') or a lifetime/label ('a)
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'])'", src[i:])
            i += m.end() if m else 1
        elif c.isalpha() or c == "_":
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", src[i:])
            yield ("word", m.group(0), i)
            i += m.end()
        else:
            if c in "{};#[]()":
                yield ("punct", c, i)
            i += 1


def literals_outside_tests(src: str) -> list[str]:
    """The string literals of a file, without those inside an item marked `#[cfg(test)]`."""
    tokens = list(rust_tokens(src))
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text, _ = tokens[i]
        # `# [ cfg ( test ) ]`: skip the next item, up to its matching `}` or its `;`
        if (kind, text) == ("punct", "#") and [t[1] for t in tokens[i + 1:i + 7]] == ["[", "cfg", "(", "test", ")", "]"]:
            j, depth = i + 7, 0
            while j < len(tokens):
                k, t, _ = tokens[j]
                if k == "punct" and t == "{":
                    depth += 1
                elif k == "punct" and t == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif k == "punct" and t == ";" and depth == 0:
                    break
                j += 1
            i = j + 1
            continue
        if kind == "str":
            out.append(text)
        i += 1
    return out


def code_variables(repo: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Variable name -> files reading it, and unclassified single words -> files."""
    found: dict[str, set[str]] = {}
    unknown_words: dict[str, set[str]] = {}
    for path in sorted(repo.glob("services/*/src/**/*.rs")):
        rel = path.relative_to(repo)
        if path.name == "tests.rs" or "tests" in rel.parts[3:-1]:
            continue
        for lit in literals_outside_tests(path.read_text(encoding="utf-8")):
            if VAR_RE.match(lit) and lit not in NOT_VARIABLES:
                found.setdefault(lit, set()).add(str(rel))
            elif lit in SINGLE_WORD_VARIABLES:
                found.setdefault(lit, set()).add(str(rel))
            elif WORD_RE.match(lit) and lit not in NOT_VARIABLE_WORDS:
                unknown_words.setdefault(lit, set()).add(str(rel))
    return found, unknown_words


def reference_variables(doc: Path) -> set[str]:
    names: set[str] = set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        first = line.split("|")[1]
        names.update(n for n in re.findall(r"`([A-Z][A-Z0-9_]*)`", first) if VAR_RE.match(n) or n in SINGLE_WORD_VARIABLES)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--list", action="store_true", help="print the variables found in the code")
    args = parser.parse_args()
    repo: Path = args.repo
    doc = repo / "docs" / "configuration.md"

    found, unknown_words = code_variables(repo)
    if args.list:
        for name in sorted(found):
            print(f"{name}\t{', '.join(sorted(found[name]))}")
        return 0
    documented = reference_variables(doc)
    errors = []
    for name in sorted(set(found) - documented):
        errors.append(f"{name}: read in {', '.join(sorted(found[name]))} but missing from docs/configuration.md")
    for name in sorted(documented - set(found)):
        errors.append(f"{name}: listed in docs/configuration.md but no code under services/*/src reads it")
    for word in sorted(unknown_words):
        errors.append(
            f'"{word}" in {", ".join(sorted(unknown_words[word]))}: a one-word literal the check does not know; '
            "add it to SINGLE_WORD_VARIABLES (and the reference) or NOT_VARIABLE_WORDS in scripts/check_env_reference.py"
        )
    if errors:
        print("environment variable reference (docs/configuration.md) out of step with the code:", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    print(f"docs/configuration.md lists all {len(found)} environment variables the services read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
