"""planmap over HTTP with reads on a real streaming replica: read-your-writes, ETags, tiles, a replica going away."""

from __future__ import annotations

import time

import httpx
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

import shapely

from geo.tms import get_tms
from layers.tokens import create_token
from server.main import create_app
from server.replication import COOKIE
from server.settings import ApiSettings, Settings, StoreSettings
from tests.conftest import REPLICA_URL
from tests.serving import planmap_serve

pytestmark = pytest.mark.postgis
LAYER = "farmland"


@pytest.fixture(scope="session")
def store_url(postgis_demo):
    """Only the PostGIS demo: ``writable_store_url`` follows this (conftest's also offers the GeoPackage)."""
    return postgis_demo


@pytest.fixture
def target(replica, writable_store_url):
    """A private PostGIS copy of the demo data, replayed by the replica."""
    replica.caught_up()
    return writable_store_url


def settings(target, replicas: bool, **store) -> Settings:
    urls = [REPLICA_URL] if replicas else []
    return Settings(
        store=StoreSettings(
            database_url=target.url,
            database_schema=target.schema,
            database_pool_size=2,
            database_replica_urls=urls,
            data_dir=target.data_dir,
            **store,
        ),
        api=ApiSettings(),
    )


def client_of(target, replicas: bool = True) -> TestClient:
    return TestClient(create_app(settings(target, replicas, database_replica_wait_s=0.2)))


def replica_reads(client: TestClient) -> int:
    return client.app.state.store.replicas()[0].reads


def first_feature(client: TestClient):
    frame = client.app.state.store.read(LAYER, limit=1)
    point = shapely.point_on_surface(frame.geometry.iloc[0])
    return frame.iloc[0]["id"], get_tms("WebMercatorQuad").tile(point.x, point.y, 15)


