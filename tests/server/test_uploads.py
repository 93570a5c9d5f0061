"""Uploads stay in ``<data_dir>/.uploads``: each request's workspace goes when it ends, stale ones at start-up."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token
from server import uploads
from server.main import create_app
from server.routers import imports
from server.settings import ApiSettings, Settings, StoreSettings

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

HOUR = 3600


def app_on(gpkg: Path, api: ApiSettings | None = None, **store) -> TestClient:
    settings = Settings(store=StoreSettings(gpkg_path=gpkg, data_dir=gpkg.parent, **store), api=api or ApiSettings())
    return TestClient(create_app(settings))


def make(path: Path, age_s: float = 0, data: bytes = b"x") -> Path:
    """Create the file ``path`` (and its directories) last modified ``age_s`` seconds ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def age_dir(path: Path, age_s: float) -> None:
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_stale_uploads_are_swept_at_start_up_and_fresh_ones_kept(writable_gpkg):
    root = writable_gpkg.parent / ".uploads"
    stale_dir = make(root / "planmap-import-farmland-4242-k1" / "upload.gpkg", 2 * HOUR).parent
    age_dir(stale_dir, 2 * HOUR)
    stale_file = make(root / "planmap-report-4242-k2", 2 * HOUR)
    fresh = make(root / "planmap-import-reservoirs-4343-k3" / "upload.zip", data=b"fresh")
    busy = make(root / "planmap-import-logistics-4444-k4" / "upload.csv", 0)  # old directory, file still written
    age_dir(busy.parent, 2 * HOUR)
    foreign = make(root / "notes.txt", 2 * HOUR, b"not ours")  # only planmap-* entries are swept
    with app_on(writable_gpkg) as client:
        assert client.get("/healthz").status_code == 200
        assert sorted(p.name for p in root.iterdir()) == sorted([fresh.parent.name, busy.parent.name, "notes.txt"])
    assert not stale_dir.exists() and not stale_file.exists()
    assert fresh.read_bytes() == b"fresh" and busy.exists() and foreign.read_bytes() == b"not ours"


def test_the_upload_directory_and_the_age_limit_are_settings(writable_gpkg, tmp_path):
    root = tmp_path / "elsewhere"
    two_minutes = make(root / "planmap-import-farmland-1-a", 120)
    one_second = make(root / "planmap-import-farmland-1-b", 1)
    with app_on(writable_gpkg, upload_dir=root, upload_max_age_s=60):
        assert not two_minutes.exists() and one_second.exists()


def test_an_upload_that_cannot_be_removed_does_not_stop_start_up(writable_gpkg, monkeypatch, caplog):
    root = writable_gpkg.parent / ".uploads"
    stuck = make(root / "planmap-import-farmland-1-a" / "upload.csv", 2 * HOUR).parent
    age_dir(stuck, 2 * HOUR)
    gone = make(root / "planmap-report-1-b", 2 * HOUR)

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(uploads.shutil, "rmtree", refuse)
    with app_on(writable_gpkg) as client:
        assert client.get("/healthz").status_code == 200
    assert stuck.exists() and not gone.exists()
    assert f"could not remove stale upload {stuck}" in caplog.text


@pytest.fixture
def planner(writable_gpkg):
    with GeoPackageStore(writable_gpkg) as store:
        return {"Authorization": f"Bearer {create_token(store, 'li', 'planner')}"}


def open_files() -> list[str]:
    names = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            names.append(os.readlink(fd))
        except OSError:
            continue
    return names


@pytest.fixture
def watched(monkeypatch):
    """Record the files open while an upload is saved (its spool among them) and the path the import reads."""
    seen: dict[str, object] = {}
    save, import_file = imports._save, imports.import_file

    async def spy_save(upload, directory, limit):
        seen["open"] = open_files()
        return await save(upload, directory, limit)

    def spy_import(store, layer, path, options):
        seen["path"] = Path(path)
        return import_file(store, layer, path, options)

    monkeypatch.setattr(imports, "_save", spy_save)
    monkeypatch.setattr(imports, "import_file", spy_import)
    return seen


