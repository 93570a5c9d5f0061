"""Coordinate text in every GeoJSON planmap writes: at most 7 decimals for degrees, 3 for metres, shortest form.

The checks read the literal response bytes (a float parsed back would hide ``27.517651999999998``), then compare
the parsed values with the unrounded stored geometries, reprojected here with pyproj.
"""

from __future__ import annotations

import json
import re

import pytest

import pyproj
import shapely
import shapely.geometry

COORDINATES = re.compile(rb'"coordinates":(\[[-+.,\[\]0-9eE]*\])')
NUMBER = re.compile(rb"-?\d+(?:\.(\d+))?(?:[eE]([-+]?\d+))?")
OUTPUT_CRS = {"CRS84": 7, "EPSG:4326": 7, "EPSG:4490": 7, "EPSG:4546": 3, "EPSG:4547": 3, "EPSG:3857": 3}
"""Output CRS -> most decimals a coordinate may carry (degrees: 1e-7 is 1 cm; metres: 1 mm)."""
LAYERS = ("farmland", "reservoirs", "water-sections")


def decimals(literal: bytes) -> int:
    """Return how many decimals a JSON number literal spells out (``1.5e-7`` has 8)."""
    match = NUMBER.fullmatch(literal)
    assert match, literal
    fraction, exponent = match.group(1) or b"", int(match.group(2) or 0)
    return max(len(fraction) - exponent, 0)


def coordinate_literals(body: bytes) -> list[bytes]:
    """Return the literal text of every number inside a ``coordinates`` member of a JSON/HTML body."""
    arrays = COORDINATES.findall(body)
    assert arrays, body[:300]
    return [m.group(0) for array in arrays for m in NUMBER.finditer(array)]


def assert_short(body: bytes, most: int) -> None:
    """Assert no coordinate literal has more than ``most`` decimals, and each is the shortest round-trip text."""
    literals = coordinate_literals(body)
    too_long = [lit for lit in literals if decimals(lit) > most]
    assert not too_long, too_long[:5]
    not_shortest = [lit for lit in literals if repr(float(lit)).encode().removesuffix(b".0") != lit.removesuffix(b".0")]
    assert not not_shortest, not_shortest[:5]


def positions(coords) -> list[tuple[float, float]]:
    """Return every (x, y) position of a GeoJSON coordinates array."""
    if isinstance(coords[0], int | float):
        return [(coords[0], coords[1])]
    return [p for part in coords for p in positions(part)]


def assert_close(features, reference, project, tolerance: float, orient: bool) -> None:
    """Assert each feature's positions are within ``tolerance`` of its unrounded stored geometry, projected."""
    assert features
    for feature in features:
        geom = reference[feature["id"]]
        geom = shapely.orient_polygons(geom) if orient else geom
        expected = positions(shapely.geometry.mapping(geom)["coordinates"])
        got = positions(feature["geometry"]["coordinates"])
        assert len(got) == len(expected)
        for (u, v), (lon, lat) in zip(got, expected, strict=True):
            eu, ev = project(lon, lat)
            assert abs(u - eu) <= tolerance and abs(v - ev) <= tolerance, (feature["id"], u, v, eu, ev)


def pyproj_crs(crs: str) -> str:
    """Return the CRS as pyproj names it (the API also takes a bare ``CRS84``)."""
    return "OGC:CRS84" if crs == "CRS84" else crs


def tolerance_for(most: int) -> float:
    """Half the last kept decimal plus the float noise of the comparison (1e-7 degree, 0.5 mm)."""
    return 0.5 * 10.0**-most + 1e-9


@pytest.fixture(scope="module")
def stored(demo_store):
    """Return layer id -> {feature id: unrounded CRS84 geometry} as the store holds them."""
    out = {}
    for layer in (*LAYERS, "counties"):
        frame = demo_store.read(layer)
        out[layer] = dict(zip(frame["id"], frame.geometry, strict=True))
    return out


@pytest.mark.parametrize("crs", OUTPUT_CRS)
@pytest.mark.parametrize("layer", LAYERS)
def test_items_and_item_write_short_coordinates_in_every_crs(client, stored, layer, crs):
    most = OUTPUT_CRS[crs]
    response = client.get(f"/collections/{layer}/items", params={"limit": 100, "crs": crs})
    assert response.status_code == 200, response.text
    assert_short(response.content, most)
    project = pyproj.Transformer.from_crs("OGC:CRS84", pyproj_crs(crs)).transform  # authority axis order
    features = response.json()["features"]
    assert_close(features, stored[layer], project, tolerance_for(most), orient=True)
    item = client.get(f"/collections/{layer}/items/{features[0]['id']}", params={"crs": crs})
    assert item.status_code == 200, item.text
    assert_short(item.content, most)
    assert_close([item.json()], stored[layer], project, tolerance_for(most), orient=True)


@pytest.mark.parametrize("crs", OUTPUT_CRS)
def test_geojson_export_writes_short_coordinates_in_every_crs(client, stored, crs):
    most = OUTPUT_CRS[crs]
    response = client.get("/collections/farmland/export", params={"format": "geojson", "crs": crs})
    assert response.status_code == 200, response.text
    assert_short(response.content, most)
    project = pyproj.Transformer.from_crs("OGC:CRS84", pyproj_crs(crs), always_xy=True).transform  # exports: x/y
    assert_close(json.loads(response.content)["features"], stored["farmland"], project, tolerance_for(most), False)


def test_county_progress_geojson_writes_short_coordinates(client, stored):
    response = client.get("/progress/farmland/counties.geojson")
    assert response.status_code == 200, response.text
    assert_short(response.content, 7)
    features = response.json()["features"]
    assert_close(features, stored["counties"], lambda x, y: (x, y), tolerance_for(7), orient=True)


@pytest.mark.parametrize("layer", LAYERS)
def test_map_data_writes_short_coordinates(client, stored, layer):
    response = client.get(f"/map/data/{layer}")
    assert response.status_code == 200, response.text
    assert_short(response.content, 7)
    features = [{**f, "id": f["properties"]["id"]} for f in response.json()["features"]]
    assert_close(features, stored[layer], lambda x, y: (x, y), tolerance_for(7), orient=False)
    assert_short(client.get(f"/map/data/{layer}", params={"coordsys": "gcj02"}).content, 7)


@pytest.mark.parametrize("path", ["/map?layers=reservoirs,water-sections&coordsys=gcj02", "/map?layers=farmland"])
def test_map_pages_embed_short_coordinates(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert_short(response.content, 7)


def test_nearby_page_and_api_write_short_coordinates(client):
    params = {"lon": 112.9454, "lat": 27.8313, "radius_m": 20000, "coordsys": "gcj02"}
    page = client.get("/map/nearby", params=params)
    assert page.status_code == 200, page.text
    assert_short(page.content, 7)
    body = client.get("/nearby", params=params)
    assert body.status_code == 200, body.text
    for key in (b"lon", b"lat"):
        literal = re.search(rb'"' + key + rb'":(-?[0-9.]+)', body.content)
        assert literal and decimals(literal.group(1)) <= 7, body.content[:200]