def report(client: TestClient, token: str, fid: str, percent: int, note: str):
    etag = client.get(f"/collections/{LAYER}/items/{fid}").headers["etag"]
    response = client.post(
        f"/collections/{LAYER}/items/{fid}/progress",
        json={"status": "in_progress", "percent": percent, "note": note},
        headers={"Authorization": f"Bearer {token}", "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    return response


def pct(client: TestClient, fid: str, **headers) -> tuple[float, str]:
    response = client.get(f"/collections/{LAYER}/items/{fid}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["properties"]["progress_pct"], response.headers["etag"]


def tile_pct(client: TestClient, fid: str, tile, **headers) -> tuple[float, str]:
    response = client.get(f"/tiles/{LAYER}/{tile.z}/{tile.x}/{tile.y}.mvt", headers=headers)
    assert response.status_code == 200, response.text
    layer = mapbox_vector_tile.decode(response.content)[LAYER]
    (props,) = [f["properties"] for f in layer["features"] if f["properties"]["id"] == fid]
    return props["progress_pct"], response.headers["etag"]


@pytest.fixture
def planner(target) -> str:
    with target.open() as store:
        return create_token(store, "replica-test", "planner")


def test_a_reporter_reads_the_report_at_once_while_the_replica_lags(target, replica, planner):
    with client_of(target) as writer, client_of(target) as other:
        fid, _ = first_feature(writer)
        replica.caught_up()
        before, old_etag = pct(other, fid)
        with replica.paused():
            posted = report(writer, planner, fid, 37, "replica lag")
            assert COOKIE in posted.cookies
            mine, my_etag = pct(writer, fid)  # the cookie: wait for the replica, then the primary answers
            assert mine == 37 and my_etag != old_etag
            reads = replica_reads(other)
            assert pct(other, fid) == (before, old_etag)  # no write of its own: the lagging replica answers
            assert replica_reads(other) > reads
        replica.caught_up()
        reads = replica_reads(writer)
        assert pct(writer, fid) == (37, my_etag) == pct(other, fid)
        assert replica_reads(writer) > reads


def test_etags_and_bodies_are_the_same_from_the_primary_and_the_replica(target, replica):
    with client_of(target) as on_replica, client_of(target, replicas=False) as on_primary:
        fid, tile = first_feature(on_primary)
        reads = replica_reads(on_replica)
        for url in (
            f"/collections/{LAYER}/items/{fid}",
            f"/collections/{LAYER}/items?limit=5",
            f"/tiles/{LAYER}/{tile.z}/{tile.x}/{tile.y}.mvt",
            "/progress/farmland?as_of=2025-12-31",
            f"/export/{LAYER}.csv",
        ):
            a, b = on_replica.get(url), on_primary.get(url)
            assert a.status_code == b.status_code == 200, url
            assert a.headers.get("etag") == b.headers.get("etag") and a.content == b.content, url
        assert replica_reads(on_replica) >= reads + 5


def test_a_cached_tile_follows_a_write_made_through_another_worker(target, replica, planner):
    with client_of(target) as worker_a, client_of(target) as worker_b:
        fid, tile = first_feature(worker_a)
        before, etag = tile_pct(worker_a, fid, tile)  # now in worker A's tile cache
        with replica.paused():
            posted = report(worker_b, planner, fid, 63, "other worker")
            position = posted.cookies[COOKIE]
            assert tile_pct(worker_a, fid, tile) == (before, etag)  # the replica's state, cached
            after, new_etag = tile_pct(worker_a, fid, tile, Cookie=f"{COOKIE}={position}")
        assert after == 63 and new_etag != etag
        replica.caught_up()
        assert tile_pct(worker_a, fid, tile) == (63, new_etag)


def test_reads_are_answered_while_the_replica_is_down_and_it_is_used_again_after(target, replica):
    with client_of(target) as client:
        fid, tile = first_feature(client)
        expected = pct(client, fid)
        with replica.stopped():
            assert pct(client, fid) == expected
            assert tile_pct(client, fid, tile)[0] == expected[0]
            health = client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert [r["up"] for r in health.json()["replicas"]] == [False]
        deadline = time.monotonic() + 30
        while not client.app.state.store.replicas()[0].up:
            assert time.monotonic() < deadline, "the replica was not taken back within 30 s"
            time.sleep(0.1)
        reads = replica_reads(client)
        assert pct(client, fid) == expected
        assert replica_reads(client) > reads
        assert client.get("/healthz").json()["replicas"][0]["up"] is True


def test_a_malformed_position_cookie_is_ignored(target):
    with client_of(target) as client:
        fid, _ = first_feature(client)
        response = client.get(f"/collections/{LAYER}/items/{fid}", headers={"Cookie": f"{COOKIE}=1/2/3;<x>"})
        assert response.status_code == 200 and response.json()["id"] == fid


def test_serve_with_two_workers_reads_a_report_through_either_worker(target, replica, planner, tmp_path):
    env = {
        "PLANMAP_DATABASE_URL": target.url,
        "PLANMAP_DATABASE_SCHEMA": target.schema,
        "PLANMAP_DATABASE_POOL_SIZE": "2",
        "PLANMAP_DATABASE_REPLICA_URLS": f"{REPLICA_URL},{REPLICA_URL}",  # the comma-separated form
        "PLANMAP_DATABASE_REPLICA_WAIT_S": "0.2",
        "PLANMAP_DATA_DIR": str(tmp_path),
    }
    with planmap_serve(env, tmp_path / "serve.log", timeout=120) as (_, base):
        deadline = time.monotonic() + 120
        with target.open() as store:
            fid = store.read(LAYER, limit=1)["id"].iloc[0]
        item = f"/collections/{LAYER}/items/{fid}"
        started: set[int] = set()  # both workers open their store (and read the primary's position) first
        while len(started) < 2:
            assert time.monotonic() < deadline, f"only workers {sorted(started)} started"
            with httpx.Client(base_url=base, timeout=10) as client:
                started.add(client.get("/healthz").json()["pid"])
            time.sleep(0.1)
        with replica.paused():
            with httpx.Client(base_url=base, timeout=10) as writer:
                etag = writer.get(item).headers["etag"]
                posted = writer.post(
                    f"{item}/progress",
                    json={"status": "in_progress", "percent": 41, "note": "two workers"},
                    headers={"Authorization": f"Bearer {planner}", "If-Match": etag},
                )
                assert posted.status_code == 200, posted.text
                cookie = f"{COOKIE}={posted.cookies[COOKIE]}"
            seen: dict[int, tuple[float, float]] = {}
            for _ in range(200):
                with httpx.Client(base_url=base, timeout=10) as client:  # a new connection: any worker
                    pid = client.get("/healthz").json()["pid"]
                    mine = client.get(item, headers={"Cookie": cookie}).json()["properties"]["progress_pct"]
                    others = client.get(item).json()["properties"]["progress_pct"]
                    seen[pid] = (mine, others)
                if len(seen) == 2:
                    break
            assert len(seen) == 2, f"only workers {sorted(seen)} answered"
            assert all(mine == 41 and others != 41 for mine, others in seen.values()), seen
