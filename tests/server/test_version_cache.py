"""PostGIS without replicas: layer versions reused for a moment per worker, a writer still reads its writes."""

from __future__ import annotations

import time

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

import shapely

import geo.storage.postgis.store as postgis_store
from geo.storage.consistency import read_scope
from geo.storage.postgis.versions import VersionCache
from geo.tms import get_tms
from layers.tokens import create_token
from server.main import create_app
from server.replication import COOKIE
from server.settings import ApiSettings, Settings, StoreSettings

LAYER = "farmland"


def test_a_version_is_reused_within_the_ttl_and_read_again_after():
    reads = []
    cache = VersionCache(0.2)

    def read():
        reads.append(1)
        return f"v{len(reads)}"

    assert [cache.get("a", read) for _ in range(5)] == ["v1"] * 5
    time.sleep(0.25)
    assert cache.get("a", read) == "v2" and len(reads) == 2
    cache.forget()
    assert cache.get("a", read) == "v3"


def test_writers_and_clients_that_wrote_always_read_the_version():
    cache, reads = VersionCache(60), []

    def read():
        reads.append(1)
        return "v"

    cache.get("a", read)
    with read_scope(primary=True):
        cache.get("a", read)
    with read_scope(after="0/3000148"):
        cache.get("a", read)
    with read_scope():
        cache.get("a", read)
    assert len(reads) == 3


def test_a_version_read_while_a_write_commits_is_not_kept():
    cache = VersionCache(60)

    def read_racing_a_write():
        cache.forget()  # a write of this process committed during the read
        return "old"

    assert cache.get("a", read_racing_a_write) == "old"
    assert cache.get("a", lambda: "new") == "new"


def test_no_ttl_reads_every_time():
    cache, reads = VersionCache(0), []
    for _ in range(3):
        cache.get("a", lambda: reads.append(1) or "v")
    assert len(reads) == 3


@pytest.fixture(scope="session")
def store_url(postgis_demo):
    """Only the PostGIS demo (the GeoPackage store reads its version from its own file)."""
    return postgis_demo


pg = pytest.mark.postgis


def client_of(target, ttl_s: float, process: str = "") -> TestClient:
    """An app on ``target``; a different ``process`` name stands for a worker process of its own.

    Stores of one process share their cached versions (per database and schema); the name goes into the
    connection string, so the app holds its versions apart, as another process would.
    """
    url = target.url + (f"{'&' if '?' in target.url else '?'}application_name={process}" if process else "")
    store = StoreSettings(
        database_url=url,
        database_schema=target.schema,
        database_pool_size=2,
        data_dir=target.data_dir,
        database_version_ttl_s=ttl_s,
    )
    return TestClient(create_app(Settings(store=store, api=ApiSettings())))


@pytest.fixture
def planner(writable_store_url) -> str:
    with writable_store_url.open() as store:
        return create_token(store, "version-test", "planner")


def first_feature(client: TestClient):
    frame = client.app.state.store.read(LAYER, limit=1)
    point = shapely.point_on_surface(frame.geometry.iloc[0])
    return frame.iloc[0]["id"], get_tms("WebMercatorQuad").tile(point.x, point.y, 15)


def tile_pct(client: TestClient, fid: str, tile, **headers) -> tuple[float, str]:
    response = client.get(f"/tiles/{LAYER}/{tile.z}/{tile.x}/{tile.y}.mvt", headers=headers)
    assert response.status_code == 200, response.text
    (props,) = [
        f["properties"]
        for f in mapbox_vector_tile.decode(response.content)[LAYER]["features"]
        if f["properties"]["id"] == fid
    ]
    return props["progress_pct"], response.headers["etag"]


def report(client: TestClient, token: str, fid: str, percent: int):
    etag = client.get(f"/collections/{LAYER}/items/{fid}").headers["etag"]
    response = client.post(
        f"/collections/{LAYER}/items/{fid}/progress",
        json={"status": "in_progress", "percent": percent, "note": "version cache"},
        headers={"Authorization": f"Bearer {token}", "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    return response


@pg
def test_a_writer_reads_its_write_through_another_worker_at_once(writable_store_url, planner):
    with client_of(writable_store_url, 5, "a") as worker_a, client_of(writable_store_url, 5, "b") as worker_b:
        fid, tile = first_feature(worker_a)
        before, etag = tile_pct(worker_a, fid, tile)
        posted = report(worker_b, planner, fid, 71)
        position = posted.cookies[COOKIE]
        assert tile_pct(worker_a, fid, tile) == (before, etag)  # another client: worker A's version, for now
        after, new_etag = tile_pct(worker_a, fid, tile, Cookie=f"{COOKIE}={position}")
        assert after == 71 and new_etag != etag


@pg
def test_other_clients_see_another_workers_write_within_the_ttl(writable_store_url, planner):
    with client_of(writable_store_url, 0.3, "a") as worker_a, client_of(writable_store_url, 0.3, "b") as worker_b:
        fid, tile = first_feature(worker_a)
        _, etag = tile_pct(worker_a, fid, tile)
        report(worker_b, planner, fid, 42)
        time.sleep(0.35)
        after, new_etag = tile_pct(worker_a, fid, tile)
        assert after == 42 and new_etag != etag


@pg
def test_a_write_in_the_same_worker_is_seen_by_every_client_at_once(writable_store_url, planner):
    app_client = client_of(writable_store_url, 5)
    with app_client as writer, TestClient(writer.app) as reader:
        fid, tile = first_feature(writer)
        _, etag = tile_pct(reader, fid, tile)
        report(writer, planner, fid, 58)
        assert "cookie" not in {k.lower() for k in reader.headers}
        after, new_etag = tile_pct(reader, fid, tile)
        assert after == 58 and new_etag != etag


@pg
def test_cached_tiles_share_one_version_read(writable_store_url, monkeypatch):
    reads = []
    version = postgis_store.history_rows.version

    def counted(db, layer):
        reads.append(layer)
        return version(db, layer)

    with client_of(writable_store_url, 5) as client:
        fid, tile = first_feature(client)
        tile_pct(client, fid, tile)
        monkeypatch.setattr(postgis_store.history_rows, "version", counted)
        etags = {tile_pct(client, fid, tile)[1] for _ in range(20)}
        assert len(etags) == 1 and reads == []
    with client_of(writable_store_url, 0) as uncached:
        tile_pct(uncached, fid, tile)
        tile_pct(uncached, fid, tile)
        assert reads.count(LAYER) >= 2
