"""Low-zoom tile candidates chosen from the envelopes in memory equal those chosen in SQL on the R-tree."""

from __future__ import annotations

import time
from datetime import date

import numpy as np
import pytest

import geopandas as gpd
import shapely

from geo.storage import GeoPackageStore
from geo.storage.base import FeatureWrite, HistoryEntry
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


def built(store: GeoPackageStore, layer: str = "parcels") -> None:
    """Read the layer's envelopes now (requests start that in the background)."""
    store._envelopes.build(layer, store.geometry_version(layer))


def both(store: GeoPackageStore, z: int, x: int, y: int, limit: int | None) -> tuple[list[int], list[int] | None]:
    grid = tile_grid("WebMercatorQuad", z, x, y)
    bbox, cell = grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * THIN_PX
    with store._db.reading() as conn:
        sql = tiles.gpkg_candidate_fids(conn, "parcels", "geom", bbox, None, {}, cell, limit)
    return sql, store._envelopes.candidate_fids("parcels", bbox, cell, limit)


@pytest.mark.parametrize("z", [6, 7, 8, 9, 10, 11, 12, 13])
@pytest.mark.parametrize("limit", [None, 40])
def test_memory_chooses_what_sql_chooses(parcels, monkeypatch, z, limit):
    monkeypatch.setattr(thinning, "MIN_SPAN_DEG", 0.0)  # every box, small and sparse ones included
    monkeypatch.setattr(thinning, "PASS_NS", 0.0)
    parcels._envelopes.clear()
    built(parcels)
    compared = 0
    for tile in tiles_over(z)[:40]:
        sql, memory = both(parcels, *tile, limit)
        assert memory == sql, tile  # same rows, same order (largest first, ties by id)
        compared += len(sql)
    assert compared > 0


def test_features_centred_on_cell_edges_are_chosen_as_sql_chooses(tmp_path, monkeypatch):
    """Boxes centred exactly on grid lines (tile edges are cell edges at every zoom), where a feature of a
    cell inside the box is also near the box's edge cells. Areas all differ (ties are told apart differently)."""
    monkeypatch.setattr(thinning, "MIN_SPAN_DEG", 0.0)
    monkeypatch.setattr(thinning, "PASS_NS", 0.0)
    rng = np.random.default_rng(11)
    n, step = 3000, 1 / 256  # binary fractions: exact in the R-tree's 32-bit floats and on every zoom's grid
    lon = 112.5 + step * rng.integers(-64, 256, n)
    lat = 27.5 + step * rng.integers(-64, 192, n)
    half_w = (rng.permutation(n) + 1) / 2**17
    frame = gpd.GeoDataFrame(
        {"id": [f"e{i}" for i in range(n)]},
        geometry=shapely.box(lon - half_w, lat - step / 4, lon + half_w, lat + step / 4),
        crs="EPSG:4326",
    )
    store = GeoPackageStore(tmp_path / "edges.gpkg")
    store.write_layer("parcels", frame)
    built(store)
    compared = 0
    for z in (7, 8, 9, 10, 11, 12):
        tms = get_tms("WebMercatorQuad")
        for t in tms.tiles(112.3, 27.2, 113.6, 28.3, [z]):
            sql, memory = both(store, t.z, t.x, t.y, None)
            assert memory == sql, (t.z, t.x, t.y)
            compared += len(sql)
    assert compared > 0
    store.close()


def test_only_wide_boxes_and_bounded_layers_are_thinned_in_memory(parcels, monkeypatch):
    wide, narrow = tiles_over(8)[0], tiles_over(13)[0]
    built(parcels)
    assert both(parcels, *wide, None)[1] is not None
    assert both(parcels, *narrow, None)[1] is None  # a z13 box: the R-tree is quicker
    dense = max(tiles_over(11), key=lambda t: len(both(parcels, *t, None)[0]))
    assert both(parcels, *dense, None)[1] is not None  # a z11 box holding ~4 % of the layer
    sparse = get_tms("WebMercatorQuad").tile(100.0, 27.8, 8)  # wide, but far from every feature
    assert both(parcels, sparse.z, sparse.x, sparse.y, None)[1] is None
    monkeypatch.setattr(thinning, "ENVELOPES_MAX_FEATURES", 100)
    parcels._envelopes.clear()
    built(parcels)
    assert both(parcels, *wide, None)[1] is None


