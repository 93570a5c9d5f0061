"""PostGIS low-zoom overviews: tiles read from the overview equal tiles thinned on the fly, exactly."""

import hashlib
import os
import uuid

import numpy as np
import pytest

import geopandas as gpd
from shapely import box

from geo.storage.base import Filter
from geo.storage.postgis import tiles as postgis_tiles
from geo.tms import tile_grid

try:
    import psycopg
except ImportError:  # psycopg is in the dev extras; without it the fixture below skips (fails in CI)
    psycopg = None

PG_URL = os.environ.get("PLANMAP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/planmap_test")
TILES = [
    (5, 26, 13),
    (8, 207, 107),
    (8, 208, 107),
    (9, 415, 215),
    (10, 831, 430),
    (11, 1665, 859),
    (12, 3332, 1718),
    (13, 6664, 3436),
    (14, 13329, 6872),
]

pytestmark = pytest.mark.postgis


def _reachable() -> bool:
    if psycopg is None:
        return False
    try:
        with psycopg.connect(PG_URL, connect_timeout=3, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone() is not None
    except psycopg.Error:
        return False


@pytest.fixture(scope="module")
def store(require):
    require(_reachable(), "PostGIS")
    from geo.storage.postgis import PostGISStore

    rng = np.random.default_rng(7)
    n = 20_000
    x, y = rng.uniform(112.0, 113.05, n), rng.uniform(27.35, 28.05, n)
    w, h = rng.uniform(0.0005, 0.006, n), rng.uniform(0.0005, 0.006, n)
    frame = gpd.GeoDataFrame(
        {"id": [f"p{i:05d}" for i in range(n)], "status": rng.choice(["planned", "completed"], n)},
        geometry=box(x, y, x + w, y + h),
        crs=4326,
    )
    schema = f"planmap_test_{uuid.uuid4().hex[:12]}"
    pg = PostGISStore(PG_URL, schema=schema, pool_size=2)
    pg.write_layer("parcels", frame)
    try:
        yield pg
    finally:
        pg.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _read(store, z, x, y, where=None):
    grid = tile_grid("WebMercatorQuad", z, x, y)
    cell = grid.pixel_size_deg() * 8
    frame = store.read_tile_candidates("parcels", grid.lonlat_bbox(64 / 4096), where=where, cell=cell, limit=None)
    return frame["id"].tolist(), cell


def _drop_overview(store):
    digest = hashlib.md5(b"parcels", usedforsecurity=False).hexdigest()[:16]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP TABLE "{store.schema}"."planmap_ov_{digest}"')


def test_overview_tiles_equal_on_the_fly_tiles(store):
    with_overview = {tile: _read(store, *tile) for tile in TILES}
    for tile, (ids, cell) in with_overview.items():
        assert (postgis_tiles.overview_level(cell) is not None) == (tile[0] <= postgis_tiles.OVERVIEW_MAX_Z)
        assert ids, tile
    _drop_overview(store)
    try:
        for tile, (ids, _) in with_overview.items():
            assert _read(store, *tile)[0] == ids, tile
    finally:
        store.write_layer("parcels", store.read("parcels"))  # rebuilds the overview for the next test


def test_filtered_tiles_do_not_use_the_overview_and_thin_among_matches(store):
    ids, _ = _read(store, 9, 416, 214, where=Filter(equals={"status": "completed"}))
    statuses = store.read("parcels", Filter(ids=ids))["status"]
    assert len(ids) and set(statuses) == {"completed"}


def test_progress_updates_keep_the_overview_valid_and_replace_rebuilds_it(store):
    before, _ = _read(store, 8, 208, 107)
    frame = store.read("parcels")
    frame = frame[~frame["id"].isin(before[:5])]
    store.write_layer("parcels", frame)
    after, _ = _read(store, 8, 208, 107)
    assert not set(before[:5]) & set(after)
