import mapbox_vector_tile
import numpy as np
import pytest

import geopandas as gpd
import shapely

from geo import mvt, mvt_encode
from geo.storage.base import FeatureStore, Filter
from geo.storage.generic import thin_frame
from geo.storage.gpkg import GeoPackageStore


def _encode_decode(geoms, props=None):
    props = props or [{"id": str(i)} for i in range(len(geoms))]
    geoms, kept = mvt.prepare(np.array(geoms, dtype=object), 4096, 64)
    data = mvt.encode([mvt.TileLayer("test", geoms, [p for p, k in zip(props, kept, strict=False) if k])])
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def test_polygon_is_clipped_to_the_buffer_and_keeps_properties():
    big = shapely.box(-1000, 100, 5000, 200)
    decoded = _encode_decode([big], [{"id": "a", "status": "completed", "progress_pct": 50.0}])
    feature = decoded["test"]["features"][0]
    assert feature["properties"] == {"id": "a", "status": "completed", "progress_pct": 50.0}
    xs = np.array(feature["geometry"]["coordinates"][0])[:, 0]
    assert xs.min() == -64 and xs.max() == 4096 + 64
    assert decoded["test"]["extent"] == 4096


def test_tiny_polygons_become_points_and_outside_geometries_are_dropped():
    tiny = shapely.box(100, 100, 103, 103)  # under one screen pixel (16 units)
    outside = shapely.box(6000, 6000, 6100, 6100)
    decoded = _encode_decode([tiny, outside])
    features = decoded["test"]["features"]
    assert len(features) == 1
    assert features[0]["geometry"]["type"] == "Point"


def test_simplification_removes_sub_pixel_detail():
    ring = [(100 + 2000 * np.cos(a), 2048 + 2000 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 2000)]
    decoded = _encode_decode([shapely.Polygon(ring)])
    assert len(decoded["test"]["features"][0]["geometry"]["coordinates"][0]) < 400


def test_no_features_encode_to_empty_bytes():
    assert mvt.encode([mvt.TileLayer("x", np.array([], dtype=object), [])]) == b""


@pytest.fixture
def parcels(tmp_path):
    rng = np.random.default_rng(3)
    n = 2000
    x, y = rng.uniform(112.0, 112.2, n), rng.uniform(27.0, 27.2, n)
    size = rng.uniform(0.0002, 0.01, n)
    frame = gpd.GeoDataFrame(
        {"id": [f"p{i:04d}" for i in range(n)], "status": rng.choice(["planned", "completed"], n)},
        geometry=shapely.box(x, y, x + size, y + size * 0.7),
        crs="EPSG:4326",
    )
    store = GeoPackageStore(tmp_path / "p.gpkg")
    store.write_layer("parcels", frame)
    yield store, frame
    store.close()


def test_thinning_keeps_the_largest_feature_per_cell(parcels):
    _, frame = parcels
    cell = 0.005
    out = thin_frame(frame, cell, None)
    b = shapely.bounds(frame.geometry.to_numpy())
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    key = [
        (int(k), int(m))
        for k, m in zip(
            np.floor(((b[:, 0] + b[:, 2]) / 2 + 180) / cell),
            np.floor(((b[:, 1] + b[:, 3]) / 2 + 90) / cell),
            strict=True,
        )
    ]
    best: dict = {}
    for fid, k, a in zip(frame["id"], key, area, strict=True):
        if k not in best or a > best[k][1] or (a == best[k][1] and fid < best[k][0]):
            best[k] = (fid, a)
    assert set(out["id"]) == {fid for fid, _ in best.values()} and len(out) < len(frame)
    ob = shapely.bounds(out.geometry.to_numpy())
    areas = (ob[:, 2] - ob[:, 0]) * (ob[:, 3] - ob[:, 1])
    assert (np.diff(areas) <= 1e-12).all()
    assert len(thin_frame(frame, cell, 10)) == 10 and len(thin_frame(frame, None, None)) == len(frame)


