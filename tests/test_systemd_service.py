"""`systemctl start universed` for real: a private systemd in new PID and mount namespaces.

The unit under test is the shipped one (universed.service + hardening.conf, installed by
`install_service`) under a unique name, so it cannot clash with a real installation; its state and
configuration directories are named after it and removed at the end. The network namespace is
shared, so the test talks to the service on 127.0.0.1 directly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import free_port

from universed.cli.service import install_service

pytestmark = pytest.mark.systemd

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = Path("/lib/systemd/systemd")
UNIT_DIR = Path("/etc/systemd/system")
UNSHARE = ("unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private")
BOOT = (
    "mount -t tmpfs tmpfs /tmp && mount -t tmpfs tmpfs /var/tmp && mount -t tmpfs tmpfs /run"
    f" || exit 1; exec {SYSTEMD} --system --log-target=null --unit=basic.target"
)


def _why_not() -> str | None:
    if sys.platform != "linux":
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root to boot a private systemd in new namespaces"
    for tool in ("unshare", "nsenter", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (util-linux)"
    if not SYSTEMD.is_file():
        return f"{SYSTEMD} not installed (apt-get install systemd)"
    return None


class PrivateSystemd:
    """A systemd booted as PID 1 of a private PID + mount namespace."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*UNSHARE, "sh", "-c", BOOT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.pid = self._child_pid()
        self.enter = ("nsenter", "-t", str(self.pid), "-m", "-p")

    def _child_pid(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"unshare exited: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
            text = children.read_text().split() if children.exists() else []
            if text:
                return int(text[0])
            time.sleep(0.05)
        raise RuntimeError("the private systemd did not start")

    def run(self, *argv: str, timeout: float = 60, check: bool = True) -> str:
        result = subprocess.run(
            [*self.enter, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} failed ({result.returncode}): {result.stdout}{result.stderr}"
            )
        return result.stdout

    def systemctl(self, *argv: str, timeout: float = 60, check: bool = True) -> str:
        return self.run("systemctl", *argv, timeout=timeout, check=check)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, unit: str) -> str:
        return self.run("journalctl", "--no-pager", "-n", "80", "-u", unit, check=False)

    def wait_booted(self, timeout: float = 90) -> str:
        """Wait for the boot to finish; the state ("running", "degraded", ...) or the error."""
        deadline = time.monotonic() + timeout
        while True:  # until systemd listens on /run/systemd/private, systemctl cannot connect
            result = subprocess.run(
                [*self.enter, "systemctl", "is-system-running", "--wait"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if result.stdout.strip() or time.monotonic() > deadline or self.proc.poll() is not None:
                return result.stdout.strip() or result.stderr.strip()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.run("systemctl", "exit", check=False, timeout=30)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # systemd runs in its own session: SIGKILL of a namespace's PID 1 ends everything
                # in that namespace, and then unshare exits.
                os.kill(self.pid, 9)
                self.proc.wait(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def private_systemd() -> Iterator[PrivateSystemd]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    sd = PrivateSystemd()
    try:
        state = sd.wait_booted()
        if state not in ("running", "degraded"):
            pytest.skip(f"the private systemd did not boot (state {state!r})")
        yield sd
    finally:
        sd.stop()


def _runs_as_nobody(python: Path) -> bool:
    probe = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "-i"]
    probe += [str(python), "-c", "import universed.cli, orjson"]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


def _exec_for_service(scratch: Path) -> tuple[str, str]:
    """How the service runs this checkout: (ExecStart command, extra [Service] lines).

    The venv's ``universed`` script is preferred. ProtectHome=yes hides /root and /home, so when
    the venv's interpreter lives there (pyenv), ``scratch`` becomes a venv of the system Python of
    the same version whose .pth file adds this venv's site-packages (plugins' .pth files included),
    keeping the hardening drop-in as shipped.
    """
    if REPO.is_relative_to("/tmp") or Path(sys.prefix).is_relative_to("/tmp"):
        pytest.skip("this checkout lives under /tmp, which the private systemd mounts over")
    venv_python = Path(sys.executable)
    real = venv_python.resolve()
    hidden = any(real.is_relative_to(p) for p in (Path("/root"), Path("/home"), Path("/run/user")))
    if not hidden and _runs_as_nobody(venv_python):
        return str(venv_python.parent / "universed"), ""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system_python = Path("/usr/bin") / version
    if system_python.is_file():
        subprocess.run([system_python, "-m", "venv", "--without-pip", scratch], check=True)
        site = Path(sys.prefix) / "lib" / version / "site-packages"
        pth = scratch / "lib" / version / "site-packages" / "universed-e2e.pth"
        pth.write_text(f"import site; site.addsitedir({str(site)!r})\n")
        if _runs_as_nobody(scratch / "bin" / "python"):
            return f"{scratch}/bin/python -m universed.cli", ""
    if _runs_as_nobody(venv_python):
        return str(venv_python.parent / "universed"), "ProtectHome=read-only\n"
    pytest.skip(f"no Python that an unprivileged service user can run universed with ({real})")


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return orjson.loads(resp.read())  # type: ignore[no-any-return]


def _until(what: str, check: Callable[[], bool], timeout: float, diag: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{diag()}")
        time.sleep(0.1)


@pytest.fixture
def service(private_systemd: PrivateSystemd) -> Iterator[tuple[str, int]]:
    """The shipped unit installed under a unique name; removed again afterwards."""
    name = f"universed-e2e-{uuid.uuid4().hex[:8]}"
    scratch = Path("/opt") / f"{name}-python"  # visible to the sandboxed service (not /tmp)
    exec_start, extra = _exec_for_service(scratch)
    port = free_port()
    paths = install_service("/", exec_start=exec_start, name=name)
    drop_in = UNIT_DIR / f"{name}.service.d" / "zz-e2e.conf"
    # A short watchdog: the test proves the daemon feeds it, and that a hung daemon is restarted.
    drop_in.write_text(f"[Service]\nWatchdogSec=2\nTimeoutAbortSec=2\nTimeoutStartSec=20\n{extra}")
    config = Path("/etc") / name / "universed.toml"
    config.write_text(f"port = {port}\ntick_rate = 20.0\ncheckpoint_every = 50\n")
    try:
        private_systemd.systemctl("daemon-reload")
        yield name, port
    finally:
        private_systemd.systemctl("stop", name, check=False)
        for path in [*paths, drop_in]:
            path.unlink(missing_ok=True)
        shutil.rmtree(UNIT_DIR / f"{name}.service.d", ignore_errors=True)
        shutil.rmtree(config.parent, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(Path("/var/lib/private") / name, ignore_errors=True)
        Path("/var/lib", name).unlink(missing_ok=True)  # DynamicUser's symlink to private/
        private_systemd.systemctl("daemon-reload", check=False)


def test_systemctl_start_restart_reload_stop(
    private_systemd: PrivateSystemd, service: tuple[str, int]
) -> None:
    sd = private_systemd
    name, port = service
    props = ("ActiveState", "SubState", "MainPID", "NRestarts", "StatusText", "Result")

    def diag() -> str:
        return f"{sd.show(name, *props)}\n{sd.journal(name)}"

    # Type=notify: `start` returns once the daemon sent READY=1 (or fails).
    result = sd.systemctl("start", name, timeout=120, check=False)
    started = time.monotonic()
    state = sd.show(name, *props)
    assert state["ActiveState"] == "active", diag()
    assert state["SubState"] == "running"
    status = _get(port, "/api/status")
    assert status["sim"]["state"] == "running", status
    _until(
        "a STATUS= line with the tick",
        lambda: "tick" in sd.show(name, "StatusText")["StatusText"],
        30,
        diag,
    )
    # StateDirectory + DynamicUser: the checkpoints land in /var/lib/private/<name>.
    state_dir = Path("/var/lib/private") / name
    _until("a checkpoint in the state directory", lambda: any(state_dir.glob("**/*")), 30, diag)
    assert result == ""
    # The tick loop feeds the watchdog: alive well past WatchdogSec=2, never restarted.
    time.sleep(max(0.0, started + 3.0 - time.monotonic()))
    state = sd.show(name, *props)
    assert (state["ActiveState"], state["NRestarts"]) == ("active", "0"), diag()

    # SIGKILL of the main process: Restart=on-failure brings it back.
    first_pid = state["MainPID"]
    sd.systemctl("kill", "--kill-who=main", "--signal=SIGKILL", name)
    _until(
        "the restart after SIGKILL",
        lambda: (
            (s := sd.show(name, *props))["NRestarts"] == "1"
            and s["ActiveState"] == "active"
            and s["MainPID"] not in ("0", first_pid)
        ),
        60,
        diag,
    )
    assert _get(port, "/api/status")["sim"]["state"] == "running"

    # A hung daemon stops feeding the watchdog (WatchdogSec=2 here): systemd aborts and restarts it.
    second_pid = sd.show(name, "MainPID")["MainPID"]
    sd.systemctl("kill", "--kill-who=main", "--signal=SIGSTOP", name)
    _until(
        "the watchdog restart of a stopped daemon",
        lambda: (
            (s := sd.show(name, *props))["NRestarts"] == "2"
            and s["ActiveState"] == "active"
            and s["MainPID"] not in ("0", second_pid)
        ),
        60,
        diag,
    )
    # (A stopped process cannot exit by itself: only the watchdog's SIGABRT/SIGKILL ends it.)

    # systemctl reload = SIGHUP: the configuration is re-read, the process stays.
    third_pid = sd.show(name, "MainPID")["MainPID"]
    sd.systemctl("reload", name, timeout=60)
    state = sd.show(name, *props)
    assert (state["ActiveState"], state["MainPID"], state["NRestarts"]) == (
        "active",
        third_pid,
        "2",
    ), diag()
    _get(port, "/api/status")

    # stop = SIGTERM: a clean exit (status 0, so Result=success), nothing left running.
    sd.systemctl("stop", name, timeout=90)
    state = sd.show(name, *props, "ExecMainStatus")
    assert state["ActiveState"] == "inactive", diag()
    assert state["Result"] == "success", diag()
    with pytest.raises(OSError):
        _get(port, "/api/status")
