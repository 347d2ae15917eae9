"""Build hooks: compile the C engine with make, ship it in the package, tag the wheel truthfully.

`pip install .` / `pip wheel .` / `python -m build` run build_py, which runs `make -C sim` with its
build directory under setuptools' build_temp (not the checkout's sim/build, which belongs to the
developer's `make sim`) and copies the executable to `universed/_bin/universe-sim`, so an
installed universed needs nothing else built. The systemd unit templates (systemd/) go to
`universed/_systemd` (`universed install-service`), the docs a model reads to `universed/_docs`. Modules that match
`[tool.universed-build] wheel-exclude` in pyproject.toml (developer tools) stay out of the wheel.

The engine is an executable, not a CPython extension: the wheel is python- and ABI-agnostic but
platform-specific, `py3-none-<platform>`, like the cmake and ninja wheels. On glibc Linux the
platform is `manylinux_2_<N>_<arch>`, N being the newest GLIBC_2.N symbol version the built binary
asks for (read from its ELF version-needs table, as auditwheel does), provided it links only
libraries every manylinux system has; otherwise the plain `linux_<arch>` (or the interpreter's
platform off Linux). Nothing here is a guess about the build machine: it is read from the binary.

An editable install (`pip install -e .`, `make venv`) builds the engine in the checkout's
sim/build as before: an editable universed finds it there (universed.simproc.find_sim_binary).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ENGINE = "universe-sim"
LIBRARY = "libuniverse.so"  # universed.rl.VecUniverse

# the libraries a manylinux system is required to provide (PEP 600 / auditwheel's policy list)
MANYLINUX_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "ld-linux.so.2",
    "ld64.so.2",
    "ld64.so.1",
}
# manylinux2014's baseline (glibc 2.17) is the oldest policy pip and auditwheel still name for
# these architectures; a binary that needs less is still correctly described by it
MANYLINUX_FLOOR = 17
ELF_ARCH = {62: "x86_64", 183: "aarch64", 3: "i686", 21: "ppc64le", 22: "s390x", 243: "riscv64"}


def wheel_excludes() -> list[str]:
    """The `[tool.universed-build] wheel-exclude` patterns (tests/test_wheel.py reads them too)."""
    with open(HERE / "pyproject.toml", "rb") as f:
        table = tomllib.load(f).get("tool", {}).get("universed-build", {})
    return list(table.get("wheel-exclude", []))


def elf_needs(path: Path) -> tuple[str, list[str], list[tuple[int, int]]] | None:
    """(arch, DT_NEEDED libraries, GLIBC_x.y versions asked for) of an ELF file, None if not ELF."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        return None
    is64, order = data[4] == 2, "<" if data[5] == 1 else ">"
    machine = struct.unpack_from(order + "H", data, 18)[0]
    if is64:
        shoff, shentsize, shnum = (
            struct.unpack_from(order + "Q", data, 0x28)[0],
            *struct.unpack_from(order + "HH", data, 0x3A),
        )
    else:
        shoff, shentsize, shnum = (
            struct.unpack_from(order + "I", data, 0x20)[0],
            *struct.unpack_from(order + "HH", data, 0x2E),
        )
    sections = []  # (type, offset, size, link, entsize)
    for i in range(shnum):
        base = shoff + i * shentsize
        if is64:
            _, typ, _, _, off, size, link, _, _, entsize = struct.unpack_from(
                order + "IIQQQQIIQQ", data, base
            )
        else:
            _, typ, _, _, off, size, link, _, _, entsize = struct.unpack_from(
                order + "IIIIIIIIII", data, base
            )
        sections.append((typ, off, size, link, entsize))

    def string(table: int, offset: int) -> str:
        start = sections[table][1] + offset
        return data[start : data.index(b"\0", start)].decode()

    needed: list[str] = []
    glibc: set[tuple[int, int]] = set()
    for typ, off, size, link, entsize in sections:
        if typ == 6:  # SHT_DYNAMIC: DT_NEEDED entries
            fmt = order + ("qQ" if is64 else "iI")
            for pos in range(off, off + size, entsize or struct.calcsize(fmt)):
                tag, val = struct.unpack_from(fmt, data, pos)
                if tag == 0:
                    break
                if tag == 1:
                    needed.append(string(link, val))
        elif typ == 0x6FFFFFFE:  # SHT_GNU_verneed: which symbol versions of which library
            pos = off
            while True:
                _, cnt, _, aux, nxt = struct.unpack_from(order + "HHIII", data, pos)
                apos = pos + aux
                for _ in range(cnt):
                    _, _, _, name, anext = struct.unpack_from(order + "IHHII", data, apos)
                    m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", string(link, name))
                    if m:
                        glibc.add((int(m.group(1)), int(m.group(2))))
                    apos += anext
                if not nxt:
                    break
                pos += nxt
    arch = ELF_ARCH.get(machine, sysconfig.get_platform().split("-")[-1])
    if machine == 21 and order == ">":
        arch = "ppc64"
    return arch, needed, sorted(glibc)


