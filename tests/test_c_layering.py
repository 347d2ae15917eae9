"""The engine's C files depend on each other in one direction (sim/tools/layers.py).

The script holds the layer table (base -> core -> mechanics -> persistence -> views -> protocol);
it fails on a file outside the table, on a dependency against the direction and on a cycle.
These tests run it on the real sources and on damaged copies, which must fail."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "sim", "tools", "layers.py")
SRC = os.path.join(ROOT, "sim", "src")


def run(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=60
    )


def damaged_copy(tmp_path, edits):
    """A copy of sim/src with text appended to some files ({name: text})."""
    dst = tmp_path / "src"
    shutil.copytree(SRC, dst)
    for name, text in edits.items():
        with open(dst / name, "a", encoding="utf-8") as f:
            f.write(text)
    return str(dst)


def test_engine_sources_are_layered():
    r = run()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no cycles" in r.stdout


def test_include_against_the_direction_fails(tmp_path):
    # the world (core) must not know the protocol
    src = damaged_copy(tmp_path, {"world.c": '\n#include "proto.h"\n'})
    r = run("--src", src)
    assert r.returncode == 1
    assert "world (core) -> proto (protocol): against the direction" in r.stderr


def test_call_against_the_direction_fails(tmp_path):
    # a mechanic calling an observation writer (the loop this layering removed)
    src = damaged_copy(
        tmp_path, {"life.c": "\nint life_bad_ref(int t) { return observe_ref_type(t); }\n"}
    )
    r = run("--src", src)
    assert r.returncode == 1
    assert "life (mechanics) -> observe_ref (views)" in r.stderr


def test_cycle_within_a_layer_fails(tmp_path):
    # events -> society while society -> events: same layer, but a cycle
    src = damaged_copy(
        tmp_path,
        {"events.c": "\ndouble events_bad(const probe *p) { return society_comm_range(p); }\n"},
    )
    r = run("--src", src)
    assert r.returncode == 1
    assert "cycle:" in r.stderr and "events" in r.stderr and "society" in r.stderr


def test_file_outside_the_table_fails(tmp_path):
    src = damaged_copy(tmp_path, {})
    with open(os.path.join(src, "stray.c"), "w", encoding="utf-8") as f:
        f.write('#include "world.h"\n')
    r = run("--src", src)
    assert r.returncode == 1
    assert "stray: not in the layer table" in r.stderr
