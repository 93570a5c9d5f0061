"""OGC API Features Part 4 on project layers: create, replace, update and delete, in both stores."""

from __future__ import annotations

import json

import mapbox_vector_tile
import pytest

import pyproj
import shapely
from shapely.geometry import shape

from geo.storage.base import tombstone_kind
from geo.tms import get_tms
from layers.boundaries import load_boundaries
from layers.tokens import create_token

F4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/"
ITEMS = "/collections/farmland/items"


@pytest.fixture
def tokens(writable_store):
    store = writable_store
    return {
        "planner": create_token(store, "chen", "planner"),
        "field": create_token(store, "zhang", "field", ["430321"]),
        "viewer": create_token(store, "wang", "viewer"),
        "yuhu": create_token(store, "liu", "planner", ["430302"]),
    }


def auth(token, **headers):
    return {"Authorization": f"Bearer {token}", **headers}


def inside(adcode):
    """A point about 1 km inside a county's boundary."""
    counties = load_boundaries()
    polygon = counties.loc[counties["id"] == adcode].geometry.iloc[0]
    point = polygon.buffer(-0.01).representative_point()
    return point.x, point.y


def square(lon, lat, half_deg=0.002):
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [lon - half_deg, lat - half_deg],
                [lon + half_deg, lat - half_deg],
                [lon + half_deg, lat + half_deg],
                [lon - half_deg, lat + half_deg],
                [lon - half_deg, lat - half_deg],
            ]
        ],
    }


def feature(geometry, **properties):
    return {"type": "Feature", "geometry": geometry, "properties": {"name": "测试农田项目", **properties}}


def geod_mu(geometry):
    geod = pyproj.Geod(ellps="WGS84")
    return abs(geod.geometry_area_perimeter(shape(geometry))[0]) / (10000 / 15)


def create(client, token, body, **headers):
    return client.post(ITEMS, json=body, headers=auth(token, **headers))


def state(client):
    store = client.app.state.store
    return store.version("farmland"), store.count("farmland"), len(store.history("farmland"))


def test_conformance_and_openapi_declare_part4(client):
    conforms = client.get("/conformance").json()["conformsTo"]
    assert {F4 + c for c in ("create-replace-delete", "update", "features")} <= set(conforms)
    spec = client.get("/openapi.json").json()
    item = spec["paths"]["/collections/{collectionId}/items/{featureId}"]
    assert item["put"]["operationId"] == "replaceFeature" and item["patch"]["operationId"] == "updateFeature"
    assert item["delete"]["operationId"] == "deleteFeature"
    assert spec["paths"]["/collections/{collectionId}/items"]["post"]["operationId"] == "createFeature"
    assert {"412", "428", "401", "403"} <= set(item["put"]["responses"])


def test_create_derives_county_area_defaults_and_records_history(writable_client, tokens):
    lon, lat = inside("430321")
    geometry = square(lon, lat)
    before_items = writable_client.get(ITEMS).headers["etag"]
    r = create(writable_client, tokens["planner"], feature(geometry, owner="湘潭县农业农村局", ponds=2))
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert fid.startswith("FL-") and r.headers["location"].endswith(f"{ITEMS}/{fid}")
    got = writable_client.get(f"{ITEMS}/{fid}", headers=auth(tokens["planner"]))
    assert got.status_code == 200 and got.headers["etag"] == r.headers["etag"]
    props = got.json()["properties"]
    assert props["county"] == "430321" and props["county_name"] == "湘潭县"
    assert props["area_mu"] == pytest.approx(geod_mu(geometry), abs=0.01)
    assert props["status"] == "planned" and props["progress_pct"] == 0
    assert props["plan_years"] == "2025" and props["is_demo"] is False and props["source"] == "planmap editor"
    assert shape(got.json()["geometry"]).equals_exact(shapely.MultiPolygon([shape(geometry)]), 1e-6)
    assert writable_client.get(ITEMS).headers["etag"] != before_items
    entries = writable_client.get(f"{ITEMS}/{fid}/history", headers=auth(tokens["viewer"])).json()["entries"]
    assert len(entries) == 1 and entries[0]["author"] == "chen"
    assert entries[0]["data"]["edit"] == "create" and entries[0]["data"]["changes"]["owner"] == [
        None,
        "湘潭县农业农村局",
    ]
    audit = writable_client.get("/audit", headers=auth(tokens["planner"]), params={"layer": "farmland"}).json()
    assert any(e["feature_id"] == fid and e["data"]["edit"] == "create" for e in audit["entries"])