def test_geopackage_candidates_match_the_reference_rule(parcels):
    store, _ = parcels
    bbox = (112.05, 27.05, 112.15, 27.15)
    fast = store.read_tile_candidates("parcels", bbox, columns=["id", "status"], limit=300, cell=0.004)
    reference = FeatureStore.read_tile_candidates(
        store, "parcels", bbox, columns=["id", "status"], limit=300, cell=0.004
    )
    assert len(fast) == len(reference) == 300
    # the R-tree holds float32 envelopes, so only near-ties may be ordered differently
    assert len(set(fast["id"]) & set(reference["id"])) >= 290
    filtered = store.read_tile_candidates("parcels", bbox, where=Filter(equals={"status": "completed"}), cell=None)
    assert set(filtered["status"]) == {"completed"}
    assert len(filtered) == store.count("parcels", Filter(bbox=bbox, equals={"status": "completed"}))


def test_vectorised_encoder_matches_mapbox_vector_tile_on_mixed_geometries():
    rng = np.random.default_rng(5)
    centres = rng.uniform(200, 3800, (300, 2))
    polygons = list(shapely.buffer(shapely.points(centres[:100]), 60, quad_segs=3))
    holed = [shapely.Polygon(shapely.box(0, 0, 900, 900).exterior, [shapely.box(300, 300, 600, 600).exterior.coords])]
    multi = [shapely.MultiPolygon([shapely.box(10, 10, 80, 80), shapely.box(100, 100, 190, 160)])]
    lines = [shapely.LineString(rng.uniform(0, 4096, (5, 2))) for _ in range(50)]
    multiline = [shapely.MultiLineString([[(0, 0), (50, 70)], [(300, 300), (400, 100), (500, 500)]])]
    points = list(shapely.points(centres[100:]))
    multipoint = [shapely.MultiPoint([(5, 5), (70, 90), (4000, 10)])]
    geoms = np.array(polygons + holed + multi + lines + multiline + points + multipoint, dtype=object)
    props = [{"id": f"g{i}", "n": i, "ok": i % 2 == 0, "pct": i / 3} for i in range(len(geoms))]
    ours = mapbox_vector_tile.decode(
        mvt.encode([mvt.TileLayer("mix", geoms, props)]), default_options={"y_coord_down": True}
    )["mix"]
    reference_geoms = shapely.orient_polygons(shapely.set_precision(geoms, 1.0), exterior_cw=False)
    assert len(ours["features"]) == len(geoms) and ours["extent"] == 4096
    for feature, expected, prop in zip(ours["features"], reference_geoms, props, strict=True):
        assert feature["properties"]["id"] == prop["id"] and feature["properties"]["n"] == prop["n"]
        assert feature["properties"]["ok"] is prop["ok"] and feature["properties"]["pct"] == pytest.approx(prop["pct"])
        decoded = shapely.geometry.shape(feature["geometry"])
        assert decoded.geom_type.removeprefix("Multi") == expected.geom_type.removeprefix("Multi")
        assert decoded.equals(expected), (decoded.wkt[:200], expected.wkt[:200])


def _decoded(data: bytes) -> list[tuple[dict, str]]:
    layer = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})["t"]
    return [(f["properties"], shapely.geometry.shape(f["geometry"]).wkt) for f in layer["features"]]


def test_columns_and_row_dicts_encode_the_same_features_and_kinds():
    geoms = np.array(list(shapely.buffer(shapely.points(np.arange(10) * 300 + 100, 500), 80, quad_segs=2)))
    kinds = np.array([True, 1, 1.0, "1", None, np.nan, False, 0, 2.5, "x"], dtype=object)
    columns = {
        "id": np.array([f"f{i}" for i in range(10)], dtype=object),
        "mixed": kinds,
        "pct": np.array([1.5, np.nan, 3.0, 3.0, 0.0, -1.0, 2.0, 2.0, 1.5, 9.0]),
        "empty": np.array([None] * 10, dtype=object),
    }
    rows = [
        {k: v[i] for k, v in columns.items() if v[i] is not None and not (isinstance(v[i], float) and np.isnan(v[i]))}
        for i in range(10)
    ]
    by_columns = _decoded(mvt.encode([mvt.TileLayer("t", geoms, columns)]))
    by_rows = _decoded(mvt.encode([mvt.TileLayer("t", geoms, rows)]))
    assert by_columns == by_rows
    mixed = [props.get("mixed", "absent") for props, _ in by_columns]
    assert mixed == [True, 1, 1.0, "1", "absent", "absent", False, 0, 2.5, "x"]
    assert [type(v) for v in mixed[:4]] == [bool, int, float, str] and type(mixed[7]) is int
    assert all("empty" not in props for props, _ in by_columns)
    assert [props.get("pct") for props, _ in by_columns] == [1.5, None, 3.0, 3.0, 0.0, -1.0, 2.0, 2.0, 1.5, 9.0]
    options = {"quantize_bounds": None, "y_coord_down": True}
    features = [{"geometry": g, "properties": p} for g, p in zip(shapely.set_precision(geoms, 1.0), rows, strict=True)]
    reference = mapbox_vector_tile.encode([{"name": "t", "features": features}], default_options=options)
    assert [props for props, _ in _decoded(reference)] == [props for props, _ in by_columns]


