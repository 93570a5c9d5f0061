"""OGC API Features over the demo plan data: documents, items, filters, CRSs, caching, HTML and errors."""

from __future__ import annotations

import re
from datetime import date

import pytest

import pyproj
import shapely
import shapely.geometry
from shapely.geometry import box, shape

from geo.storage.base import Filter, HistoryEntry
from layers.progress import status_as_of

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
XIANGTAN = box(111.9, 27.3, 113.2, 28.2)  # the city's WGS84 extent (111.99-113.09E, 27.34-28.08N) plus a margin


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def all_features(client, layer_id, **params):
    response = client.get(f"/collections/{layer_id}/items", params={"limit": 10_000, **params})
    assert response.status_code == 200, response.text
    return response.json()["features"]


def ids_of(features):
    return [f["id"] for f in features]


def positions(geometry):
    """Return every (x, y) position of a GeoJSON geometry."""

    def walk(coords):
        if isinstance(coords[0], int | float):
            return [coords]
        return [p for part in coords for p in walk(part)]

    return walk(geometry["coordinates"])


def error_of(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "description", "status"} and body["status"] == status
    return body


# --- landing, conformance, collections -------------------------------------------------------------------


def test_landing_links_resolve(client):
    doc = client.get("/", headers={"accept": "application/json"}).json()
    rels = {link["rel"]: link["href"] for link in doc["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"].endswith("/openapi.json") and rels["data"].endswith("/collections")
    for link in doc["links"]:
        response = client.get(link["href"])
        assert response.status_code == 200, link
        served = response.headers["content-type"].split(";")[0]
        assert served == link["type"].split(";")[0] or (link["rel"] == "service-desc" and served.endswith("json"))


def test_conformance_declares_implemented_classes(client):
    classes = client.get("/conformance").json()["conformsTo"]
    for suffix in ("features-1/1.0/conf/core", "conf/geojson", "conf/html", "conf/oas30", "features-2/1.0/conf/crs"):
        assert any(c.endswith(suffix) for c in classes), suffix
    for name in ("filter", "features-filter", "queryables", "cql2-text", "basic-cql2", "temporal-functions"):
        assert any(c.endswith(f"/conf/{name}") for c in classes), name


def test_collections_list_every_layer_with_extent_and_working_links(client, registry, store):
    doc = client.get("/collections").json()
    by_id = {c["id"]: c for c in doc["collections"]}
    assert list(by_id) == registry.ids()
    for layer in registry:
        coll = by_id[layer.id]
        assert layer.title_zh in coll["title"] and layer.title_en in coll["title"]
        assert coll["itemType"] == "feature" and coll["storageCrs"] == CRS84_URI
        assert EPSG_URI.format(4547) in coll["crs"] and CRS84_URI in coll["crs"]
        minx, miny, maxx, maxy = coll["extent"]["spatial"]["bbox"][0]
        sminx, sminy, smaxx, smaxy = store.bounds(layer.id)
        assert minx <= sminx + 1e-6 and maxx >= smaxx - 1e-6 and miny <= sminy + 1e-6 and maxy >= smaxy - 1e-6
        assert box(minx, miny, maxx, maxy).intersects(XIANGTAN)
        assert coll["extent"]["temporal"]["interval"][0][0].startswith("2025-01-01")
        rels = {link["rel"] for link in coll["links"]}
        assert {"self", "items", "http://www.opengis.net/def/rel/ogc/1.0/queryables"} <= rels
    for link in by_id["farmland"]["links"]:
        if not link.get("templated"):
            assert client.get(link["href"]).status_code == 200, link


def test_queryables_schema_uses_catalogue_aliases_and_enums(client, registry):
    layer = registry.get("farmland")
    response = client.get("/collections/farmland/queryables")
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    props = schema["properties"]
    assert schema["type"] == "object" and schema["$id"].endswith("/collections/farmland/queryables")
    assert props["status"]["enum"] == list(layer.field("status").values)
    assert props["status"]["title"].startswith("状态")
    assert props["id"]["x-ogc-role"] == "id"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert props["due_date"] == {**props["due_date"], "type": "string", "format": "date"}
    assert props["area_mu"]["type"] == "number"


# --- items: GeoJSON content, paging -----------------------------------------------------------------------


def test_every_collection_is_valid_rfc7946_geojson(client, registry, store):
    for layer in registry:
        response = client.get(f"/collections/{layer.id}/items", params={"limit": 10_000})
        assert response.headers["content-type"].startswith("application/geo+json")
        assert response.headers["content-crs"] == f"<{CRS84_URI}>"
        doc = response.json()
        assert doc["type"] == "FeatureCollection" and "crs" not in doc
        assert doc["numberMatched"] == store.count(layer.id) == doc["numberReturned"] == len(doc["features"])
        assert doc["numberMatched"] > 0, layer.id
        for feature in doc["features"]:
            geom = shape(feature["geometry"])
            assert geom.is_valid, (layer.id, feature["id"])
            assert XIANGTAN.contains(geom), (layer.id, feature["id"])
            for polygon in getattr(geom, "geoms", [geom]):
                if polygon.geom_type == "Polygon":
                    assert polygon.exterior.is_ccw and not any(r.is_ccw for r in polygon.interiors)
            assert all(len(repr(v).split(".")[-1]) <= 7 for p in positions(feature["geometry"]) for v in p)


def test_paging_walks_every_feature_exactly_once(client, store):
    url, seen, pages = "/collections/reservoirs/items?limit=7&status=completed,in_progress,planned", [], 0
    while url:
        doc = client.get(url).json()
        assert doc["numberReturned"] == len(doc["features"]) <= 7
        seen += ids_of(doc["features"])
        links = {link["rel"]: link["href"] for link in doc["links"]}
        assert "status=completed" in links["self"] and "limit=7" in links["self"]
        url, pages = links.get("next"), pages + 1
        if url:
            assert "status=" in url and "limit=7" in url
    assert len(seen) == len(set(seen)) == store.count("reservoirs")
    assert set(seen) == set(store.read("reservoirs", columns=["id"])["id"])
    assert pages == -(-len(seen) // 7)
    prev = client.get("/collections/reservoirs/items?limit=7&offset=7").json()
    assert any(link["rel"] == "prev" and "offset=0" in link["href"] for link in prev["links"])


def test_limit_over_maximum_is_clamped_and_said(app_factory, store_url):
    from fastapi.testclient import TestClient

    with TestClient(app_factory(store_url, default_limit=3, max_limit=5)) as small:
        assert small.get("/collections/farmland/items").json()["numberReturned"] == 3
        response = small.get("/collections/farmland/items?limit=50")
        assert response.json()["numberReturned"] == 5 and response.headers["limit-clamped"] == "5"


def test_single_item_links_and_content(client, store):
    fid = store.read("farmland", limit=1)["id"][0]
    response = client.get(f"/collections/farmland/items/{fid}")
    feature = response.json()
    assert response.headers["content-type"].startswith("application/geo+json")
    assert feature["type"] == "Feature" and feature["id"] == fid
    assert {"self", "collection", "alternate"} <= {link["rel"] for link in feature["links"]}
    expected = store.get("farmland", fid).geometry.iloc[0]
    assert shape(feature["geometry"]).equals_exact(shapely.orient_polygons(expected), tolerance=1e-6)


def test_chinese_is_utf8_and_nan_is_null(client):
    raw = client.get("/collections/farmland/items?limit=5").content
    assert "高标准农田".encode() in raw or "区".encode() in raw
    assert b"\\u" not in raw and b"NaN" not in raw


# --- bbox, bbox-crs, crs -------------------------------------------------------------------------------


def test_bbox_is_exact(client, store):
    frame = store.read("farmland")
    minx, miny, maxx, maxy = frame.total_bounds
    query = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    expected = set(frame.loc[frame.intersects(box(*query)), "id"])
    got = ids_of(all_features(client, "farmland", bbox=",".join(map(str, query))))
    assert set(got) == expected and len(got) == len(expected) > 0


def test_bbox_crs_follow_the_crs_axis_order(client):
    box84 = (112.6, 27.6, 112.95, 27.95)
    expected = ids_of(all_features(client, "reservoirs", bbox=",".join(map(str, box84))))
    lat_lon = f"{box84[1]},{box84[0]},{box84[3]},{box84[2]}"
    got_4490 = ids_of(all_features(client, "reservoirs", bbox=lat_lon, **{"bbox-crs": EPSG_URI.format(4490)}))
    assert got_4490 == expected and expected
    # EPSG:4547 is (northing, easting); the server takes the box's CRS84 envelope (densified edges).
    to_gk = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:4547")  # authority axis order: north, east
    n0, e0 = to_gk.transform(112.70, 27.70)
    n1, e1 = to_gk.transform(112.90, 27.90)
    gk_box = f"{n0},{e0},{n1},{e1}"
    envelope = pyproj.Transformer.from_crs("EPSG:4547", "OGC:CRS84", always_xy=True).transform_bounds(
        e0, n0, e1, n1, densify_pts=21
    )
    got_gk = ids_of(all_features(client, "reservoirs", bbox=gk_box, **{"bbox-crs": "EPSG:4547"}))
    assert got_gk == ids_of(all_features(client, "reservoirs", bbox=",".join(map(str, envelope))))


@pytest.mark.parametrize("epsg", [4547, 4490, 3857])
def test_output_crs_matches_pyproj_in_authority_axis_order(client, store, epsg):
    reference = store.read("farmland", limit=20)  # unrounded CRS84, in the API's default order (by id)
    response = client.get(f"/collections/farmland/items?limit=20&crs=EPSG:{epsg}")
    assert response.headers["content-crs"] == f"<{EPSG_URI.format(epsg)}>"
    to_crs = pyproj.Transformer.from_crs("OGC:CRS84", f"EPSG:{epsg}")  # not always_xy: authority axis order
    tolerance = 2e-6 if epsg == 4490 else 0.006  # half the last kept decimal (6 for degrees, 2 for metres)
    for fid, geom, feature in zip(reference["id"], reference.geometry, response.json()["features"], strict=True):
        assert feature["id"] == fid
        expected = shapely.geometry.mapping(shapely.orient_polygons(geom))
        for (lon, lat), (u, v) in zip(positions(expected), positions(feature["geometry"]), strict=True):
            eu, ev = to_crs.transform(lon, lat)
            assert abs(u - eu) < tolerance and abs(v - ev) < tolerance


# --- properties, sortby, attribute filters, CQL2, datetime, as_of ----------------------------------------


def test_properties_subset(client):
    features = all_features(client, "farmland", properties="name,status")
    assert features and all(set(f["properties"]) == {"name", "status"} for f in features)
    assert all(f["id"] and f["geometry"] for f in features)


def test_sortby_orders_and_breaks_ties_by_id(client, store):
    features = all_features(client, "farmland", sortby="-area_mu,name")
    values = [(f["properties"]["area_mu"] or 0) for f in features]
    assert values == sorted(values, reverse=True)
    asc = [f["properties"]["due_date"] for f in all_features(client, "reservoirs", sortby="+due_date")]
    present = [d for d in asc if d is not None]
    assert present == sorted(present)


def test_attribute_filters_by_queryable_name(client, store):
    features = all_features(client, "farmland", status="completed", county="430321")
    expected = store.count("farmland", Filter(equals={"status": "completed", "county": "430321"}))
    assert len(features) == expected
    assert all(f["properties"]["status"] == "completed" and f["properties"]["county"] == "430321" for f in features)
    value = store.read("farmland", limit=1)["build_type"][0]
    by_type = all_features(client, "farmland", build_type=value)
    assert by_type and all(f["properties"]["build_type"] == value for f in by_type)


def test_cql2_comparison_like_and_in(client, store):
    frame = store.read("farmland")
    got = ids_of(all_features(client, "farmland", filter="area_mu > 500 AND status <> 'planned'"))
    mask = (frame["area_mu"] > 500) & (frame["status"] != "planned")
    assert set(got) == set(frame.loc[mask, "id"])
    prefix = frame["name"][0][:2]
    got = ids_of(all_features(client, "farmland", filter=f"name LIKE '{prefix}%'"))
    assert set(got) == set(frame.loc[frame["name"].str.startswith(prefix), "id"]) and got
    got = ids_of(all_features(client, "farmland", filter="county IN ('430302','430381')"))
    assert set(got) == set(frame.loc[frame["county"].isin(["430302", "430381"]), "id"])


def test_cql2_spatial_and_temporal(client, store):
    frame = store.read("reservoirs")
    area = "POLYGON((112.5 27.5, 113.0 27.5, 113.0 28.0, 112.5 28.0, 112.5 27.5))"
    got = ids_of(all_features(client, "reservoirs", filter=f"S_INTERSECTS(geometry, {area})"))
    assert set(got) == set(frame.loc[frame.intersects(shapely.from_wkt(area)), "id"])
    got = ids_of(all_features(client, "reservoirs", filter="T_AFTER(due_date, DATE('2025-06-30'))"))
    assert set(got) == set(frame.loc[frame["due_date"].notna() & (frame["due_date"] > "2025-06-30"), "id"])


def test_as_of_replays_status(client, registry, store):
    layer = registry.get("farmland")
    frame = store.read("farmland", columns=["id"])
    then = status_as_of(store, layer, frame["id"], date(2025, 3, 31))
    expected = set(frame.loc[(then == "completed").to_numpy(), "id"])
    features = all_features(client, "farmland", status="completed", as_of="2025-03-31")
    assert set(ids_of(features)) == expected
    assert all(f["properties"]["status"] == "completed" for f in features)


def test_datetime_selects_features_reported_in_the_interval(client, store):
    hist = store.history("farmland")
    in_march = set(hist.loc[(hist["date"] >= "2025-03-01") & (hist["date"] <= "2025-03-31"), "feature_id"])
    got = ids_of(all_features(client, "farmland", datetime="2025-03-01/2025-03-31"))
    assert set(got) == in_march
    open_end = set(hist.loc[hist["date"] >= "2025-06-01", "feature_id"])
    assert set(ids_of(all_features(client, "farmland", datetime="2025-06-01T00:00:00Z/.."))) == open_end


# --- conditional requests --------------------------------------------------------------------------------


def test_etag_304_and_change_after_progress_update(writable_client, writable_store):
    url = "/collections/farmland/items?limit=5"
    first = writable_client.get(url)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag) and first.headers["cache-control"] == "no-cache"
    again = writable_client.get(url, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert writable_client.get(url + "&offset=1").headers["etag"] != etag
    fid = first.json()["features"][0]["id"]
    item_etag = writable_client.get(f"/collections/farmland/items/{fid}").headers["etag"]
    writable_store.record_progress(
        HistoryEntry("farmland", fid, date(2025, 7, 1), "completed", percent=100.0), {"status": "completed"}
    )
    changed = writable_client.get(url, headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert {f["id"]: f for f in changed.json()["features"]}[fid]["properties"]["status"] == "completed"
    item = writable_client.get(f"/collections/farmland/items/{fid}", headers={"if-none-match": item_etag})
    assert item.status_code == 200 and item.headers["etag"] != item_etag


# --- HTML ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/", "湘潭"),
        ("/conformance", "符合性"),
        ("/collections", "高标准农田"),
        ("/collections/farmland", "高标准农田"),
        ("/collections/farmland/queryables", "可查询属性"),
        ("/collections/farmland/items", "高标准农田"),
    ],
)
def test_html_pages_render_offline(client, path, text):
    for response in (client.get(path, params={"f": "html"}), client.get(path, headers={"accept": "text/html"})):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert text in response.text and 'lang="zh-CN"' in response.text
        assert not re.search(r"""(src|href)=["']?https?://(?!testserver)""", response.text)


def test_item_html_page_shows_the_feature(client, store):
    row = store.read("farmland", limit=1)
    response = client.get(f"/collections/farmland/items/{row['id'][0]}?f=html")
    assert response.status_code == 200 and "<svg" in response.text
    assert row["name"][0] in response.text and "状态" in response.text


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "names"),
    [
        ({"bbox": "1,2,3"}, 400, "bbox"),
        ({"bbox": "113,28,112,27"}, 400, "bbox"),
        ({"crs": "EPSG:9999"}, 400, "crs"),
        ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:2000"}, 400, "crs"),
        ({"filter": "area_mu >>> 3"}, 400, "CQL2"),
        ({"filter": "nope = 1"}, 400, "nope"),
        ({"properties": "name,nope"}, 400, "nope"),
        ({"sortby": "-nope"}, 400, "nope"),
        ({"nope": "1"}, 400, "nope"),
        ({"limit": "-1"}, 400, "limit"),
        ({"offset": "-5"}, 400, "offset"),
        ({"datetime": "2025-13-01"}, 400, "datetime"),
        ({"datetime": "2025-05-01/2025-04-01"}, 400, "datetime"),
        ({"f": "xml"}, 400, "f"),
        ({"filter-lang": "cql2-json", "filter": "x"}, 400, "filter-lang"),
    ],
)
def test_bad_parameters_are_named_in_400(client, params, status, names):
    body = error_of(client.get("/collections/farmland/items", params=params), status)
    assert names.lower() in body["description"].lower()


def test_unknown_collection_and_feature_are_404(client):
    assert "nope" in error_of(client.get("/collections/nope/items"), 404)["description"]
    assert "nope" in error_of(client.get("/collections/nope"), 404)["description"]
    assert "no-such-id" in error_of(client.get("/collections/farmland/items/no-such-id"), 404)["description"]


def test_openapi_documents_errors_with_errorbody(client):
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path in ("/collections/{collectionId}/items", "/collections/{collectionId}/items/{featureId}", "/"):
        operation = spec["paths"][path]["get"]
        assert "422" not in operation["responses"]
        assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
        assert all(p.get("description") for p in operation.get("parameters", [])), path
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert {"getLandingPage", "getConformanceDeclaration", "getCollections", "getFeatures", "getFeature"} <= set(ids)
