"""GeoJSON geometry objects written from coordinate arrays, checked against GEOS's own GeoJSON writer."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

import shapely
from shapely import wkt

from geo.geometry_json import geometry_dicts, geometry_texts, round_coordinates

SHAPES = [
    "POINT (112.845993 27.517652)",
    "LINESTRING (0 0, 1 1, 2 0)",
    "POLYGON ((0 0, 1 0, 1 1, 0 0), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))",
    "MULTIPOINT ((1 2), (3 4))",
    "MULTILINESTRING ((0 0, 1 1), (2 2, 3 3, 4 4))",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5), (5.1 5.1, 5.2 5.1, 5.2 5.2, 5.1 5.1)))",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))",
    "POINT Z (1 2 3)",
    "GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))",
]


def test_every_geometry_type_matches_geos():
    geoms = np.array([wkt.loads(text) for text in SHAPES], dtype=object)
    expected = [orjson.loads(text) for text in shapely.to_geojson(geoms)]
    assert geometry_dicts(geoms) == expected
    assert geometry_dicts(geoms[::-1]) == expected[::-1]  # order kept whatever the mix of types


def test_missing_and_empty_geometries_are_none():
    geoms = np.array([None, shapely.Point(), wkt.loads("POLYGON EMPTY"), shapely.Point(1, 2)], dtype=object)
    assert geometry_dicts(geoms) == [None, None, None, {"type": "Point", "coordinates": [1.0, 2.0]}]
    assert geometry_dicts(np.array([], dtype=object)) == []


@pytest.mark.parametrize(
    ("decimals", "expected"),
    [
        (3, b'[{"type":"LineString","coordinates":[[112.846,27.518],[3065432.123,1.0]]}]'),
        (7, b'[{"type":"LineString","coordinates":[[112.845993,27.517652],[3065432.1234568,1.0005]]}]'),
    ],
)
def test_rounded_coordinates_are_written_shortest(decimals, expected):
    line = shapely.LineString([(112.84599300000001, 27.517651999999998), (3065432.12345678, 1.00049999)])
    assert orjson.dumps(geometry_dicts(round_coordinates(np.array([line]), decimals))) == expected


@pytest.mark.parametrize("decimals", [3, 7])
def test_rounding_while_encoding_writes_the_same_text_as_rounding_first(decimals):
    rng = np.random.default_rng(16)
    jitter = [shapely.transform(wkt.loads(t), lambda c: c + np.sin(c * 997 + 1) * 1e-4) for t in SHAPES]
    randoms = shapely.box(*(rng.uniform(112, 113, (4, 300)) + [[0], [0], [0.01], [0.01]]))
    geoms = np.array([*jitter, None, shapely.Polygon(), *randoms, shapely.Point(1, 2, 3.123456789)], dtype=object)
    before = orjson.dumps(geometry_dicts(round_coordinates(geoms, decimals)))
    assert orjson.dumps(geometry_dicts(geoms, decimals)) == before
    assert b"e-" not in before and len(before) > 10_000


def _dumped(geoms, decimals=None):
    return [None if d is None else orjson.dumps(d) for d in geometry_dicts(geoms, decimals)]


MORE = [
    *SHAPES,
    "POLYGON EMPTY",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), EMPTY)",
    "MULTILINESTRING ((0 0, 1 1), EMPTY)",
    "POLYGON ((112.123456789 27.987654321, 112.2 27.9, 112.3 28.0, 112.123456789 27.987654321))",
]


@pytest.mark.parametrize("decimals", [None, 3, 7])
def test_geometry_texts_are_the_bytes_orjson_writes_for_geometry_dicts(decimals):
    geoms = np.array([wkt.loads(text) for text in MORE] + [None], dtype=object)
    rng = np.random.default_rng(3)
    for _ in range(200):  # mixed pages, in any order and with repeats, take every branch
        page = geoms[rng.integers(0, len(geoms), rng.integers(1, 8))]
        assert geometry_texts(page, decimals) == _dumped(page, decimals)
    for geom in geoms:  # pages of one type take the vectorised branches
        page = np.array([geom] * 3, dtype=object)
        assert geometry_texts(page, decimals) == _dumped(page, decimals)
    assert geometry_texts(np.array([], dtype=object)) == []
