"""A layer is encoded and written a slice at a time: what is stored is what one whole write stores."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

import geopandas as gpd
import shapely
from geopandas.testing import assert_geodataframe_equal

import geo.storage.codec as codec
from geo.storage.gpkg.layer import layer_geometry_type
from geo.storage.values import Filter


def frame(n: int = 23) -> gpd.GeoDataFrame:
    """Rows out of id order, polygons first and multipolygons later, empty and None cells in later slices only."""
    lon = 112.9 + 0.001 * np.arange(n)
    geoms = list(shapely.box(lon, 27.85, lon + 0.0005, 27.8505))
    geoms[17] = shapely.MultiPolygon([geoms[17]])
    return gpd.GeoDataFrame(
        {
            "id": [f"L-{(i * 7) % n:03d}" for i in range(n)],
            "name": [f"地块{i}" if i != 20 else None for i in range(n)],
            "pct": [float(i) if i < 19 else None for i in range(n)],
            "count": [i if i % 5 else None for i in range(n)],
            "done": [bool(i % 2) if i != 21 else None for i in range(n)],
            "day": [f"2025-0{1 + i % 9}-15" for i in range(n)],
        },
        geometry=geoms,
        crs=4326,
    )


def test_slices_cover_every_row_in_id_order_with_the_whole_frames_types():
    layer = codec.prepare_layer(frame(), "id", {"day": "date", "count": "int"})
    parts = list(layer.slices(5))
    assert [len(p) for p in parts] == [5, 5, 5, 5, 3]
    whole, types = codec.encode_frame(frame(), "id", {"day": "date", "count": "int"})
    joined = gpd.GeoDataFrame(gpd.pd.concat(parts), crs=4326)
    assert types == layer.types and types["count"] == "int" and types["done"] == "bool"
    assert_geodataframe_equal(joined, whole, check_dtype=False)
    assert list(joined["id"]) == sorted(frame()["id"])


def test_an_empty_layer_gives_one_empty_slice():
    layer = codec.prepare_layer(frame().iloc[:0], "id")
    assert [len(p) for p in layer.slices(5)] == [0]


def test_the_layer_geometry_type_is_the_whole_layers():
    geoms = frame().geometry
    assert layer_geometry_type(geoms) == "Unknown"
    assert layer_geometry_type(geoms.iloc[:10]) == "Polygon"
    assert layer_geometry_type(gpd.GeoSeries([None, shapely.Point(1, 2, 3)])) == "Point Z"


def test_a_sliced_write_stores_what_a_whole_write_stores(writable_store, monkeypatch):
    writable_store.write_layer("whole", frame())
    monkeypatch.setattr(codec, "SLICE_ROWS", 4)
    writable_store.write_layer("sliced", frame())
    whole, sliced = writable_store.read("whole"), writable_store.read("sliced")
    assert len(sliced) == 23
    assert_geodataframe_equal(sliced, whole)
    assert writable_store.columns("sliced") == writable_store.columns("whole")
    path = getattr(writable_store, "path", None)
    if path is not None:  # the GeoPackage declares the type of every row, not the first slice's
        with sqlite3.connect(path) as conn:
            kinds = dict(conn.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns"))
        assert kinds["sliced"] == kinds["whole"] == "GEOMETRY"


@pytest.mark.parametrize("rows", [1, 10])
def test_sliced_writes_keep_the_rtree_whole(writable_store, monkeypatch, rows):
    monkeypatch.setattr(codec, "SLICE_ROWS", rows)
    writable_store.write_layer("sliced", frame())
    found = writable_store.read("sliced", Filter(bbox=(112.9096, 27.84, 112.9124, 27.86)))
    assert sorted(found["id"]) == sorted(frame()["id"].iloc[10:13])