def test_given_id_duplicate_and_next_id(writable_client, tokens, writable_store):
    lon, lat = inside("430381")
    taken = writable_store.read("farmland", limit=1)["id"].iloc[0]
    r = create(writable_client, tokens["planner"], {**feature(square(lon, lat)), "id": taken})
    assert r.status_code == 409 and taken in r.json()["description"]
    r = create(writable_client, tokens["planner"], feature(square(lon, lat), id="farmland-x1"))
    assert r.status_code == 201 and r.json()["id"] == "farmland-x1"
    ids = writable_store.read("farmland")["id"].tolist()
    numbers = [int(i.removeprefix("FL-")) for i in ids if i.startswith("FL-") and i[3:].isdigit()]
    r = create(writable_client, tokens["planner"], feature(square(lon, lat)))
    assert len(numbers) > 10 and r.json()["id"] == f"FL-{max(numbers) + 1}"


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("field", 403), (None, 401)])
def test_only_planners_edit(writable_client, tokens, who, status):
    lon, lat = inside("430321")
    headers = auth(tokens[who]) if who else {}
    before = state(writable_client)
    r = writable_client.post(ITEMS, json=feature(square(lon, lat)), headers=headers)
    assert r.status_code == status, r.text
    fid = writable_client.app.state.store.read("farmland", limit=1)["id"].iloc[0]
    etag = writable_client.get(f"{ITEMS}/{fid}").headers["etag"]
    for method in ("PUT", "PATCH", "DELETE"):
        body = None if method == "DELETE" else json.dumps(feature(square(lon, lat)))
        r = writable_client.request(method, f"{ITEMS}/{fid}", content=body, headers={**headers, "If-Match": etag})
        assert r.status_code == status, (method, r.text)
    assert state(writable_client) == before


def test_reference_layers_are_not_editable(writable_client, tokens):
    lon, lat = inside("430321")
    body = feature(square(lon, lat))
    r = writable_client.post("/collections/counties/items", json=body, headers=auth(tokens["planner"]))
    assert r.status_code == 405 and "reference" in r.json()["description"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"type": "FeatureCollection", "features": []}, 400, "GeoJSON Feature"),
        ({"type": "Feature", "properties": {"name": "x"}}, 400, "geometry"),
        ("BOWTIE", 400, "Self-intersection"),
        ("LINE", 400, "does not fit a MultiPolygon"),
        ("OUTSIDE_CITY", 422, "outside Xiangtan"),
        ({"unknown": 1}, 400, "unknown"),
        ({"ponds": -3}, 400, "negative"),
        ({"ponds": "many"}, 400, "ponds"),
        ({"progress_pct": 130, "status": "in_progress"}, 400, "between 0 and 100"),
        ({"status": "done"}, 400, "status"),
        ({"status": "completed", "progress_pct": 50}, 400, "100"),
        ({"plan_years": "next year"}, 400, "plan_years"),
        ({"name": "a\x00b"}, 400, "NUL"),
        ({"county": "999999"}, 400, "county"),
    ],
)
def test_invalid_features_are_refused_and_nothing_is_written(writable_client, tokens, body, status, words):
    lon, lat = inside("430321")
    if body == "BOWTIE":
        body = feature(
            {
                "type": "Polygon",
                "coordinates": [
                    [[lon, lat], [lon + 0.01, lat + 0.01], [lon + 0.01, lat], [lon, lat + 0.01], [lon, lat]]
                ],
            }
        )
    elif body == "LINE":
        body = feature({"type": "LineString", "coordinates": [[lon, lat], [lon + 0.01, lat]]})
    elif body == "OUTSIDE_CITY":
        body = feature(square(116.4, 39.9))
    elif "type" not in body:
        body = feature(square(lon, lat), **body)
    before = state(writable_client)
    r = create(writable_client, tokens["planner"], body)
    assert r.status_code == status, r.text
    assert words.lower() in r.json()["description"].lower(), r.json()
    assert state(writable_client) == before


def test_outside_its_county_names_the_county_and_distance(writable_client, tokens):
    lon, lat = inside("430321")
    before = state(writable_client)
    r = create(writable_client, tokens["planner"], feature(square(lon, lat), county="430302"))
    assert r.status_code == 422
    text = r.json()["description"]
    assert "雨湖区" in text and "Yuhu" in text and "km outside" in text
    assert state(writable_client) == before


def test_content_crs_other_than_crs84_is_refused(writable_client, tokens):
    lon, lat = inside("430321")
    r = create(
        writable_client,
        tokens["planner"],
        feature(square(lon, lat)),
        **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4547>"},
    )
    assert r.status_code == 400 and "CRS84" in r.json()["description"]
    r = create(
        writable_client,
        tokens["planner"],
        feature(square(lon, lat)),
        **{"Content-Crs": "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"},
    )
    assert r.status_code == 201


