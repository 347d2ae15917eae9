#!/usr/bin/env python3
"""layers.py -- check that the engine's C files depend on each other in one direction.

A module is a file stem in sim/src: `world` is world.c with world.h; a header without a .c of the
same stem (persist.h, persist_codec.h, proto_cmd.h) is a module of its own. Module A depends on
module B when a file of A includes B's header, or when A's .c uses a function or global variable
that B's .c defines (found from the sources: file-scope definitions, then identifier use).

The check fails (exit 1) when
  * a module is not in LAYERS below (every new file must be placed in a layer),
  * a module depends on a module of a higher layer (against the direction), or
  * the dependencies form a cycle (within a layer too).

Usage: python3 sim/tools/layers.py [--src DIR] [--graph]
Stdlib only. The layers are documented in sim/README.md ("Layers").
"""

import argparse
import os
import re
import sys

# The layer table, lowest first. A module may depend on modules of its own layer (without
# cycles) and of the layers below it, never above.
LAYERS = [
    ("base", ["rng", "json", "hmap"]),
    ("core", ["galaxy", "world"]),
    ("mechanics", ["life", "events", "society", "actions", "replicate", "tick"]),
    (
        "persistence",
        [
            "persist",
            "persist_codec",
            "persist_write",
            "persist_read_life",
            "persist_read",
            "persist_file",
        ],
    ),
    ("views", ["observe_ref", "observe_life", "observe_system", "observe_living", "observe_overlay", "observe", "observe_delta"]),
    (
        "protocol",
        [
            "proto",
            "proto_cmd",
            "proto_tick",
            "proto_state",
            "proto_world",
            "proto_events",
            "proto_dispatch",
            "main",
            "vec",
        ],
    ),
]

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
IDENT = re.compile(r"[A-Za-z_]\w*")
FUNC_DEF = re.compile(r"\b([A-Za-z_]\w*)\s*\([^;{}]*\)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{")
VAR_DEF = re.compile(r"\b([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*=")
DECL = re.compile(r"\b([A-Za-z_]\w*)\s*(?:\(|\[|;)")


def strip_c(text):
    """Text without comments, string and character literals (kept as spaces/empty quotes)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def file_scope(code):
    """The text at brace depth 0, with each top-level { ... } body replaced by {}."""
    out, depth = [], 0
    for c in code:
        if c == "{":
            if depth == 0:
                out.append("{")
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                out.append("}")
        elif depth == 0:
            out.append(c)
    return "".join(out)


def scan(src):
    """Modules found in src and their dependency edges {module: {dep: reason}}."""
    files = sorted(f for f in os.listdir(src) if f.endswith((".c", ".h")))
    modules = sorted({f[:-2] for f in files})
    raw = {}
    for f in files:
        with open(os.path.join(src, f), encoding="utf-8") as fh:
            raw[f] = fh.read()
    text = {f: strip_c(raw[f]) for f in files}
    deps = {m: {} for m in modules}
    for f in files:  # includes (read from the raw text: the strip empties the quoted names)
        for h in INCLUDE.findall(raw[f]):
            stem = h[:-2] if h.endswith(".h") else h
            if stem != f[:-2] and stem in deps:
                deps[f[:-2]].setdefault(stem, f"includes {h}")
    public = set()  # names declared at file scope in a header
    for f in files:
        if f.endswith(".h"):
            top = "\n".join(
                x for x in file_scope(text[f]).split("\n") if not x.lstrip().startswith("#")
            )
            for decl in top.split(";"):
                if "typedef" not in decl:
                    public.update(DECL.findall(decl + ";"))
    owner = {}  # public name -> module whose .c defines it
    for f in files:
        if f.endswith(".c"):
            top = file_scope(text[f])
            for name in FUNC_DEF.findall(top) + VAR_DEF.findall(top):
                if name in public:
                    owner.setdefault(name, f[:-2])
    for f in files:
        if f.endswith(".c"):
            m = f[:-2]
            for name in set(IDENT.findall(text[f])):
                o = owner.get(name)
                if o and o != m:
                    deps[m].setdefault(o, f"uses {name}")
    return modules, deps


def check(modules, deps, layers=LAYERS):
    """List of problems (empty: the graph is layered and acyclic)."""
    level = {}
    for i, (_, mods) in enumerate(layers):
        for m in mods:
            level[m] = i
    names = [n for n, _ in layers]
    errors = []
    for m in modules:
        if m not in level:
            errors.append(f"{m}: not in the layer table (sim/tools/layers.py LAYERS)")
    for m in modules:
        for d, why in sorted(deps[m].items()):
            if m in level and d in level and level[d] > level[m]:
                up, down = names[level[m]], names[level[d]]
                errors.append(f"{m} ({up}) -> {d} ({down}): against the direction ({why})")
    # cycles: depth-first search, reporting each back edge's cycle once
    state, stack, seen = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(deps.get(m, {})):
            if state.get(d) == 1:
                cyc = [*stack[stack.index(d) :], d]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    errors.append("cycle: " + " -> ".join(cyc))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in modules:
        if m not in state:
            visit(m)
    return errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--src", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    )
    ap.add_argument("--graph", action="store_true", help="print every module's dependencies")
    args = ap.parse_args(argv)
    modules, deps = scan(args.src)
    if args.graph:
        for m in modules:
            print(f"{m:<18} -> {', '.join(sorted(deps[m])) or '-'}")
    errors = check(modules, deps)
    for e in errors:
        print("layers: " + e, file=sys.stderr)
    if errors:
        print(
            f"layers: {len(errors)} problem(s); the layer table is in sim/tools/layers.py",
            file=sys.stderr,
        )
        return 1
    n_edges = sum(len(v) for v in deps.values())
    chain = " -> ".join(n for n, _ in LAYERS)
    print(
        f"layers: {len(modules)} modules, {n_edges} dependencies, {chain}: one direction, no cycles"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