def platform_tag(binary: Path) -> str:
    """The wheel platform tag the built engine honestly fits (see the module docstring)."""
    fallback = re.sub(r"[-.]", "_", sysconfig.get_platform())
    if not sys.platform.startswith("linux"):
        return fallback
    info = elf_needs(binary)
    if info is None:
        return fallback
    arch, needed, glibc = info
    if not glibc or any(v[0] != 2 for v in glibc) or not set(needed) <= MANYLINUX_LIBS:
        return f"linux_{arch}"  # static, musl or an extra library: no manylinux promise
    return f"manylinux_2_{max(MANYLINUX_FLOOR, glibc[-1][1])}_{arch}"


class BuildWithSim(build_py):
    def build_module(self, module: str, module_file: str, package: str | list[str]) -> object:
        """Skip the wheel-exclude modules (the sdist, which lists sources, keeps them)."""
        parts = package.split(".") if isinstance(package, str) else list(package)
        path = "/".join([*parts, module]) + ".py"
        if not self.editable_mode and any(fnmatch.fnmatch(path, p) for p in wheel_excludes()):
            return None
        return super().build_module(module, module_file, package)

    def run(self) -> None:
        super().run()
        make = [os.environ.get("MAKE", "make"), "-C", str(HERE / "sim")]
        if self.editable_mode:  # the checkout's own sim/build, as `make sim` builds it
            build = HERE / "sim" / "build"
            subprocess.run([*make, f"build/{ENGINE}", f"build/{LIBRARY}"], check=True)
        else:
            build = Path(self.get_finalized_command("build").build_temp).resolve() / "sim"
            subprocess.run(
                [*make, f"B={build}", str(build / ENGINE), str(build / LIBRARY)], check=True
            )
        target = Path(self.build_lib) / "universed" / "_bin"
        target.mkdir(parents=True, exist_ok=True)
        dest = target / ENGINE
        shutil.copy2(build / ENGINE, dest)
        os.chmod(dest, 0o755)
        # the same engine as a shared library for universed.rl (ctypes; sim/src/vec.h)
        shutil.copy2(build / LIBRARY, target / LIBRARY)
        units = Path(self.build_lib) / "universed" / "_systemd"
        shutil.copytree(HERE / "systemd", units, dirs_exist_ok=True)
        # the rules and protocol docs a model reads (universed.core.rules.rules_doc, the MCP
        # server's resources, the LLM policy's prompt)
        docs = Path(self.build_lib) / "universed" / "_docs"
        docs.mkdir(parents=True, exist_ok=True)
        for name in ("universe", "agent-protocol", "pipe-protocol", "llm-agents"):
            shutil.copy2(HERE / "docs" / f"{name}.md", docs / f"{name}.md")


class EngineDistribution(Distribution):
    """Platform-specific (it carries an executable): installs to platlib, wheel not pure."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """Not pure, but needs no particular Python or ABI: py3-none-<platform>."""

    def get_tag(self) -> tuple[str, str, str]:
        if self.plat_name_supplied:
            return "py3", "none", re.sub(r"[-.]", "_", self.plat_name)
        build_lib = self.get_finalized_command("build_py").build_lib
        engine = Path(build_lib) / "universed" / "_bin" / ENGINE
        if not engine.is_file():  # an editable install asks before building: this machine's tag
            return "py3", "none", re.sub(r"[-.]", "_", sysconfig.get_platform())
        return "py3", "none", platform_tag(engine)


setup(
    distclass=EngineDistribution,
    cmdclass={"build_py": BuildWithSim, "bdist_wheel": PlatformWheel},
)
