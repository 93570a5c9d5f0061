"""Acknowledged progress reports survive a killed server, and concurrent reports lose nothing.

A real uvicorn process serves a copy of the demo GeoPackage; clients talk HTTP to it.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import pytest

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(gpkg, log_level="warning"):
    """Start uvicorn on ``gpkg`` (log in ``server.log`` beside it); yield (process, base url); kill it at the end."""
    port = free_port()
    env = {**os.environ, "PLANMAP_DATA_DIR": str(gpkg.parent), "PLANMAP_GPKG_PATH": str(gpkg)}
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "server.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    log = open(gpkg.parent / "server.log", "ab")  # a file, not a pipe: a full pipe would block the server
    proc = subprocess.Popen(cmd, cwd=gpkg.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {(gpkg.parent / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def served(demo_gpkg, tmp_path):
    """A private copy of the demo data with a planner token; returns (gpkg path, token)."""
    gpkg = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, gpkg)
    with GeoPackageStore(gpkg) as store:
        token = create_token(store, "durability", "planner")
    return gpkg, token


def report(client, base, token, layer, fid, percent, note):
    """GET the ETag and POST one report, retrying on 412; return the recorded seq, or None when refused."""
    for _ in range(50):
        etag = client.get(f"{base}/collections/{layer}/items/{fid}").headers["etag"]
        r = client.post(
            f"{base}/collections/{layer}/items/{fid}/progress",
            json={"status": "in_progress", "percent": percent, "note": note},
            headers={"Authorization": f"Bearer {token}", "If-Match": etag},
        )
        if r.status_code == 200:
            return r.json()["report"]["seq"]
        assert r.status_code == 412, r.text
    return None


def farmland_ids(gpkg, n):
    with GeoPackageStore(gpkg) as store:
        return list(store.read("farmland", Filter(), limit=n, columns=["id"])["id"])


def test_acknowledged_reports_survive_sigkill(served):
    gpkg, token = served
    ids = farmland_ids(gpkg, 5)
    acked: list[tuple[str, int, float, str]] = []
    stop = threading.Event()

    def stream(base):
        with httpx.Client(timeout=10) as client:
            for i in range(10_000):
                fid, pct, note = ids[i % len(ids)], float(1 + i % 98), f"stream-{i}"
                try:
                    seq = report(client, base, token, "farmland", fid, pct, note)
                except httpx.TransportError:
                    return  # the server is gone: whatever was in flight was never acknowledged
                acked.append((fid, seq, pct, note))
                if stop.is_set():
                    return

    with running_server(gpkg) as (proc, base):
        worker = threading.Thread(target=stream, args=(base,))
        worker.start()
        while len(acked) < 25 and worker.is_alive():
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # in the middle of the stream, without any shutdown
        proc.wait(timeout=30)
        stop.set()
        worker.join(timeout=30)
    assert len(acked) >= 25

    with running_server(gpkg) as (_, base):
        with httpx.Client(timeout=10) as client:
            for fid in ids:
                history = client.get(f"{base}/collections/farmland/items/{fid}/history").json()["entries"]
                by_seq = {e["seq"]: e for e in history}
                mine = [a for a in acked if a[0] == fid]
                for _, seq, pct, note in mine:
                    assert by_seq[seq]["percent"] == pct and by_seq[seq]["note"] == note
                current = client.get(f"{base}/collections/farmland/items/{fid}").json()["properties"]
                assert current["progress_pct"] == history[-1]["percent"]  # the state is the latest report
                assert history[-1]["seq"] >= mine[-1][1]  # at most an unacknowledged report came after
    with sqlite3.connect(gpkg) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with GeoPackageStore(gpkg) as store:
        assert store.count("farmland") == len(store.read("farmland", columns=["id"]))


def test_concurrent_reports_lose_nothing(served):
    gpkg, token = served
    ids = farmland_ids(gpkg, 5)
    shared, own = ids[0], ids[1:]
    results: list[tuple[str, int | None, str]] = []
    lock = threading.Lock()

    def worker(name, fids, count):
        with httpx.Client(timeout=30) as client:
            for i in range(count):
                fid, note = fids[i % len(fids)], f"{name}-{i}"
                seq = report(client, base, token, "farmland", fid, float(10 + i), note)
                with lock:
                    results.append((fid, seq, note))

    with running_server(gpkg, log_level="info") as (_, base):
        jobs = [("own", [fid], 8) for fid in own] + [("shared", [shared], 6) for _ in range(4)]
        threads = [
            threading.Thread(target=worker, args=(f"{kind}{n}", fids, count))
            for n, (kind, fids, count) in enumerate(jobs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert len(results) == 4 * 8 + 4 * 6 and all(seq is not None for _, seq, _ in results)
    with GeoPackageStore(gpkg) as store:
        history = store.history("farmland", ids)
        mine = history[history["author"] == "durability"]
        assert sorted(mine["note"]) == sorted(note for _, _, note in results)  # each 200 exactly once, nothing else
        assert dict(zip(mine["note"], mine["seq"], strict=True)) == {note: seq for _, seq, note in results}
        for fid in ids:
            rows = history[history["feature_id"] == fid]
            assert store.get("farmland", fid).iloc[0]["progress_pct"] == rows.iloc[-1]["percent"]
    with sqlite3.connect(gpkg) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    log = (gpkg.parent / "server.log").read_text()
    assert "POST /collections/farmland/items/" in log and token not in log  # access log on, token never logged
