"""The wheel tells the truth, and installs and serves where there is no compiler.

Builds the wheel from a copy of the checkout (the build writes build/ and *.egg-info into the tree
it builds), then checks its tag (py3-none-<this machine's manylinux/linux platform>, the glibc
level read from the engine by objdump), its contents (the engine executable, every runtime module,
the dashboard and unit files; none of the developer tools) and finally installs it with
`pip install --no-deps --no-index` into a fresh venv whose PATH has no compiler or make, and runs
`universed serve` from there: the daemon answers GET /api/status and stops on SIGTERM.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, reap
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename
from packaging.version import Version

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the engine wheel is Linux"),
]

ROOT = Path(__file__).resolve().parent.parent
# Developer tools that must stay out of the wheel: the same list the build excludes (setup.py reads
# `[tool.universed-build] wheel-exclude`), fnmatch patterns against paths inside the wheel.
DEV_TOOLS: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "universed-build"
]["wheel-exclude"]
ENGINE = "universed/_bin/universe-sim"
# besides every module of the package, these must be in the wheel
REQUIRED = [
    ENGINE,
    "universed/_bin/libuniverse.so",
    "universed/default.toml",
    "universed/py.typed",
    "universed/static/index.html",
    "universed/_systemd/universed.service",
    "universed/_systemd/universed.service.d/hardening.conf",
    "universed/_docs/universe.md",
    "universed/_docs/agent-protocol.md",
]
# not copied into the build tree: hidden entries (VCS, venvs, state, caches), build output, DBs
COPY_IGNORE = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "_bin", "__pycache__", "fuzz-out", "artifacts", "*.db*"
)
COMPILERS = ("gcc", "cc", "c99", "clang", "tcc", "make", "ld")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(the wheel, the tree it was built from)."""
    have = Version(importlib.metadata.version("setuptools"))
    assert have >= Version("77"), f"setuptools {have} in this venv: `make venv` brings >=77"
    tmp = tmp_path_factory.mktemp("wheel")
    tree, out = tmp / "src", tmp / "dist"
    shutil.copytree(ROOT, tree, ignore=COPY_IGNORE, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["MAKEFLAGS"] = f"-j{min(os.cpu_count() or 1, 4)}"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index"]
    subprocess.run(
        [*pip_wheel, "--no-build-isolation", "-w", str(out), str(tree)],
        check=True,
        env=env,
        cwd=tmp,
    )
    (wheel,) = out.glob("universed-*.whl")
    yield wheel, tree


def test_the_wheel_is_tagged_for_this_platform_and_no_python(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    _, _, _, tags = parse_wheel_filename(wheel.name)
    here = set(sys_tags())
    for tag in tags:
        assert (tag.interpreter, tag.abi) == ("py3", "none"), wheel.name
        assert re.fullmatch(r"(manylinux_\d+_\d+|linux)_\w+", tag.platform), wheel.name
        assert tag in here, f"{wheel.name} does not install on this machine"
    with zipfile.ZipFile(wheel) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))).decode()
        assert "Root-Is-Purelib: false" in meta
        engine = z.read(ENGINE)
    if shutil.which("objdump") is None:
        return
    # the glibc level comes from the binary (an independent reading of its version needs)
    tmp = wheel.parent / "universe-sim"
    tmp.write_bytes(engine)
    dump = subprocess.run(["objdump", "-T", str(tmp)], capture_output=True, text=True, check=True)
    minors = [int(m) for m in re.findall(r"GLIBC_2\.(\d+)", dump.stdout)]
    (platform,) = {t.platform for t in tags}
    if minors:
        assert platform == f"manylinux_2_{max(17, *minors)}_{os.uname().machine}"


def test_the_wheel_carries_the_engine_and_the_package_not_the_developer_tools(
    built: tuple[Path, Path],
) -> None:
    wheel, tree = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        mode = z.getinfo(ENGINE).external_attr >> 16
    assert stat.S_ISREG(mode) and mode & 0o111 == 0o111, oct(mode)
    assert DEV_TOOLS, "no developer tools declared in [tool.universed-build] wheel-exclude"
    shipped_tools = sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in DEV_TOOLS))
    assert shipped_tools == []
    modules = {
        p.relative_to(tree).as_posix()
        for p in (tree / "universed").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    runtime = {m for m in modules if not any(fnmatch.fnmatch(m, p) for p in DEV_TOOLS)}
    assert {"universed/cli/commands.py", "universed/core/engine.py"} <= runtime
    # the developer tools live outside the runtime package and stay out of the wheel
    assert (tree / "devtools" / "soak.py").exists()
    assert "universed/bench.py" in names  # operators benchmark their machine with it
    assert not any(n.startswith("devtools/") for n in names)
    assert sorted(runtime - names) == []
    assert sorted(set(REQUIRED) - names) == []


def _deps_dir(tmp: Path) -> Path:
    """This venv's site-packages without universed itself, its plugins and their editable hooks."""
    import trio

    site = Path(trio.__file__).resolve().parent.parent
    deps = tmp / "deps"
    deps.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("universed", "__editable__", "_universed")) or name.endswith(".pth"):
            continue
        if name == "__pycache__":
            continue
        (deps / entry.name).symlink_to(entry)
    return deps


def test_a_fresh_venv_without_a_compiler_installs_the_wheel_and_serves(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    wheel, _ = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    # only the venv on PATH: no compiler, no make, no checkout; no inherited PYTHON*/UNIVERSED_*
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    assert [t for t in COMPILERS if shutil.which(t, path=env["PATH"])] == []
    py = str(bin_dir / "python")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env={**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull},
        cwd=tmp_path,
    )
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    # the dependencies, importable without a network; universed and its plugins come from the wheel
    (Path(site) / "_deps.pth").write_text(f"{_deps_dir(tmp_path)}\n")
    probe = subprocess.run(
        [py, "-c", "import importlib.metadata as m, json, universed;"
         "print(json.dumps([universed.__file__,"
         " sorted(d.metadata['Name'] for d in m.distributions()"
         " if d.metadata['Name'].lower().startswith('universed'))]))"],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    where, dists = json.loads(probe.stdout)
    assert Path(where).is_relative_to(site) and dists == ["universed"], probe.stdout

    port = free_port()
    serve = [str(bin_dir / "universed"), "serve", "--port", str(port), "--mode", "paused"]
    proc = subprocess.Popen(
        [*serve, "--state-dir", str(tmp_path / "state"), "--log-level", "warning"],
        env=env,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            try:
                with opener.open(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                    status = json.loads(r.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the installed daemon never answered"
                time.sleep(0.1)
        assert status["mode"] == "paused" and status["tick"] == 0, status
        # the engine it runs is the one from the wheel
        exe = Path(os.readlink(f"/proc/{status['sim']['pid']}/exe"))
        assert exe == Path(site) / ENGINE, exe
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)
