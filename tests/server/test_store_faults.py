"""The GeoPackage store under faults: its file deleted or replaced, a full disk, an immutable file, a lock
held by another program. A real uvicorn server answers over HTTP; every fault must give a clear 503/507
within 5 s, keep the connection usable, acknowledge nothing it cannot keep, and recover when the cause goes.
"""

import os
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from geo.errors import StoreFull, StoreReadOnly
from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token

pytestmark = pytest.mark.slow

LAYER = "reservoirs"


@pytest.fixture
def served(writable_gpkg, app_factory, serve):
    """A server on a private copy of the demo data; yields (httpx client, gpkg path, planner token)."""
    with GeoPackageStore(writable_gpkg) as store:
        token = create_token(store, "faults", "planner")
        fid = store.read(LAYER, limit=1)["id"][0]
    with serve(app_factory(writable_gpkg)) as base, httpx.Client(base_url=base, timeout=30) as client:
        client.fid = fid  # type: ignore[attr-defined]
        yield client, writable_gpkg, token


def _report(client, token, percent, note="faults"):
    """GET the feature's ETag and POST one report; return the POST response (and the time it took)."""
    url = f"/collections/{LAYER}/items/{client.fid}"
    etag = client.get(url).headers.get("etag", "*")
    started = time.monotonic()
    response = client.post(
        f"{url}/progress",
        json={"status": "in_progress", "percent": percent, "note": note},
        headers={"Authorization": f"Bearer {token}", "If-Match": etag},
    )
    response.elapsed_s = time.monotonic() - started
    return response


def _notes(path):
    with closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT note FROM planmap_history WHERE author = 'faults' ORDER BY seq")]


def _assert_store_error(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["description"]
    assert response.headers["retry-after"] == "5"
    assert response.headers.get("connection", "keep-alive") != "close"


def test_a_deleted_file_fails_closed_and_is_never_recreated(served):
    client, path, token = served
    assert _report(client, token, 10.0, "before").status_code == 200
    moved = path.with_suffix(".moved")
    os.rename(path, moved)
    try:
        read = client.get(f"/collections/{LAYER}/items")
        _assert_store_error(read, 503, "StoreUnavailable")
        assert "deleted or replaced" in read.json()["description"]
        _assert_store_error(_report(client, token, 20.0, "while gone"), 503, "StoreUnavailable")
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        assert health.json()["readable"] is False and health.json()["writable"] is False
        assert not path.exists()  # no empty store created at the path
    finally:
        os.rename(moved, path)
    assert client.get("/healthz").json()["status"] == "ok"
    assert _report(client, token, 30.0, "after").status_code == 200
    assert _notes(path) == ["before", "after"]


def test_a_replaced_file_takes_no_write(served, demo_gpkg):
    client, path, token = served
    assert _report(client, token, 10.0, "kept").status_code == 200
    replacement = path.with_suffix(".new")
    shutil.copyfile(demo_gpkg, replacement)
    os.replace(replacement, path)  # another program swapped in a different file
    _assert_store_error(_report(client, token, 20.0, "refused"), 503, "StoreUnavailable")
    assert client.get("/healthz").status_code == 503
    assert "refused" not in _notes(path)  # the refused report reached neither file


def test_a_write_lock_held_by_another_program_is_a_quick_503(served):
    client, path, token = served
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # as a desktop GIS editing the file holds it
    try:
        refused = _report(client, token, 40.0, "locked")
        _assert_store_error(refused, 503, "StoreBusy")
        assert refused.elapsed_s < 5.0
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json()["status"] == "read-only"
        assert health.json()["readable"] is True and health.json()["writable"] is False
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _report(client, token, 41.0, "unlocked").status_code == 200
    assert _notes(path) == ["unlocked"]


@contextmanager
def _immutable(path: Path):
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_immutable_file_is_a_503_naming_it(served, require):
    require(os.geteuid() == 0 and shutil.which("chattr") is not None, "root and chattr")
    client, path, token = served
    with _immutable(path):
        refused = _report(client, token, 50.0, "immutable")
        _assert_store_error(refused, 503, "StoreReadOnly")
        assert path.name in refused.json()["description"]
        assert client.get("/healthz").json()["writable"] is False
        assert client.get(f"/collections/{LAYER}/items?limit=1").status_code == 200  # reads go on
    assert _report(client, token, 51.0, "writable again").status_code == 200
    assert _notes(path) == ["writable again"]


@pytest.fixture
def small_disk(tmp_path, demo_gpkg, require):
    """A tmpfs just larger than a copy of the demo GeoPackage; yields (mount point, gpkg path)."""
    require(os.geteuid() == 0 and shutil.which("mount") is not None, "root to mount a tmpfs")
    mount = tmp_path / "disk"
    mount.mkdir()
    size = demo_gpkg.stat().st_size + (4 << 20)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        gpkg = mount / "planmap.gpkg"
        shutil.copyfile(demo_gpkg, gpkg)
        yield mount, gpkg
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> Path:
    """Fill the disk to the last byte (unbuffered writes); return the filler to delete."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for chunk in (65536, 1):
            try:
                while os.write(fd, b"\0" * chunk):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_is_a_507_and_nothing_is_left_behind(small_disk, app_factory, serve):
    mount, gpkg = small_disk
    with GeoPackageStore(gpkg) as store:
        token = create_token(store, "faults", "planner")
        fid = store.read(LAYER, limit=1)["id"][0]
        frame = store.read(LAYER)
    with serve(app_factory(gpkg)) as base, httpx.Client(base_url=base, timeout=30) as client:
        client.fid = fid
        assert _report(client, token, 10.0, "room").status_code == 200
        filler = _fill(mount)
        full = _report(client, token, 60.0, "no room")
        _assert_store_error(full, 507, "StoreFull")
        assert full.elapsed_s < 5.0
        health = client.get("/healthz").json()
        assert health["status"] == "read-only" and any("free" in p for p in health["problems"])
        with GeoPackageStore(gpkg) as store, pytest.raises((StoreFull, StoreReadOnly)):
            store.write_layer(LAYER, frame)  # a whole-layer write (imports) fails the same way
        assert sorted(p.name for p in mount.iterdir() if p.name.startswith(".")) == []  # no staging file
        filler.unlink()
        assert _report(client, token, 61.0, "room again").status_code == 200
        assert client.get("/healthz").json()["status"] == "ok"
    assert _notes(gpkg) == ["room", "room again"]
