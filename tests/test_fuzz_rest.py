"""REST fuzzing with schemathesis, from the daemon's own /api/openapi.json.

A real daemon (subprocess, paused, three probes, an admin token) on an ephemeral 127.0.0.1 port;
schemathesis generates requests for every operation (examples, coverage and fuzzing phases, fixed
seed, bounded examples). Checks: no 5xx, status codes and content types as documented, and every
response body matches its schema. Once with the admin token (mutating endpoints really run) and
once without (every mutating request must be refused, still without a 5xx).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ADMIN = "schemathesis-admin-token-0123456789"
ST = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,ignored_auth"
)


@pytest.fixture(scope="module")
def daemon_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    work = tmp_path_factory.mktemp("st")
    cfg = work / "daemon.toml"
    cfg.write_text(
        f'mode = "paused"\nadmin_token = "{ADMIN}"\nstate_dir = "{work / "state"}"\n'
        'log_level = "warning"\nrest_requests_per_second = 100000.0\nrest_request_burst = 100000\n'
    )
    log = (work / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.soak", "serve", "--config", str(cfg), "--populate", "3"],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.match(rb"SOAK-PORT (\d+)", line)
    try:
        assert match, f"the daemon did not start: {(work / 'daemon.log').read_text()[-2000:]}"
        yield int(match.group(1))
        assert proc.poll() is None, "the daemon died during the run"
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
        log.close()
        text = (work / "daemon.log").read_text()
        assert "Traceback" not in text, text[-4000:]


def schemathesis(port: int, *extra: str, examples: int) -> subprocess.CompletedProcess[str]:
    if not ST.exists() and shutil.which("schemathesis") is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    cmd = [
        str(ST) if ST.exists() else "schemathesis",
        "run",
        f"http://127.0.0.1:{port}/api/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "7",
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        *extra,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=150, check=False)


def test_rest_fuzz_with_admin_token(daemon_port: int) -> None:
    run = schemathesis(daemon_port, "--header", f"Authorization: Bearer {ADMIN}", examples=10)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(r"\d+ generated", run.stdout), run.stdout[-2000:]


def test_rest_fuzz_without_a_token(daemon_port: int) -> None:
    run = schemathesis(daemon_port, examples=4)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_rest_fuzz_stateful_follows_the_links(daemon_port: int) -> None:
    """schemathesis' stateful phase: sequences along the OpenAPI links (status -> a probe's
    detail, history and scan; snapshot -> restore; save -> load) with the same checks."""
    run = schemathesis(
        daemon_port,
        "--header",
        f"Authorization: Bearer {ADMIN}",
        "--phases",
        "stateful",
        examples=10,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Stateful" in run.stdout, run.stdout[-3000:]
