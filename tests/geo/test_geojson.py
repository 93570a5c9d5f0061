"""RFC 7946 encoding and the axis order of bbox-crs / output CRSs."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import orjson
import pandas as pd
import pytest

import geopandas as gpd
import pyproj
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape

from geo.bbox import parse_bbox
from geo.errors import InvalidBBox
from geo.geojson import (
    dumps,
    features,
    geometry_dicts,
    is_north_first,
    prepare_geometries,
    round_coordinates,
)

CW_WITH_HOLE = Polygon(
    [(112.90, 27.80), (112.90, 27.81), (112.91, 27.81), (112.91, 27.80)],
    [[(112.902, 27.802), (112.908, 27.802), (112.908, 27.808), (112.902, 27.808)]],  # CCW hole
)


@pytest.fixture
def frame():
    return gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": ["湘潭", "韶山"], "area": [1.5, math.nan]},
        geometry=[MultiPolygon([CW_WITH_HOLE]), Point(112.52345678, 27.91234567)],
        crs="OGC:CRS84",
    )


def test_features_are_rfc7946(frame):
    out = features(frame)
    assert json.dumps(out, allow_nan=False)  # NaN was turned into null
    poly = shape(out[0]["geometry"]).geoms[0]
    assert poly.exterior.is_ccw and not poly.interiors[0].is_ccw
    assert out[0]["properties"] == {"name": "湘潭", "area": 1.5} and out[1]["properties"]["area"] is None
    assert out[1]["geometry"]["coordinates"] == [112.5234568, 27.9123457]
    assert out[0]["id"] == "a" and "crs" not in out[0]


def test_property_types_are_written_as_json(frame):
    typed = frame.assign(
        count=pd.array([3, None], dtype="Int64"),
        done=pd.array([True, None], dtype="boolean"),
        when=pd.to_datetime(["2025-06-30 08:00", None]),
        extra=[{"月": [1, 2]}, None],
        code=[float("inf"), 2.0],
    )
    parsed = orjson.loads(dumps(features(typed, "EPSG:4547")))
    assert parsed[0]["properties"] | {"name": None} == {
        "name": None,
        "area": 1.5,
        "count": 3,
        "done": True,
        "when": "2025-06-30T08:00:00",
        "extra": {"月": [1, 2]},
        "code": None,
    }
    assert [parsed[1]["properties"][k] for k in ("count", "done", "when", "extra", "code")] == [None] * 4 + [2.0]
    assert features(typed.iloc[:0]) == []


@pytest.mark.parametrize(("crs", "most"), [("OGC:CRS84", 7), ("EPSG:4490", 7), ("EPSG:4547", 3), ("EPSG:3857", 3)])
def test_coordinates_are_written_short(crs, most):
    # 112.845993 is printed 112.84599300000001 by GEOS's GeoJSON writer (17 significant digits)
    frame = gpd.GeoDataFrame(
        {"id": ["a", "b"]},
        geometry=[Point(112.845993, 27.517652), LineString([(112.84599300000001, 27.517651999999998), (112.9, 27.6)])],
        crs="OGC:CRS84",
    )
    text = dumps(features(frame, crs))
    literals = re.findall(rb"-?\d+\.(\d+)", text.split(b'"coordinates":', 1)[1])
    assert literals and max(len(d) for d in literals) <= most, text
    if most == 7:
        assert b"112.845993" in text and b"27.517652" in text and b"00000" not in text


def test_round_coordinates_keeps_every_vertex():
    # two vertices 1e-8 apart: set_precision would merge them, rounding coordinates keeps both
    line = LineString([(112.1, 27.1), (112.10000001, 27.1), (112.2, 27.2)])
    out = round_coordinates(np.array([line, None], dtype=object), 7)
    assert out[1] is None
    assert [tuple(c) for c in out[0].coords] == [(112.1, 27.1), (112.1, 27.1), (112.2, 27.2)]
    assert geometry_dicts(np.array([Point(), None, out[0]], dtype=object))[:2] == [None, None]


def test_projected_output_in_authority_order_rounded_to_mm(frame):
    out = features(frame, "EPSG:4547", properties=["name"])
    north, east = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:4547").transform(112.52345678, 27.91234567)
    assert out[1]["geometry"]["coordinates"] == [round(north, 3), round(east, 3)]
    assert out[1]["properties"] == {"name": "韶山"}
    xy = prepare_geometries([Point(112.5, 27.9)], "EPSG:3857")[0]
    assert xy.x > 1.2e7 and xy.y < 4e6  # Web Mercator stays (easting, northing)


@pytest.mark.parametrize(("crs", "north_first"), [("OGC:CRS84", False), ("EPSG:4490", True), ("EPSG:4547", True)])
def test_axis_order(crs, north_first):
    assert is_north_first(crs) is north_first


def test_parse_bbox_follows_the_bbox_crs_axis_order():
    assert parse_bbox("27.8,112.8,27.9,113.0", "EPSG:4490") == (112.8, 27.8, 113.0, 27.9)
    to_gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:4547")
    n0, e0 = to_gk.transform(112.8, 27.8)
    n1, e1 = to_gk.transform(112.9, 27.9)
    minx, miny, maxx, maxy = parse_bbox(f"{n0},{e0},{n1},{e1}", "EPSG:4547")
    assert minx <= 112.8 + 1e-9 and maxx >= 112.9 - 1e-9 and miny <= 27.8 + 1e-9 and maxy >= 27.9 - 1e-9
    assert maxx - minx < 0.11 and maxy - miny < 0.11
    with pytest.raises(InvalidBBox):
        parse_bbox("112.8,27.8,113.0,27.9", "EPSG:4490")  # lon/lat given where lat/lon is due: lat 112.8


def test_export_writer_and_api_share_one_encoding(frame):
    """The streamed file export and the API encode values alike: one rule for NaN, NA, NaT, inf and dates."""
    from geo.writers import ExportSchema, geojson_chunks

    typed = frame.assign(
        count=pd.array([3, None], dtype="Int64"),
        when=pd.to_datetime(["2025-06-30 08:00", None]),
        extra=[{"月": [1, 2], "x": float("nan")}, None],
        code=[float("inf"), 2.0],
    )
    typed.loc[1, "geometry"] = Point()  # empty: null in both
    columns = {"id": "str", "name": "str", "area": "float", "count": "int", "when": "datetime", "extra": "json"}
    schema = ExportSchema("t", {**columns, "code": "float"}, "Point", pyproj.CRS("OGC:CRS84"))
    data = b"".join(geojson_chunks([typed], schema))
    assert b"NaN" not in data and b"Infinity" not in data and "湘潭".encode() in data
    exported = orjson.loads(data)["features"]
    api = features(typed)
    assert [f["id"] for f in exported] == ["a", "b"]
    for out, ref in zip(exported, api, strict=True):
        assert out["properties"] == {"id": ref["id"], **ref["properties"]}
    assert exported[0]["properties"]["extra"] == {"月": [1, 2], "x": None}
    assert exported[0]["properties"]["code"] is None and exported[1]["properties"]["when"] is None
    assert exported[1]["geometry"] is None and api[1]["geometry"] is None
    # The export rounds like the API (7 decimals of a degree) but keeps the stored ring order.
    assert shape(exported[0]["geometry"]).equals_exact(typed.geometry[0], 0.71e-7)
    assert data.endswith(b"\n]}\n") and data.count(b'{"type":"Feature"') == 2
