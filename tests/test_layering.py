"""Import layering: no import cycle between modules, no import against the documented direction.

The allowed edges are the table between the ``layering`` markers of docs/architecture.md (the one
place they are written down; this test reads it). Every import counts: module level, inside
functions, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
PACKAGES = ("universed", "devtools")


def read_table(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """room -> (module patterns, rooms it may import) from the marked markdown table."""
    match = re.search(r"<!-- layering -->(.*?)<!-- /layering -->", text, re.S)
    assert match, f"{DOC}: no <!-- layering --> ... <!-- /layering --> table"
    rooms: dict[str, tuple[list[str], set[str]]] = {}
    for line in match.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0] or set(cells[0]) <= set("-: ") or cells[0] == "room":
            continue
        room, modules, allowed = cells
        patterns = re.findall(r"`([\w.*]+)`", modules)
        may = {r.strip() for r in allowed.split(",") if r.strip() not in ("", "—", "-")}
        assert patterns, f"room {room}: no modules"
        rooms[room.strip("*` ")] = (patterns, may)
    for room, (_, may) in rooms.items():
        unknown = may - set(rooms)
        assert not unknown, f"room {room} may import unknown rooms {sorted(unknown)}"
    return rooms


def module_names(root: Path = REPO) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The in-project modules ``name`` imports (relative imports resolved)."""
    known = set(known)
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in known:  # `import a.b.c` of a name inside a module
            target = target.rpartition(".")[0]
        if target:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                add(sub if sub in known else source)
    found.discard(name)
    return found


def room_of(module: str, rooms: Mapping[str, tuple[list[str], set[str]]]) -> str:
    hits = [
        room
        for room, (patterns, _) in rooms.items()
        for p in patterns
        if module == p or (p.endswith(".*") and (module + ".").startswith(p[:-1]))
    ]
    assert len(hits) == 1, f"{module} is in rooms {hits}: each module belongs to exactly one"
    return hits[0]


def violations(
    graph: Mapping[str, set[str]], rooms: Mapping[str, tuple[list[str], set[str]]]
) -> list[str]:
    bad = []
    for src, targets in sorted(graph.items()):
        a = room_of(src, rooms)
        for dst in sorted(targets):
            b = room_of(dst, rooms)
            if a != b and b not in rooms[a][1]:
                bad.append(f"{src} ({a}) imports {dst} ({b})")
    return bad


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def rooms() -> dict[str, tuple[list[str], set[str]]]:
    return read_table(DOC.read_text())


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = module_names()
    return {name: imports_of(name, path, mods) for name, path in mods.items()}


def test_every_module_is_in_exactly_one_room(rooms: dict, graph: dict) -> None:
    for module in graph:
        room_of(module, rooms)


def test_no_import_against_the_documented_direction(rooms: dict, graph: dict) -> None:
    assert violations(graph, rooms) == []


def test_no_import_cycle(graph: dict) -> None:
    assert cycles(graph) == []


def test_the_checks_can_fail(rooms: dict, graph: dict) -> None:
    """An upward import and a cycle, added to the real graph, are both reported."""
    bad = {k: set(v) for k, v in graph.items()}
    bad["universed.core.engine"].add("universed.server.dashboard")  # core -> server
    bad["universed.core.messages"].add("universed.core.engine")  # engine -> ... -> messages
    assert violations(bad, rooms) == [
        "universed.core.engine (core) imports universed.server.dashboard (server)"
    ]
    assert any("universed.core.messages" in c for c in cycles(bad))
    assert "universed.core.engine" in graph["universed.server.daemon"]  # the parser sees imports
    assert "universed.core.messages" in graph["universed.server.rest.admin"]