def test_the_first_wide_tile_is_thinned_in_sql_while_the_envelopes_are_read_in_the_background(parcels):
    parcels._envelopes.clear()
    sql, memory = both(parcels, *tiles_over(8)[0], None)
    assert memory is None and sql  # answered by SQL; a build started
    deadline = time.monotonic() + 30
    while parcels._envelopes.ready("parcels") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert both(parcels, *tiles_over(8)[0], None) == (sql, sql)


def test_a_new_version_of_the_layer_is_read_again(tmp_path):
    store = GeoPackageStore(tmp_path / "two.gpkg")
    small = shapely.box(112.90, 27.80, 112.901, 27.801)
    store.write_layer("parcels", gpd.GeoDataFrame({"id": ["a"]}, geometry=[small], crs="EPSG:4326"))
    tile = get_tms("WebMercatorQuad").tile(112.9, 27.8, 8)
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    bbox, cell = grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * THIN_PX
    built(store)
    assert len(store._envelopes.candidate_fids("parcels", bbox, cell, None)) == 1
    far = shapely.box(113.10, 27.90, 113.11, 27.91)
    store.write_layer("parcels", gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[small, far], crs="EPSG:4326"))
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) is None  # the old version is not used
    built(store)
    assert len(store._envelopes.candidate_fids("parcels", bbox, cell, None)) == 2
    store.close()


def test_progress_reports_keep_the_envelopes_and_edits_of_shapes_read_them_again(tmp_path, monkeypatch):
    monkeypatch.setattr(thinning, "PASS_NS", 0.0)  # a box holding none is thinned in memory too
    store = GeoPackageStore(tmp_path / "edits.gpkg")
    small = shapely.box(112.90, 27.80, 112.901, 27.801)
    frame = gpd.GeoDataFrame({"id": ["a"], "status": ["planned"]}, geometry=[small], crs="EPSG:4326")
    store.write_layer("parcels", frame)
    tile = get_tms("WebMercatorQuad").tile(112.9, 27.8, 8)
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    bbox, cell = grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * THIN_PX
    reads = []
    read = store._envelopes._read
    store._envelopes._read = lambda layer: reads.append(layer) or read(layer)
    built(store)
    entry = HistoryEntry("parcels", "a", date(2026, 3, 1), "in_progress", 10.0)
    store.record_progress(entry, {"status": "in_progress"})
    store.append_history([entry])
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) == [1]  # still held: no new read
    assert reads == ["parcels"]
    far = shapely.box(112.95, 27.85, 112.96, 27.86)  # larger, so it ranks first
    store.create_feature(FeatureWrite(HistoryEntry("parcels", "b", date(2026, 3, 2), "planned"), {"id": "b"}, far))
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) is None  # the old shapes are not used
    built(store)
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) == [2, 1]
    moved = shapely.box(113.5, 28.5, 113.51, 28.51)  # out of the tile
    store.replace_feature(
        FeatureWrite(HistoryEntry("parcels", "b", date(2026, 3, 3), "planned"), {}, moved),
        store.feature_version("parcels", "b"),
    )
    built(store)
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) == [1]
    store.delete_feature(
        HistoryEntry("parcels", "a", date(2026, 3, 4), "planned"), store.feature_version("parcels", "a"), {}
    )
    built(store)
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) == []
    store.close()


def test_envelopes_are_read_by_one_thread_on_one_connection_and_again_after_close(tmp_path):
    store = GeoPackageStore(tmp_path / "one.gpkg")
    tile = get_tms("WebMercatorQuad").tile(112.9, 27.8, 8)
    wide = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    bbox, cell = wide.lonlat_bbox(64 / 4096), wide.pixel_size_deg() * THIN_PX
    for n in range(1, 4):  # three versions: three reads, one reading thread, one connection for it
        boxes = [shapely.box(112.9 + i / 10, 27.8, 112.905 + i / 10, 27.805) for i in range(n)]  # cells apart
        store.write_layer("parcels", gpd.GeoDataFrame({"id": list("abc")[:n]}, geometry=boxes, crs="EPSG:4326"))
        store._envelopes.candidate_fids("parcels", bbox, cell, None)
        store._envelopes._reader.submit(lambda: None).result()  # the read has run
        assert len(store._envelopes.candidate_fids("parcels", bbox, cell, None)) == n
    connections = len(store._db._connections)
    store.close()
    store.write_layer("parcels", gpd.GeoDataFrame({"id": ["a"]}, geometry=boxes[:1], crs="EPSG:4326"))
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) is None
    store._envelopes._reader.submit(lambda: None).result()
    assert store._envelopes.candidate_fids("parcels", bbox, cell, None) == [1]
    assert connections <= 2  # this thread's and the reader's
    store.close()


