"""GeoJSON text read straight from WKB equals the text of the parsed (and promoted) geometries, byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

import shapely
from shapely import wkt

from geo.geometry_json import geometry_texts
from geo.writers.frames import promote
from geo.writers.wkb_text import wkb_geometry_texts

SHAPES = [
    "POINT (112.845993 27.517652)",
    "POINT (1.123456789 2.5)",
    "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    "POLYGON ((0.123456789 0, 1 0, 1 1, 0.123456789 0), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))",
    "MULTIPOLYGON (((112.123456789 27.987654321, 112.2 27.9, 112.3 28, 112.123456789 27.987654321)))",
    "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))",
    "LINESTRING (0 0, 1 1)",
    "POINT EMPTY",
    "POLYGON EMPTY",
    "POINT Z (1 2 3)",
    None,
]
GEOMS = [None if text is None else wkt.loads(text) for text in SHAPES]


def _check(page: list, geometry_type: str, decimals: int = 7) -> None:
    blobs = [None if g is None else shapely.to_wkb(g, flavor="iso") for g in page]
    expected = geometry_texts(promote(np.array(page, dtype=object), geometry_type), decimals)
    assert wkb_geometry_texts(blobs, decimals, geometry_type) == expected


@pytest.mark.parametrize("geometry_type", ["MultiPolygon", "Polygon", "Point", "MultiPoint", "LineString"])
def test_wkb_texts_equal_the_parsed_geometries_texts(geometry_type):
    rng = np.random.default_rng(5)
    for _ in range(200):  # mixed pages take the shapely way, uniform ones the numpy way
        _check([GEOMS[i] for i in rng.integers(0, len(GEOMS), rng.integers(1, 6))], geometry_type)
    for geom in GEOMS:
        _check([geom] * 4, geometry_type)
    _check([GEOMS[2], GEOMS[4], None, GEOMS[2]], geometry_type, decimals=3)


def test_big_endian_wkb_is_read_too():
    geom = GEOMS[4]
    blob = shapely.to_wkb(geom, byte_order=0)
    assert wkb_geometry_texts([blob], 7, "MultiPolygon") == geometry_texts(np.array([geom]), 7)
