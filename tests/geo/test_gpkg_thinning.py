"""Low-zoom tile candidates chosen from the envelopes in memory equal those chosen in SQL on the R-tree."""

from __future__ import annotations

import numpy as np
import pytest

import geopandas as gpd
import shapely

from geo.storage import GeoPackageStore
from geo.storage.gpkg import thinning, tiles
from geo.tms import get_tms, tile_grid
from layers.tiles import THIN_PX

BOUNDS = (112.4, 27.5, 113.4, 28.2)


@pytest.fixture(scope="module")
def parcels(tmp_path_factory):
    """6,000 boxes of 20 m to 2 km (areas all different) over the city, plus a few in one cluster."""
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.uniform(BOUNDS[0], BOUNDS[2], n)
    y = rng.uniform(BOUNDS[1], BOUNDS[3], n)
    w, h = rng.uniform(0.0002, 0.02, n), rng.uniform(0.0002, 0.02, n)
    frame = gpd.GeoDataFrame(
        {"id": [f"p{i}" for i in range(n)], "status": "planned"},
        geometry=shapely.box(x, y, x + w, y + h),
        crs="EPSG:4326",
    )
    store = GeoPackageStore(tmp_path_factory.mktemp("thin") / "parcels.gpkg")
    store.write_layer("parcels", frame)
    yield store
    store.close()


def tiles_over(z: int) -> list[tuple[int, int, int]]:
    tms = get_tms("WebMercatorQuad")
    return [(t.z, t.x, t.y) for t in tms.tiles(*BOUNDS, [z])]


def both(store: GeoPackageStore, z: int, x: int, y: int, limit: int | None) -> tuple[list[int], list[int] | None]:
    grid = tile_grid("WebMercatorQuad", z, x, y)
    bbox, cell = grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * THIN_PX
    with store._db.reading() as conn:
        sql = tiles.gpkg_candidate_fids(conn, "parcels", "geom", bbox, None, {}, cell, limit)
        memory = store._envelopes.candidate_fids(conn, "parcels", "geom", bbox, cell, limit)
    return sql, memory


@pytest.mark.parametrize("z", [6, 7, 8, 9, 10, 11, 12, 13])
@pytest.mark.parametrize("limit", [None, 40])
def test_memory_chooses_what_sql_chooses(parcels, monkeypatch, z, limit):
    monkeypatch.setattr(thinning, "MIN_SPAN_DEG", 0.0)  # every box, small ones included
    monkeypatch.setattr(thinning, "_FETCH_ROWS", 997)  # the envelopes read in several parts
    parcels._envelopes.clear()
    compared = 0
    for tile in tiles_over(z)[:40]:
        sql, memory = both(parcels, *tile, limit)
        assert memory == sql, tile  # same rows, same order (largest first, ties by id)
        compared += len(sql)
    assert compared > 0


def test_only_wide_boxes_and_bounded_layers_are_thinned_in_memory(parcels, monkeypatch):
    wide, narrow = tiles_over(8)[0], tiles_over(13)[0]
    assert both(parcels, *wide, None)[1] is not None
    assert both(parcels, *narrow, None)[1] is None  # a z13 box: the R-tree is quicker
    monkeypatch.setattr(thinning, "ENVELOPES_MAX_FEATURES", 100)
    parcels._envelopes.clear()
    assert both(parcels, *wide, None)[1] is None


def test_a_new_version_of_the_layer_is_read_again(tmp_path):
    store = GeoPackageStore(tmp_path / "two.gpkg")
    small = shapely.box(112.90, 27.80, 112.901, 27.801)
    store.write_layer("parcels", gpd.GeoDataFrame({"id": ["a"]}, geometry=[small], crs="EPSG:4326"))
    tile = get_tms("WebMercatorQuad").tile(112.9, 27.8, 8)
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    bbox, cell = grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * THIN_PX
    with store._db.reading() as conn:
        assert len(store._envelopes.candidate_fids(conn, "parcels", "geom", bbox, cell, None)) == 1
    far = shapely.box(113.10, 27.90, 113.11, 27.91)
    store.write_layer("parcels", gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[small, far], crs="EPSG:4326"))
    with store._db.reading() as conn:
        assert len(store._envelopes.candidate_fids(conn, "parcels", "geom", bbox, cell, None)) == 2
    store.close()