def test_an_empty_layer_has_no_envelopes_and_no_winners(tmp_path, monkeypatch):
    monkeypatch.setattr(thinning, "PASS_NS", 0.0)
    store = GeoPackageStore(tmp_path / "empty.gpkg")
    frame = gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(112.9, 27.8, 112.91, 27.81)], crs="EPSG:4326")
    store.write_layer("parcels", frame.iloc[:0])
    built(store)
    assert store._envelopes.ready("parcels").fid.size == 0
    tile = get_tms("WebMercatorQuad").tile(112.9, 27.8, 8)
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    assert store._envelopes.candidate_fids("parcels", grid.lonlat_bbox(64 / 4096), grid.pixel_size_deg() * 8, 10) == []
    store.close()


def _table_rows(store: GeoPackageStore, layer: str = "parcels") -> np.ndarray:
    with store._db.reading() as conn:
        rows = conn.execute(f'SELECT id, minx, miny, maxx, maxy FROM "rtree_{layer}_geom" ORDER BY id').fetchall()
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _by_id(table: np.ndarray) -> np.ndarray:
    return table[np.argsort(table[:, 0], kind="stable")]


@pytest.mark.parametrize("n", [0, 1, 40, 5000])
def test_envelopes_read_from_the_rtree_nodes_are_the_rows_of_the_rtree(tmp_path, n):
    rng = np.random.default_rng(n)
    x, y = rng.uniform(112.4, 113.4, n), rng.uniform(27.5, 28.2, n)
    w = rng.uniform(1e-5, 0.02, n)
    frame = gpd.GeoDataFrame(
        {"id": [f"r{i}" for i in range(n)]}, geometry=shapely.box(x, y, x + w, y + w / 2), crs="EPSG:4326"
    )
    store = GeoPackageStore(tmp_path / "nodes.gpkg")
    store.write_layer("parcels", frame)
    if n > 1:  # edits move cells between nodes, split and merge them
        for i in range(0, n, max(n // 25, 1)):
            fid = f"r{i}"
            entry = HistoryEntry("parcels", fid, date(2026, 3, 1), "planned")
            if i % 2:
                store.delete_feature(entry, store.feature_version("parcels", fid), {})
            else:
                moved = shapely.box(113.0 + i * 1e-4, 27.9, 113.01 + i * 1e-4, 27.91)
                store.replace_feature(FeatureWrite(entry, {}, moved), store.feature_version("parcels", fid))
    expected = _table_rows(store)
    with store._db.reading() as conn:
        nodes = thinning._leaf_cells(conn, "parcels", "geom")
        read = thinning.read_envelopes(conn, "parcels", "geom")
    assert nodes is not None  # read from the nodes, not by the fallback
    np.testing.assert_array_equal(_by_id(nodes), expected)
    np.testing.assert_array_equal(_by_id(read), expected)
    store.close()


def test_envelopes_are_read_through_the_table_when_the_nodes_miss_rows(parcels, monkeypatch):
    monkeypatch.setattr(thinning, "_LEAF_CELL", np.dtype([("id", ">i8"), ("c", ">f4", 5)]))  # a wrong layout
    with parcels._db.reading() as conn:
        assert thinning._leaf_cells(conn, "parcels", "geom") is None
        read = thinning.read_envelopes(conn, "parcels", "geom")
    np.testing.assert_array_equal(_by_id(read), _table_rows(parcels))


def test_the_estimate_of_a_box_counts_at_least_the_features_centred_in_it(parcels):
    built(parcels)
    entry = parcels._envelopes.ready("parcels")
    cx, cy = entry.cx - 180.0, entry.cy - 90.0
    assert entry.estimate((100.0, 20.0, 120.0, 30.0)) == entry.fid.size
    assert entry.estimate((100.0, 20.0, 101.0, 21.0)) == 0
    rng = np.random.default_rng(8)
    for _ in range(200):
        x0, y0 = rng.uniform(BOUNDS[0] - 0.1, BOUNDS[2]), rng.uniform(BOUNDS[1] - 0.1, BOUNDS[3])
        box = (x0, y0, x0 + rng.uniform(0.001, 0.5), y0 + rng.uniform(0.001, 0.5))
        inside = int(((cx >= box[0]) & (cx <= box[2]) & (cy >= box[1]) & (cy <= box[3])).sum())
        assert inside <= entry.estimate(box) <= inside + entry.fid.size // 10
