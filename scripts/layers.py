#!/usr/bin/env python3
"""Checks the crate's layering rule: no file imports from a layer above its own.

Layers, lowest first (docs/DESIGN.md draws the same map):

  sys                        the crate's OS calls (libc); imports nothing of the crate
  runtime/                   green threads; imports nothing else of the crate but sys
                             (and inside it, core/ never imports park)
  http: codec, read_buf, body_error, query, tls, log_sink
                             bytes and text: parsing, buffers, TLS records
  http: conn/                the connection layer: stream, inbound reader, counters
  http: body, request, response, request_ext, handler, router, upgrade, metrics, debug, thread_dump, sse, ws,
        typed, cookies, multipart
                             the types handlers touch, and what they return
  http: middleware/, tower/  Middleware impls over those types; tower layers and services around them
  http: server/, client/     the two roles, on top of everything above
  pool/, postgres/, redis/, bin/   users of the runtime and of http

Every path a file names is checked: `use crate::...`, `crate::...` in code,
and `super::...` (resolved from the file's place, inline `mod` blocks
included). Comments are skipped, so doc links may point anywhere. The
facades (`src/lib.rs`, `src/http/mod.rs`) re-export and are not checked;
names they re-export are followed to the module that defines them.

Run from the repository root:  python3 scripts/layers.py
Prints each import that goes up a layer and exits 1 if there is any
(`-v` also prints the layer of every file).
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# (area, module) -> rank inside `http`; anything not listed in `http` is an error to fix here.
HTTP_RANKS = {
    "codec": 0,
    "read_buf": 0,
    "body_error": 0,
    "query": 0,
    "tls": 0,
    "log_sink": 0,
    "accept_encoding": 0,
    "conn": 1,
    "body": 2,
    "request": 2,
    "response": 2,
    "request_ext": 2,
    "handler": 2,
    "router": 2,
    "upgrade": 2,
    "metrics": 2,
    "debug": 2,
    "thread_dump": 2,
    "sse": 2,
    "ws": 2,
    "typed": 2,
    "cookies": 2,
    "multipart": 2,
    "static_files": 2,
    "middleware": 3,
    "tower": 3,
    "server": 4,
    "client": 4,
}
TOP_RANKS = {"sys": -1, "runtime": 0, "http": 1, "pool": 1, "postgres": 2, "redis": 2, "bin": 3}
FACADES = {("lib",), ("http",)}
# Inside runtime/ (one layer above), pairs that must not import each other's way:
# the loop's core is below the park API built on it.
NEVER = {("runtime/core", "runtime/park")}


def module_path(rel):
    """src-relative file path -> module path components (a bin is ['bin', name, ...])."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "main"):
        parts = parts[:-1]
    return parts


def reexports(facade_file, prefix):
    """Names a facade re-exports -> the module path they come from."""
    out = {}
    text = open(facade_file, encoding="utf-8").read()
    for m in re.finditer(r"^pub use ([\w:]+)::(\{[^}]*\}|\w+);", text, re.M):
        src = [p for p in m.group(1).split("::") if p not in ("self", "crate")]
        for name in re.findall(r"\w+", m.group(2)):
            out[name] = prefix + src
    return out


LIB_REEXPORTS = reexports(os.path.join(ROOT, "lib.rs"), [])
HTTP_REEXPORTS = reexports(os.path.join(ROOT, "http", "mod.rs"), ["http"])


def canonical(path):
    """Follow facade re-exports: `crate::Handle` -> runtime, `crate::http::Body` -> http::body."""
    if path and path[0] in LIB_REEXPORTS:
        path = LIB_REEXPORTS[path[0]] + path[1:]
    if len(path) >= 2 and path[0] == "http" and path[1] in HTTP_REEXPORTS:
        path = HTTP_REEXPORTS[path[1]] + path[2:]
    return path


def layer(path):
    """Module path -> (rank tuple, label), or None for paths outside the crate's layers."""
    if not path:
        return None
    top = path[0]
    if top not in TOP_RANKS:
        return None
    if top == "http":
        if len(path) < 2 or path[1] not in HTTP_RANKS:
            return None  # `http` itself (the facade), or an external crate's `http::` path
        return (TOP_RANKS[top], HTTP_RANKS[path[1]]), "http/" + path[1]
    if top == "runtime" and len(path) >= 2:
        return (TOP_RANKS[top], 0), "runtime/" + path[1]
    return (TOP_RANKS[top], 0), top


def strip_code(line):
    """The code part of a line: no `//` comment, no string literals."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    i = line.find("//")
    return line if i < 0 else line[:i]


PATH_RE = re.compile(r"\b((?:crate|super)(?:::(?:super|\w+))*)(?:::\{([^}]*)\})?")


def targets(expr, group, here):
    """Resolve one `crate::a::b` / `super::x` path (and a `{...}` group) to module paths."""
    parts = expr.split("::")
    if parts[0] == "crate":
        base = parts[1:]
    else:
        base = list(here)
        while parts and parts[0] == "super":
            base = base[:-1]
            parts = parts[1:]
        base = base + parts
    if group:
        names = [n.split("::")[0].strip() for n in group.split(",")]
        return [base + [n] for n in names if n and n not in ("self", "*")] or [base]
    return [base]


def check_file(full, rel, errors, verbose):
    here = module_path(rel)
    if tuple(here) in FACADES:
        return
    mine = layer(here)
    if verbose:
        print(f"{rel}: {mine[1] if mine else '-'}")
    if mine is None:
        return
    # Inline `mod name {` blocks move `super::` one level down while open.
    stack = []  # (name, brace depth at which it opened)
    depth = 0
    in_use = ""
    for n, raw in enumerate(open(full, encoding="utf-8"), 1):
        code = strip_code(raw)
        m = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{", code)
        if m:
            stack.append((m.group(1), depth))
        scope = here + [s[0] for s in stack]
        # A multi-line `use` group: join it until its `;`.
        if in_use or re.match(r"\s*(pub(\([^)]*\))?\s+)?use\s", code):
            in_use += code
            if ";" not in code:
                depth += code.count("{") - code.count("}")
                continue
            code, in_use = in_use, ""
        for pm in PATH_RE.finditer(code):
            for target in targets(pm.group(1), pm.group(2), scope):
                target = canonical(target)
                theirs = layer(target)
                if theirs is None or theirs[1] == mine[1]:
                    continue
                runtime_out = mine[1].startswith("runtime") and not theirs[1].startswith(("runtime", "sys"))
                if theirs[0] > mine[0] or runtime_out or (mine[1], theirs[1]) in NEVER:
                    errors.append(f"{rel}:{n}: {mine[1]} imports {'::'.join(target)} ({theirs[1]}, a layer above)")
        depth += code.count("{") - code.count("}")
        while stack and depth <= stack[-1][1]:
            stack.pop()


def main():
    verbose = "-v" in sys.argv[1:]
    errors = []
    for dirpath, _, files in os.walk(ROOT):
        for f in sorted(files):
            if f.endswith(".rs"):
                full = os.path.join(dirpath, f)
                check_file(full, os.path.relpath(full, ROOT), errors, verbose)
    for e in sorted(errors):
        print(e)
    if errors:
        print(f"{len(errors)} import(s) go up a layer (see scripts/layers.py for the layers)")
        return 1
    print("layers: every import goes down or sideways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