def test_patch_put_if_match_and_history(writable_client, tokens):
    lon, lat = inside("430381")
    created = create(writable_client, tokens["planner"], feature(square(lon, lat), owner="湘乡市农业农村局", ponds=1))
    fid, etag = created.json()["id"], created.headers["etag"]
    url = f"{ITEMS}/{fid}"
    patch = {"type": "Feature", "properties": {"ponds": 4, "owner": None}}
    assert writable_client.patch(url, json=patch, headers=auth(tokens["planner"])).status_code == 428
    assert (
        writable_client.patch(url, json=patch, headers=auth(tokens["planner"], **{"If-Match": '"stale"'})).status_code
        == 412
    )
    r = writable_client.patch(url, json=patch, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["ponds"] == 4 and props["owner"] is None and props["name"] == "测试农田项目"
    assert r.headers["etag"] != etag
    assert writable_client.get(url, headers=auth(tokens["planner"])).headers["etag"] == r.headers["etag"]
    # The old ETag is stale now.
    again = writable_client.patch(url, json=patch, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert again.status_code == 412
    bigger = square(lon, lat, 0.004)
    r2 = writable_client.put(
        url, json=feature(bigger, ponds=2), headers=auth(tokens["planner"], **{"If-Match": r.headers["etag"]})
    )
    assert r2.status_code == 200, r2.text
    props = r2.json()["properties"]
    assert props["ponds"] == 2 and props["area_mu"] == pytest.approx(geod_mu(bigger), abs=0.01)
    assert props["status"] == "planned" and props["source"] == "planmap editor"
    entries = writable_client.get(f"{url}/history").json()["entries"]
    assert [e["data"]["edit"] for e in entries] == ["create", "update", "replace"]
    assert entries[1]["data"]["changes"] == {"ponds": [1, 4], "owner": ["湘乡市农业农村局", None]}
    assert "geometry" in entries[2]["data"]["changes"] and entries[2]["data"]["changes"]["ponds"] == [4, 2]


def test_delete_is_soft_archived_and_the_id_is_retired(writable_client, tokens, writable_store):
    lon, lat = inside("430382")
    created = create(writable_client, tokens["planner"], feature(square(lon, lat)))
    fid, etag = created.json()["id"], created.headers["etag"]
    url = f"{ITEMS}/{fid}"
    assert writable_client.delete(url, headers=auth(tokens["planner"])).status_code == 428
    r = writable_client.delete(url, headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert r.status_code == 204, r.text
    assert writable_client.get(url).status_code == 404
    assert fid not in writable_store.read("farmland")["id"].tolist()
    entries = writable_client.get(f"{url}/history").json()["entries"]
    assert [e["data"]["edit"] for e in entries] == ["create", "delete"]
    archived = writable_store.record(tombstone_kind("farmland"), fid)
    assert archived is not None and archived.doc["properties"]["name"] == "测试农田项目"
    assert archived.doc["geometry"]["type"] == "MultiPolygon"
    again = create(writable_client, tokens["planner"], {**feature(square(lon, lat)), "id": fid})
    assert again.status_code == 409 and "deleted" in again.json()["description"]
    progress = writable_client.post(
        f"{url}/progress",
        json={"status": "in_progress", "percent": 10},
        headers=auth(tokens["planner"], **{"If-Match": etag}),
    )
    assert progress.status_code == 404


def _tile_ids(client, lon, lat, z=14):
    tile = get_tms("WebMercatorQuad").tile(lon, lat, z)
    r = client.get(f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt")
    if r.status_code == 204:
        return r, set()
    layers = mapbox_vector_tile.decode(r.content).values()
    return r, {f["properties"].get("id") for layer in layers for f in layer["features"]}


def test_tiles_and_layer_version_follow_edits(writable_client, tokens):
    lon, lat = inside("430304")
    before_tile, ids = _tile_ids(writable_client, lon, lat)
    version = writable_client.app.state.store.version("farmland")
    r = create(writable_client, tokens["planner"], feature(square(lon, lat)))
    assert r.status_code == 201
    fid = r.json()["id"]
    assert fid not in ids and writable_client.app.state.store.version("farmland") != version
    after_tile, ids = _tile_ids(writable_client, lon, lat)
    assert after_tile.status_code == 200 and fid in ids
    assert after_tile.headers.get("etag") != before_tile.headers.get("etag")
    box = f"{lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}"
    assert any(f["id"] == fid for f in writable_client.get(ITEMS, params={"bbox": box}).json()["features"])
    etag = r.headers["etag"]
    gone = writable_client.delete(f"{ITEMS}/{fid}", headers=auth(tokens["planner"], **{"If-Match": etag}))
    assert gone.status_code == 204
    assert fid not in _tile_ids(writable_client, lon, lat)[1]
    assert all(f["id"] != fid for f in writable_client.get(ITEMS, params={"bbox": box}).json()["features"])
