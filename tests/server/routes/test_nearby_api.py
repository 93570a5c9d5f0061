"""GET /nearby over real ASGI requests on the demo GeoPackage."""

from __future__ import annotations

import numpy as np
import pytest

import pyproj
import shapely

from geo.crs import from_wgs84

GEOD = pyproj.Geod(ellps="WGS84")
CITY_HALL = (112.9454, 27.8313)


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def test_nearby_sorted_with_links(client, store):
    params = {"lon": CITY_HALL[0], "lat": CITY_HALL[1], "radius_m": 4000}
    response = client.get("/nearby", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["lon"], body["lat"]) == CITY_HALL and body["input"]["coordsys"] == "wgs84"
    projects = body["projects"]
    assert projects and body["count"] == len(projects)
    assert [p["distance_m"] for p in projects] == sorted(p["distance_m"] for p in projects)
    first = projects[0]
    assert first["href"].endswith(f"/collections/{first['layer']}/items/{first['id']}")
    item = client.get(first["href"])
    assert item.status_code == 200 and item.json()["id"] == first["id"]
    geom = store.get(first["layer"], first["id"]).geometry.iloc[0]
    edge = geom.boundary if geom.geom_type.endswith("Polygon") else geom
    coords = shapely.get_coordinates(shapely.segmentize(edge, 5e-6))
    dist = GEOD.inv(np.full(len(coords), CITY_HALL[0]), np.full(len(coords), CITY_HALL[1]), coords[:, 0], coords[:, 1])[
        2
    ]
    expected = 0.0 if geom.covers(shapely.Point(CITY_HALL)) else float(dist.min())
    assert first["distance_m"] == pytest.approx(expected, abs=1.0)


def test_gcj02_echoes_the_wgs84_point(client):
    x, y = from_wgs84(*CITY_HALL, "gcj02")
    wgs = client.get("/nearby", params={"lon": CITY_HALL[0], "lat": CITY_HALL[1], "radius_m": 3000}).json()
    gcj = client.get("/nearby", params={"lon": float(x), "lat": float(y), "radius_m": 3000, "coordsys": "gcj02"}).json()
    assert gcj["lon"] == pytest.approx(CITY_HALL[0], abs=1e-5) and gcj["lat"] == pytest.approx(CITY_HALL[1], abs=1e-5)
    assert [p["id"] for p in gcj["projects"]] == [p["id"] for p in wgs["projects"]]
    for a, b in zip(gcj["projects"], wgs["projects"], strict=True):
        assert a["distance_m"] == pytest.approx(b["distance_m"], abs=1.0)


def test_layer_choice_and_limit(client):
    params = {"lon": CITY_HALL[0], "lat": CITY_HALL[1], "radius_m": 50000, "layers": "reservoirs,farmland", "limit": 5}
    body = client.get("/nearby", params=params).json()
    assert body["layers"] == ["reservoirs", "farmland"] and body["count"] == 5
    assert {p["layer"] for p in body["projects"]} <= {"reservoirs", "farmland"}


@pytest.mark.parametrize(
    ("params", "status", "word"),
    [
        ({"radius_m": 0}, 400, "radius_m"),
        ({"radius_m": 50001}, 400, "radius_m"),
        ({"lon": 200}, 400, "lon"),
        ({"lat": "north"}, 400, "lat"),
        ({"coordsys": "utm"}, 400, "coordsys"),
        ({"limit": 0}, 400, "limit"),
        ({"layers": "nope"}, 404, "nope"),
        ({"layers": "counties"}, 400, "counties"),
    ],
)
def test_bad_parameters(client, params, status, word):
    query = {"lon": CITY_HALL[0], "lat": CITY_HALL[1], **params}
    response = client.get("/nearby", params=query)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and word in body["description"]


def test_missing_point(client):
    response = client.get("/nearby", params={"lat": 27.8})
    assert response.status_code == 400 and "lon" in response.json()["description"]
