"""Progress endpoints over real ASGI requests on the demo GeoPackage; figures recomputed with pandas/pyproj."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

import pyproj
import shapely

GEOD = pyproj.Geod(ellps="WGS84")
POLYGON = [[112.80, 27.60], [113.05, 27.60], [113.05, 27.80], [112.80, 27.85], [112.80, 27.60]]


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def done_frame(store, as_of: date) -> pd.DataFrame:
    """Farmland with a ``done`` flag from the last report on or before ``as_of`` (plain pandas)."""
    farms = pd.DataFrame(store.read("farmland")).set_index("id")
    hist = store.history("farmland")
    hist = hist[hist["date"] <= as_of.isoformat()].sort_values(["date", "seq"]).groupby("feature_id").tail(1)
    farms["done"] = hist.set_index("feature_id")["status"].reindex(farms.index).eq("completed")
    return farms


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and set(body) == {"code", "description", "status"}
    for word in words:
        assert word in body["description"]
    return body


def test_all_layers_citywide(client, registry):
    response = client.get("/progress", params={"as_of": "2025-12-31"})
    assert response.status_code == 200
    rows = response.json()
    assert [r["layer"] for r in rows] == [layer.id for layer in registry.projects()]
    farmland = rows[0]
    assert farmland["target"] == 100000 and farmland["unit_zh"] == "亩"
    assert farmland["pct"] == pytest.approx(100 * farmland["done"] / 100000, abs=1e-3)
    assert farmland["done"] <= farmland["done_weighted"] <= farmland["planned"]


@pytest.mark.parametrize("as_of", [date(2025, 6, 30), date(2025, 12, 31)])
def test_layer_progress_by_county(client, store, as_of):
    farms = done_frame(store, as_of)
    expected = float(farms.loc[farms["done"] & (farms["county"] == "430321"), "area_mu"].sum())
    body = client.get("/progress/farmland", params={"as_of": as_of.isoformat(), "county": "430321"}).json()
    assert body["done"] == pytest.approx(expected, abs=1e-6)
    assert body["as_of"] == as_of.isoformat() and body["scope"] == "selection"


def test_polygon_post_is_area_weighted(client, store):
    as_of = date(2025, 12, 31)
    area = shapely.Polygon(POLYGON)
    farms = done_frame(store, as_of)
    geoms = store.read("farmland").set_index("id").geometry
    share = pd.Series(
        {
            i: abs(GEOD.geometry_area_perimeter(g.intersection(area))[0]) / abs(GEOD.geometry_area_perimeter(g)[0])
            for i, g in geoms.items()
        }
    )
    expected = float((farms["area_mu"] * share)[farms["done"]].sum())
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [POLYGON]}}
    response = client.post("/progress/farmland/within", params={"as_of": "2025-12-31"}, json=feature)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["done"] == pytest.approx(expected, rel=1e-9)
    assert body["scope"] == "area" and body["features"] == int((share > 0).sum())
    bare = client.post("/progress/farmland/within", params={"as_of": "2025-12-31"}, json=feature["geometry"])
    assert bare.json()["done"] == pytest.approx(expected, rel=1e-9)


def test_bbox_is_area_weighted_too(client, store):
    bbox = "112.85,27.70,113.0,27.85"
    got = client.get("/progress/farmland", params={"bbox": bbox, "as_of": "2025-12-31"}).json()
    ring = [[112.85, 27.70], [113.0, 27.70], [113.0, 27.85], [112.85, 27.85], [112.85, 27.70]]
    posted = client.post(
        "/progress/farmland/within", params={"as_of": "2025-12-31"}, json={"type": "Polygon", "coordinates": [ring]}
    ).json()
    assert got["done"] == pytest.approx(posted["done"]) and got["scope"] == "area"


def test_county_rows_and_total(client):
    body = client.get("/progress/farmland/counties", params={"as_of": "2025-12-31"}).json()
    assert [r["scope"] for r in body["counties"]] == ["430302", "430304", "430321", "430381", "430382"]
    assert sum(r["done"] for r in body["counties"]) == pytest.approx(body["total"]["done"])
    city = client.get("/progress/farmland", params={"as_of": "2025-12-31"}).json()
    assert body["total"]["done"] == pytest.approx(city["done"])


def test_counties_geojson_choropleth(client):
    response = client.get("/progress/old-communities/counties.geojson", params={"as_of": "2025-09-30"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    fc = response.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    total = client.get("/progress/old-communities", params={"as_of": "2025-09-30"}).json()
    assert sum(f["properties"]["done"] for f in fc["features"]) == total["done"]
    assert sum(f["properties"]["households_done"] for f in fc["features"]) == pytest.approx(
        total["secondary"]["households"]["done"]
    )
    for f in fc["features"]:
        assert shapely.geometry.shape(f["geometry"]).is_valid
        assert f["properties"]["name"] and "features_completed" in f["properties"]


def test_timeline_december_equals_year_end(client):
    body = client.get("/progress/farmland/timeline").json()
    points = body["points"]
    assert len(points) == 12 and points[-1]["as_of"] == "2025-12-31"
    done = [p["done"] for p in points]
    assert done == sorted(done)
    year_end = client.get("/progress/farmland", params={"as_of": "2025-12-31"}).json()
    assert done[-1] == pytest.approx(year_end["done"])
    county = client.get("/progress/farmland/timeline", params={"county": "430321"}).json()
    assert county["scope"] == "selection" and county["points"][-1]["done"] <= done[-1]


def test_deadlines_for_the_bridge(client, store):
    links = store.read("transport-links")
    bridge = links[links["name"].str.contains("下摄司大桥")].iloc[0]
    milestone = next(m for m in bridge["milestones"] if m["name"] == "建成通车")
    body = client.get("/progress/deadlines", params={"as_of": "2025-07-10", "layer": "transport-links"}).json()
    assert body["as_of"] == "2025-07-10" and body["within_days"] == 30
    items = [(name, i) for name in ("overdue", "done_late", "at_risk") for i in body[name]]
    mine = [(name, i) for name, i in items if i["id"] == bridge["id"] and i["milestone"] == "建成通车"]
    done = milestone.get("done")
    if done and done <= "2025-07-10":
        assert [n for n, _ in mine] == (["done_late"] if done > "2025-06-30" else [])
    else:
        assert [n for n, _ in mine] == ["overdue"] and mine[0][1]["days"] == 10
    assert {i["layer"] for _, i in items} <= {"transport-links"}


def test_water_compliance_endpoint(client):
    body = client.get("/progress/water-sections/compliance", params={"as_of": "2025-08-31"}).json()
    assert body["sections_total"] == 14 and body["target"] == 14
    assert body["compliant"] == sum(s["compliant"] is True for s in body["sections"])
    assert all(s["latest_month"] <= "2025-08" for s in body["sections"] if s["latest_month"])


@pytest.mark.parametrize(
    ("path", "params", "status", "word"),
    [
        ("/progress/nope", {}, 404, "nope"),
        ("/progress/farmland", {"as_of": "2025-13-01"}, 400, "as_of"),
        ("/progress/farmland", {"county": "999999"}, 404, "999999"),
        ("/progress/farmland", {"bbox": "1,2,3"}, 400, "bbox"),
        ("/progress/farmland/timeline", {"colour": "red"}, 400, "colour"),
        ("/progress/deadlines", {"layer": "nope"}, 404, "nope"),
        ("/progress/deadlines", {"within_days": "-1"}, 400, "within_days"),
        ("/progress/deadlines", {"threshold_pct": "150"}, 400, "threshold_pct"),
        ("/progress/water-sections/compliance", {"as_of": "yesterday"}, 400, "as_of"),
    ],
)
def test_bad_parameters(client, path, params, status, word):
    assert_error(client.get(path, params=params), status, word)


def test_bad_polygon_bodies(client):
    point = {"type": "Point", "coordinates": [112.9, 27.8]}
    assert_error(client.post("/progress/farmland/within", json=point), 400, "body", "Polygon")
    far = {"type": "Polygon", "coordinates": [[[500, 1], [501, 1], [501, 2], [500, 1]]]}
    assert_error(client.post("/progress/farmland/within", json=far), 400, "CRS84")
    assert_error(client.post("/progress/farmland/within", content=b"not json"), 400)
