"""``planmap serve --workers 2`` shares the connections a client opens at once among its workers.

The workers share one listening socket. The test stops both workers, opens 16 connections (the kernel
completes them into the socket's queue), lets the workers go on and counts each worker's connections:
asyncio's own loop takes every queued connection in the first worker to wake; ``FairAcceptLoop`` one a turn.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from uvicorn.config import Config

from server.protocol import FairAcceptLoop, server_options
from server.settings import ApiSettings
from tests.serving import planmap_serve

CONNECTIONS = 16


def _workers(pid: int) -> list[int]:
    """Return the worker processes of a ``planmap serve`` (multiprocessing's resource tracker left out)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _established(port: int) -> dict[int, int]:
    """Return {socket inode: 1} of the established server-side connections on ``port`` (IPv4)."""
    out = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) == port and state == "01":
            out[inode] = 1
    return out


def _connections_of(pid: int, port: int) -> int:
    """Count the established connections on ``port`` that process ``pid`` holds."""
    inodes = set(_established(port))
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            held += 1
    return held


@pytest.fixture
def served(demo_gpkg, tmp_path) -> Iterator[tuple[subprocess.Popen, int]]:
    """``planmap serve --workers 2`` on the demo GeoPackage; stopped with SIGINT afterwards."""
    env = {"PLANMAP_GPKG_PATH": str(demo_gpkg), "PLANMAP_DATA_DIR": str(tmp_path)}
    with planmap_serve(env, tmp_path / "serve.log") as (proc, base):
        yield proc, int(base.rsplit(":", 1)[1])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _wait_idle(workers: list[int]) -> None:
    """Wait until no worker uses CPU for 0.3 s (each has finished starting up)."""
    deadline = time.monotonic() + 30
    before = [_cpu_ticks(p) for p in workers]
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = [_cpu_ticks(p) for p in workers]
        if now == before:
            return
        before = now
    pytest.fail("the workers did not settle")


def _open_while_stopped(workers: list[int], port: int) -> list[int]:
    """Stop the workers, open the connections, let the workers go on; return each worker's count."""
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    clients = []
    try:
        for _ in range(CONNECTIONS):  # the handshakes complete in the kernel while the workers are stopped
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    try:
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: planmap\r\n\r\n")
        for client in clients:
            assert client.recv(65536).startswith(b"HTTP/1.1 200")
        return sorted(_connections_of(pid, port) for pid in workers)
    finally:
        for client in clients:
            client.close()


def test_connections_opened_at_once_are_shared_among_the_workers(served):
    proc, port = served
    deadline = time.monotonic() + 10
    while len(workers := _workers(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2
    for _ in range(3):
        _wait_idle(workers)
        held = _open_while_stopped(workers, port)
        assert sum(held) == CONNECTIONS
        assert held[0] >= 3, held  # asyncio's own loop: [0, 16] in most trials


def test_serve_runs_the_fair_accept_loop():
    options = server_options(ApiSettings())
    assert options["loop"] == "server.protocol:FairAcceptLoop"
    assert Config(app=None, **options).get_loop_factory() is FairAcceptLoop