def stations_csv(client: TestClient, pad_bytes: int = 0) -> bytes:
    frame = client.app.state.store.read("emergency-stations")
    rows = [f"{r.id},{r.name},{r.geometry.x},{r.geometry.y},{'备' * (pad_bytes // 30)}" for r in frame.itertuples()]
    return "\n".join(["id,name,经度,纬度,备注", *rows]).encode()


def test_an_import_works_in_its_own_workspace_and_leaves_nothing_behind(writable_gpkg, planner, watched):
    root = writable_gpkg.parent / ".uploads"
    with app_on(writable_gpkg) as client:
        data = stations_csv(client, pad_bytes=3 * 1024**2)  # over 1 MiB: the form parser spools it to disk
        files = {"file": ("stations.csv", data, "text/csv")}
        response = client.post("/collections/emergency-stations/import", files=files, headers=planner)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "applied" and response.json()["updated"] == 10
    path = watched["path"]
    assert isinstance(path, Path) and path.parent.parent == root and path.name == "upload.csv"
    assert path.parent.name.startswith(f"planmap-import-emergency-stations-{os.getpid()}-")
    spooled = [name for name in watched["open"] if name.startswith(f"{path.parent}/#")]  # O_TMPFILE: no name
    assert len(spooled) == 1 and spooled[0].endswith("(deleted)"), watched["open"]
    assert list(root.iterdir()) == []


@pytest.mark.parametrize(
    ("form", "data", "status"),
    [
        ({"mode": "sideways"}, None, 400),  # refused once the file is saved
        ({"mapping": "{not json"}, None, 400),
        ({}, b"id,name\nES-001,no coordinates\n", 422),  # read and rejected
        ({}, b"x" * 5000, 413),  # over the size limit while it is saved
    ],
)
def test_a_refused_import_leaves_nothing_behind(writable_gpkg, planner, form, data, status):
    root = writable_gpkg.parent / ".uploads"
    with app_on(writable_gpkg, ApiSettings(import_max_bytes=4096)) as client:
        files = {"file": ("stations.csv", data or stations_csv(client), "text/csv")}
        response = client.post("/collections/emergency-stations/import", files=files, data=form, headers=planner)
        assert response.status_code == status, response.text
    assert root.is_dir() and list(root.iterdir()) == []


def test_a_truncated_import_leaves_nothing_behind(writable_gpkg, planner):
    root = writable_gpkg.parent / ".uploads"
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n' + b"id,name\n" * 200_000
    with app_on(writable_gpkg) as client:  # 1.6 MB: spooled to disk before the missing boundary shows
        headers = {**planner, "Content-Type": "multipart/form-data; boundary=b"}
        response = client.post("/collections/emergency-stations/import", content=body, headers=headers)
        assert response.status_code == 400 and response.json()["code"] == "MalformedBody"
    assert root.is_dir() and list(root.iterdir()) == []


def test_a_report_photo_leaves_nothing_behind(writable_gpkg):
    root = writable_gpkg.parent / ".uploads"
    with GeoPackageStore(writable_gpkg) as store:
        token = create_token(store, "zhang", "field", ["430321"])
    with app_on(writable_gpkg) as client:
        url = "/collections/farmland/items/FL-001"
        headers = {"Authorization": f"Bearer {token}", "If-Match": client.get(url).headers["etag"]}
        files = {"photo": ("a.jpg", b"\xff\xd8" + b"0" * 2 * 1024**2, "image/jpeg")}
        response = client.post(f"{url}/progress", data={"status": "in_progress"}, files=files, headers=headers)
        assert response.status_code == 400 and "JPEG or PNG" in response.json()["description"]
    assert root.is_dir() and list(root.iterdir()) == []
