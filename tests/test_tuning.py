"""Process tuning of `universed serve` (server/daemon.py): `tune_malloc` keeps big per-tick
buffers off the page-fault path. Checked by what it is for, in fresh processes: the page faults
while replies are read from a socket as the sim supervisor reads them (up to 1 MiB a read)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

LOOP = """
import resource, socket, sys
from universed.server.daemon import tune_malloc
if sys.argv[1] == "tuned":
    assert tune_malloc()
ours, theirs = socket.socketpair()
ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
reply = b"x" * 400_000
def tick():  # a reply read as the supervisor reads it: recv of up to 1 MiB, chunks joined
    theirs.sendall(reply)
    chunks, got = [], 0
    while got < len(reply):
        chunk = ours.recv(1 << 20)
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
for _ in range(5):
    tick()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    tick()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", LOOP, mode], capture_output=True, check=True, timeout=60
    )
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_big_buffers_do_not_fault_in_again_every_time() -> None:
    default, tuned = faults("default"), faults("tuned")
    # 100 replies of ~100 pages: the default faults each one's pages in again
    assert default > 5_000
    assert tuned < default // 20