@pytest.mark.parametrize("z", [9, 11, 13, 15])
def test_geopackage_tiles_made_from_arrays_decode_as_the_frame_based_reference(parcels, z):
    from geo.storage.values import MvtTile
    from geo.tms import get_tms, tile_grid

    store, frame = parcels
    point = frame.geometry.iloc[7].representative_point()
    tile = get_tms("WebMercatorQuad").tile(point.x, point.y, z)
    grid = tile_grid("WebMercatorQuad", z, tile.x, tile.y)
    spec = MvtTile("parcels", grid.lonlat_bbox(64 / 4096), grid, ("id", "status"), cell=grid.pixel_size_deg() * 8)
    fast, fast_count = store.mvt_layer("parcels", spec)
    reference, reference_count = FeatureStore.mvt_layer(store, "parcels", spec)
    assert fast_count == reference_count > 0
    options = {"y_coord_down": True}
    decoded = mapbox_vector_tile.decode(fast, default_options=options)["parcels"]["features"]
    expected = mapbox_vector_tile.decode(reference, default_options=options)["parcels"]["features"]
    assert [(f["properties"], f["geometry"]) for f in decoded] == [(f["properties"], f["geometry"]) for f in expected]


def test_snapping_many_shapes_cleans_and_orients_only_those_that_need_it_with_the_same_result():
    """Beyond a few shapes, repeated points are removed and rings oriented only where needed: the shapes
    come out byte for byte as when every shape goes through both passes."""
    rng = np.random.default_rng(3)
    shapes = []
    for i in range(400):
        x, y, s = rng.uniform(0, 4000), rng.uniform(0, 4000), rng.uniform(0.4, 60)
        ring = np.c_[x + s * np.cos(np.linspace(0, 6, 7)), y + s * np.sin(np.linspace(0, 6, 7))]
        kind = i % 6
        if kind == 0:
            shapes.append(shapely.Polygon(ring))  # counter-clockwise in y-up terms
        elif kind == 1:
            shapes.append(shapely.Polygon(ring[::-1]))  # the other way round
        elif kind == 2:
            hole = np.c_[x + s / 3 * np.cos(np.linspace(0, 6, 5)), y + s / 3 * np.sin(np.linspace(0, 6, 5))]
            shapes.append(shapely.Polygon(ring, [hole]))
        elif kind == 3:
            shapes.append(shapely.MultiPolygon([shapely.Polygon(ring), shapely.box(x + 3 * s, y, x + 4 * s, y + s)]))
        elif kind == 4:
            shapes.append(shapely.LineString(np.r_[ring[:3], ring[2:3] + 0.2, ring[3:]]))  # rounds to a repeat
        else:
            shapes.append(shapely.MultiPoint([(x, y), (x + 0.1, y + 0.1), (x + s, y)]))
    geoms = np.array(shapes, dtype=object)
    got = mvt._snap(geoms)
    rounded = shapely.transform(geoms, np.round)
    bad = ~shapely.is_valid(rounded)
    rounded[~bad] = shapely.remove_repeated_points(rounded[~bad])
    rounded[bad] = shapely.set_precision(geoms[bad], 1.0)
    expected = shapely.orient_polygons(rounded, exterior_cw=False)
    assert len(geoms) > mvt._FEW and bad.any() and (shapely.get_type_id(expected) == 3).any()
    assert [g.wkb for g in got] == [g.wkb for g in expected]


