"""Running ``planmap serve`` as a deployment does (a process with its workers), for tests that need several workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def planmap_serve(
    env: Mapping[str, str], log: Path, workers: int = 2, timeout: float = 60.0
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run ``planmap serve --workers N`` on a free port with ``env`` added to this environment.

    Yields the process and its base URL once ``/healthz`` answers; afterwards stops it with SIGINT and asserts
    a clean exit (killing it if it does not stop). Its output goes to ``log``: a file, not a pipe, whose
    filling up would stall the workers' access log.
    """
    port = free_port()
    cli = Path(sys.executable).with_name("planmap")
    cmd = [str(cli), "serve", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(base):
            assert time.monotonic() < deadline and proc.poll() is None, (
                f"planmap serve did not start: {log.read_text()}"
            )
            time.sleep(0.2)
        yield proc, base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
