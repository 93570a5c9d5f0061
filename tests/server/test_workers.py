"""``planmap serve --workers 2`` on PostGIS: a write through one worker shows through every worker at once.

Each worker caches tiles and nearby indexes by the data version, and the version lives in the database,
so no worker can serve a stale answer after another process writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import httpx
import mapbox_vector_tile
import pytest

import morecantile

from geo.storage import HistoryEntry
from tests.serving import planmap_serve

pytestmark = pytest.mark.postgis

FARM_TILE = "/tiles/farmland/10/{x}/{y}.mvt"


@pytest.fixture
def pg_copy(postgis_demo):
    """A private PostGIS copy of the demo (several workers need a database store)."""
    from tests.conftest import _copy_into_schema, _drop_schema

    with postgis_demo.open() as source:
        copy = _copy_into_schema(source, postgis_demo.data_dir)
    yield copy
    _drop_schema(copy.schema)


@pytest.fixture
def served(pg_copy, tmp_path) -> Iterator[tuple[str, object]]:
    """Run ``planmap serve --workers 2`` on the copy; stop it cleanly (SIGINT, exit 0) afterwards."""
    env = {
        "PLANMAP_DATABASE_URL": pg_copy.url,
        "PLANMAP_DATABASE_SCHEMA": pg_copy.schema,
        "PLANMAP_DATABASE_POOL_SIZE": "2",
        "PLANMAP_DATA_DIR": str(tmp_path),
    }
    with planmap_serve(env, tmp_path / "serve.log") as (_, base), pg_copy.open() as store:
        yield base, store


def by_worker(base: str, path: str, want: int = 2, tries: int = 400) -> dict[int, httpx.Response]:
    """Send fresh-connection requests for ``path`` until ``want`` workers answered; return one each.

    The worker's pid comes from a /healthz call on the same connection, just before the request.
    """
    seen: dict[int, httpx.Response] = {}
    for _ in range(tries):
        with httpx.Client(base_url=base, timeout=10) as client:
            pid = client.get("/healthz").json()["pid"]
            if pid not in seen:
                seen[pid] = client.get(path)
        if len(seen) >= want:
            return seen
    pytest.fail(f"only workers {sorted(seen)} answered {path} in {tries} connections")


def test_a_write_shows_through_every_worker(served):
    base, store = served
    feature = store.read("farmland", limit=1)
    fid = feature["id"].iloc[0]
    lon, lat = feature.geometry.iloc[0].representative_point().coords[0]
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 10)
    item, tile_path = f"/collections/farmland/items/{fid}", FARM_TILE.format(x=tile.x, y=tile.y)
    paths = [item, tile_path, "/progress/farmland"]
    before = {path: by_worker(base, path) for path in paths}
    assert len({pid for answers in before.values() for pid in answers}) == 2
    for answers in before.values():
        assert all(r.status_code == 200 for r in answers.values())
        assert len({r.headers.get("etag") for r in answers.values()}) == 1  # the workers agree
    old_status = before[item][next(iter(before[item]))].json()["properties"]["status"]
    new_status = "in_progress" if old_status == "completed" else "completed"
    store.record_progress(
        HistoryEntry("farmland", fid, date(2025, 12, 30), new_status, 100.0 if new_status == "completed" else 50.0),
        {"status": new_status, "progress_pct": 100.0 if new_status == "completed" else 50.0},
    )
    after = {path: by_worker(base, path) for path in paths}
    for path in (item, tile_path):
        old_etag = next(iter(before[path].values())).headers["etag"]
        assert all(r.status_code == 200 and r.headers["etag"] != old_etag for r in after[path].values()), path
    assert {r.json()["properties"]["status"] for r in after[item].values()} == {new_status}
    for answer in after[tile_path].values():
        layers = mapbox_vector_tile.decode(answer.content)
        statuses = {f["properties"].get("id"): f["properties"].get("status") for f in layers["farmland"]["features"]}
        assert statuses[fid] == new_status
    old_done = before["/progress/farmland"][next(iter(before["/progress/farmland"]))].json()
    for answer in after["/progress/farmland"].values():
        assert answer.json()["by_status"] != old_done["by_status"]