def _mixed_layer(rng: np.random.Generator, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return ``n`` snapped, oriented shapes of every kind in tile units, and property columns with gaps."""
    makers = [
        lambda x, y: shapely.buffer(shapely.Point(x, y), rng.uniform(5, 90), quad_segs=2),
        lambda x, y: shapely.Polygon(
            shapely.box(x, y, x + 900, y + 900).exterior, [shapely.box(x + 300, y + 300, x + 600, y + 600).exterior]
        ),
        lambda x, y: shapely.MultiPolygon(
            [shapely.box(x, y, x + 70, y + 70), shapely.box(x + 90, y + 90, x + 180, y + 150)]
        ),
        lambda x, y: shapely.LineString(rng.uniform(-64, 4160, (int(rng.integers(2, 7)), 2))),
        lambda x, y: shapely.MultiLineString([[(x, y), (x + 50, y + 70)], [(x + 3, y + 300), (x + 400, y + 100)]]),
        lambda x, y: shapely.Point(x, y),
        lambda x, y: shapely.MultiPoint([(x, y), (x + 70, y + 90), (4100, -20)]),
        lambda x, y: shapely.LineString([(x, y), (x + 20_000, y + 9_000)]),  # moves of 16384 and more
        lambda x, y: shapely.Point(x, y).buffer(2000, quad_segs=1500),  # a geometry of over 16 KiB
    ]
    shapes = [makers[int(rng.integers(len(makers)))](*rng.uniform(-60, 3200, 2)) for _ in range(n)]
    geoms = mvt._snap(np.array(shapes, dtype=object))
    columns = {
        "id": np.array([f"g{i}" if i % 7 else None for i in range(n)], dtype=object),
        "n": np.array([int(v) for v in rng.integers(-40_000, 40_000, n)], dtype=object),
        "pct": np.where(rng.random(n) < 0.2, np.nan, np.round(rng.uniform(0, 100, n), 1)),
        "mixed": np.array([[True, 1, 1.0, "1", None, np.nan, "状态"][i % 7] for i in range(n)], dtype=object),
        "none": np.array([None] * n, dtype=object),
    }
    return geoms, columns


@pytest.mark.parametrize("n", [1, 2, 7, 40, mvt_encode.FEW_FEATURES])
def test_few_features_are_written_byte_for_byte_as_the_array_encoder_writes_them(n):
    """Up to ``FEW_FEATURES`` a layer is written feature by feature; its bytes are the numpy encoder's."""
    rng = np.random.default_rng(n)
    for _ in range(5):
        geoms, columns = _mixed_layer(rng, n)
        few = mvt_encode._encode_few("t", geoms, columns, 4096)
        assert few == mvt_encode._encode_many("t", geoms, columns, 4096)
        decoded = mapbox_vector_tile.decode(mvt_encode._field(3, few), default_options={"y_coord_down": True})["t"][
            "features"
        ]
        assert len(decoded) == n
        assert [f["properties"].get("id") for f in decoded] == list(columns["id"])
    assert mvt_encode.encode_layer("t", geoms, columns, 4096) == few  # the path encode_layer takes


def test_one_ring_polygons_split_into_the_same_paths_as_any_geometries():
    """The shortcut for polygons without holes gives the paths the general split gives."""
    rng = np.random.default_rng(9)
    rings = [
        shapely.buffer(shapely.Point(*rng.uniform(0, 4000, 2)), rng.uniform(3, 80), quad_segs=2) for _ in range(30)
    ]
    geoms = np.array(rings + [shapely.reverse(r) for r in rings[:5]], dtype=object)
    fast, general = mvt_encode._ring_paths(geoms), mvt_encode._part_paths(geoms)
    assert all(np.array_equal(a, b) for a, b in zip(fast, general, strict=True))
    assert mvt_encode._paths(geoms)[0].shape == fast[0].shape


def test_present_values_are_the_ones_pandas_calls_present():
    import pandas as pd

    columns = [
        np.array(["a", None, np.nan, 1, 2.5, True, "", 0.0], dtype=object),
        np.array([pd.NA, pd.NaT, np.float64("nan"), np.datetime64("NaT"), "x", None], dtype=object),
        np.array([1.0, np.nan, -0.0, np.inf]),
        np.array([1, 2, 3]),
        np.array([True, False]),
        np.array([None] * 300 + ["x"], dtype=object),  # beyond a tile's few values: pandas checks them
        np.array([], dtype=object),
    ]
    for column in columns:
        assert mvt_encode._present(column).tolist() == (~pd.isna(column)).tolist(), column
