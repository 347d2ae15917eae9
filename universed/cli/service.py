"""``universed install-service``: install the systemd unit, its hardening drop-in and the config.

`install_service` writes the unit, the hardening drop-in and the example configuration (never
overwriting an existing configuration) below a root directory. The running side of systemd
(sd_notify, the watchdog) is core/notify.py.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

__all__ = ["install_main", "install_service", "render_unit", "template_dir"]


UNIT = "universed.service"
DROP_IN = "universed.service.d/hardening.conf"
CONFIG_EXAMPLE = "universed.toml.example"
DEFAULT_EXEC = "/usr/local/bin/universed"


def template_dir() -> Path:
    """Where the unit templates are: packaged ``universed/_systemd`` or the checkout's systemd/."""
    packaged = Path(str(resources.files("universed").joinpath("_systemd")))
    for candidate in (packaged, Path(__file__).resolve().parents[2] / "systemd"):
        if (candidate / UNIT).is_file():
            return candidate
    raise FileNotFoundError(f"{UNIT} template not found in {packaged} or the checkout's systemd/")


def render_unit(text: str, *, exec_start: str = DEFAULT_EXEC, name: str = "universed") -> str:
    """Point ``ExecStart=`` at ``exec_start`` and rename the state/config directories to ``name``.

    ``exec_start`` is the command that runs universed (a path, or e.g. ``/usr/bin/python3 -m
    universed.cli``); ``name`` lets tests install a unit that cannot clash with a real one.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"bad service name {name!r}: letters, digits, '_', '.', '-' only")
    pattern = rf"^ExecStart={re.escape(DEFAULT_EXEC)}(?=\s|$)"
    text, count = re.subn(pattern, lambda _m: f"ExecStart={exec_start}", text, flags=re.M)
    if count != 1:
        raise ValueError(f"the unit template must have one 'ExecStart={DEFAULT_EXEC} ...' line")
    if name != "universed":
        keys = "StateDirectory|ConfigurationDirectory|User|Group|SyslogIdentifier"
        text = re.sub(rf"^({keys})=universed$", rf"\1={name}", text, flags=re.M)
        text = text.replace("/etc/universed/", f"/etc/{name}/")
        text = text.replace("/var/lib/universed", f"/var/lib/{name}")
    return text


def install_service(
    root: str | Path = "/",
    *,
    exec_start: str | None = None,
    name: str = "universed",
    unit_dir: str = "etc/systemd/system",
    hardening: bool = True,
) -> list[Path]:
    """Install the unit, the hardening drop-in and the configuration below ``root``.

    Writes ``<root>/etc/systemd/system/<name>.service``, ``<name>.service.d/hardening.conf`` and,
    only if it does not exist yet, ``<root>/etc/<name>/universed.toml`` (from the example). Returns
    the paths written. ``exec_start`` defaults to the ``universed`` script beside this Python.

    Raises:
        FileNotFoundError: the templates are missing.
        ValueError: a bad ``name``.
    """
    src = template_dir()
    if exec_start is None:
        exec_start = _default_exec()
    root = Path(root)
    written: list[Path] = []
    unit_path = root / unit_dir / f"{name}.service"
    text = render_unit((src / UNIT).read_text(), exec_start=exec_start, name=name)
    written.append(_write(unit_path, text, 0o644))
    drop_in = root / unit_dir / f"{name}.service.d" / Path(DROP_IN).name
    if hardening:
        written.append(_write(drop_in, (src / DROP_IN).read_text(), 0o644))
    elif drop_in.exists():
        drop_in.unlink()
    config = root / "etc" / name / "universed.toml"
    if not config.exists():
        written.append(_write(config, (src / CONFIG_EXAMPLE).read_text(), 0o644))
    return written


def _default_exec() -> str:
    script = Path(sys.executable).parent / "universed"
    if script.is_file():
        return str(script)
    found = shutil.which("universed")
    return found if found else DEFAULT_EXEC


def _write(path: Path, text: str, mode: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return path


def install_main(argv: Sequence[str] | None = None) -> int:
    """``universed install-service [--root DIR] [--exec CMD] [--no-hardening]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="universed install-service",
        description="Install the systemd unit, its hardening drop-in and /etc/universed/"
        "universed.toml (an existing configuration is kept). Then: systemctl daemon-reload && "
        "systemctl enable --now universed",
    )
    parser.add_argument("--root", default="/", help="install below this directory (default /)")
    parser.add_argument(
        "--exec",
        dest="exec_start",
        help="command for ExecStart= (default: the universed script of this Python)",
    )
    parser.add_argument("--no-hardening", action="store_true", help="skip the hardening drop-in")
    args = parser.parse_args(argv)
    try:
        paths = install_service(
            args.root, exec_start=args.exec_start, hardening=not args.no_hardening
        )
    except (OSError, ValueError) as exc:
        print(f"universed install-service: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0
