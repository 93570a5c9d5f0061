"""Hostile input against every GET route: each answers a 4xx ErrorBody (or a valid response), never a 5xx.

The routes are discovered from the app's OpenAPI document; path parameters get valid demo ids, then each
parameter in turn gets every hostile value of its type. Afterwards the store must be unchanged. The cases
named in the hardening issue (bbox, crs, CQL2, dates, tiles, limit, unknown ids, body size, encoding,
URL length, filter complexity) have their own asserts below.
"""

from __future__ import annotations

import shutil
import sqlite3
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from geo.storage.gpkg import GeoPackageStore
from layers.boundaries import load_boundaries
from layers.raster_demo import build_cadmium_cog
from layers.rasters import raster_spec
from server.main import create_app
from server.settings import ApiSettings, Settings, StoreSettings

VALID_PATH = {
    "collectionId": "farmland",
    "featureId": "FL-001",
    "tileMatrixSetId": "WebMercatorQuad",
    "rasterId": "soil-cadmium",
    "z": "10",
    "x": "841",
    "y": "429",
    "seq": "87",
    "ext": "geojson",
    "year": "2025",
    "kind": "monthly",
    "fmt": "xlsx",
    "report_id": "monthly-2025-2025-06-30-city",
    "key": "0b7f6b1e-5e33-4a57-9b55-0e1f1c2d3e4f",
    "layer": "farmland",
    "style": "default",
    "TileMatrixSet": "WebMercatorQuad",
    "TileMatrix": "10",
    "TileRow": "429",
    "TileCol": "841",
    "job_id": "0123456789abcdef0123456789abcdef",
}
"""Demo ids for path parameters (z/x/y: a tile over Xiangtan city; seq: a history entry of FL-001)."""

ANY_TEXT = [
    "%ff%fe",  # invalid UTF-8 once percent-decoded
    "%00",
    "farmland%00.gpkg",
    "a" * 10_000,  # over the URL limit
    "b" * 3_000,  # long but under it: reaches the handlers
    "",
    "%20",
]
STRINGS = [
    "garbage!@%23",
    "%27%3B%20DROP%20TABLE%20farmland%3B%20--",
    "farmland%22%3B%20DROP%20TABLE%20gpkg_contents%3B%20--",
    "..%2F..%2Fetc%2Fpasswd",
    "..%5C..%5Cwindows%5Cwin.ini",
    "f%D0%B0rmland",  # Cyrillic a: a homoglyph of an id
    "%EF%BD%86%EF%BD%81%EF%BD%92%EF%BD%8D",  # fullwidth "farm"
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "NaN",
    "1,2,3",
]
NUMBERS = [
    "abc",
    "-1",
    "0",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "NaN",
    "Infinity",
    "-Infinity",
    "1.5",
    "0x10",
]
DATES = ["2025-13-45", "2025-02-30", "0000-01-01", "9999-12-31", "0001-01-01", "yesterday", "2025-01-01T99:00"]
EXTRA = {
    "bbox": ["1,2,3", "1,2,nan,4", "200,100,-200,-100", "3,3,1,1", "1,2,3,4,5", "inf,0,1,1", "112,27,113,28,0,1"],
    "bbox-crs": ["EPSG:999999", "urn:ogc:def:crs:EPSG::0", "http://www.opengis.net/def/crs/EPSG/0/3857"],
    "crs": ["EPSG:999999", "EPSG:-1", "+proj=longlat", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
    "filter": [
        "id%20%3D%201%20OR%201%3D1",
        "name%20%3D%20%27x%27%27%3B%20DROP%20TABLE%20farmland%3B%20--%27",
        "%22id%3B%20DROP%20TABLE%20farmland%22%20%3D%201",
        "area_mu%20%3E%20%27x%27",
        "S_INTERSECTS(geometry%2CPOINT(1))",
        "(" * 3000 + "id%3D1" + ")" * 3000,  # would overflow the CQL2 parser's stack
        "%20OR%20".join(["id%3D1"] * 400),
    ],
    "sortby": ["-%27%3B%20DROP", "geometry", "%2Bid%2C-name%2C%2B%2B", "-" * 50],
    "properties": ["id%2Cid%2Cname", "geometry", "%27%3B--"],
    "datetime": ["2025-01-01%2F2025-12-31%2F2026", "..%2F..", "2025-12-31%2F2025-01-01", "..%2F9999-12-31"],
    "limit": ["1000000000000"],
    "offset": ["1000000000000"],
}
"""Values aimed at particular parameters, on top of those for the parameter's type."""


def hostile_values(parameter: dict) -> list[str]:
    """Return the hostile (already percent-encoded) values for an OpenAPI parameter."""
    schema = parameter.get("schema", {})
    types = {s.get("type") for s in schema.get("anyOf", [schema])} | {schema.get("format")}
    if {"integer", "number"} & types:
        typed = NUMBERS
    elif "date" in types:
        typed = DATES
    else:
        typed = STRINGS
    return [*typed, *ANY_TEXT, *EXTRA.get(parameter["name"], [])]


@pytest.fixture(scope="module")
def served_demo(tmp_path_factory, demo_gpkg):
    """A private copy of the demo GeoPackage with the demo raster beside it (so raster routes answer 200)."""
    folder = tmp_path_factory.mktemp("hardening")
    shutil.copyfile(demo_gpkg, folder / "planmap.gpkg")
    raster = folder / raster_spec("soil-cadmium").filename
    raster.parent.mkdir(parents=True)
    build_cadmium_cog(raster, load_boundaries(), seed=2025)
    return folder / "planmap.gpkg"


@pytest.fixture(scope="module")
def versions_before(served_demo):
    with GeoPackageStore(served_demo) as store:
        return {layer: store.version(layer) for layer in store.layers()}


@pytest.fixture(scope="module")
def hostile_client(served_demo, versions_before):
    """A client on the served demo that reports server errors as responses instead of raising them."""
    app = create_app(Settings(store=StoreSettings(gpkg_path=served_demo, data_dir=served_demo.parent)))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _spec_app():
    return create_app(Settings(store=StoreSettings(gpkg_path="/nonexistent/planmap.gpkg")))


GET_OPERATIONS = [(path, ops["get"]) for path, ops in _spec_app().openapi()["paths"].items() if "get" in ops]


OWS = "{http://www.opengis.net/ows/1.1}"


def assert_answered(response, url: str) -> None:
    """Assert ``response`` is not a server error, and that an error is an ErrorBody naming its status.

    WMTS routes answer their own errors as an OWS ExceptionReport (what WMTS clients read).
    """
    assert response.status_code < 500, f"{url[:200]} -> {response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and response.headers["content-type"].startswith("application/xml"):
        assert url.startswith("/wmts/"), url[:200]
        exception = ElementTree.fromstring(response.content).find(f"{OWS}Exception")
        assert exception.get("exceptionCode") and exception.find(f"{OWS}ExceptionText").text, url[:200]
    elif response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), url[:200]
        body = response.json()
        assert set(body) == {"code", "description", "status"}, (url[:200], body)
        assert body["status"] == response.status_code and body["description"], (url[:200], body)


def _url(path: str, values: dict[str, str], query: str = "") -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path + (f"?{query}" if query else "")


@pytest.mark.parametrize(("path", "operation"), GET_OPERATIONS, ids=[p for p, _ in GET_OPERATIONS])
def test_route_answers_hostile_input_without_server_error(hostile_client, path, operation):
    parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
    path_values = {p["name"]: VALID_PATH[p["name"]] for p in parameters if p["in"] == "path"}
    assert_answered(hostile_client.get(_url(path, path_values)), path)
    for parameter in parameters:
        for value in hostile_values(parameter):
            if parameter["in"] == "path":
                url = _url(path, {**path_values, parameter["name"]: value})
            else:
                url = _url(path, path_values, f"{parameter['name']}={value}")
            assert_answered(hostile_client.get(url), url)


def error(response, status: int, code: str | None = None, naming: str | None = None) -> dict:
    """Assert ``response`` is the ErrorBody of ``status`` (with ``code``, and naming ``naming``); return it."""
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["status"] == status and (code is None or body["code"] == code), body
    assert naming is None or naming.lower() in body["description"].lower(), body
    return body


ITEMS = "/collections/farmland/items"


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "113,28,112,27", "1,2,nan,4", "200,10,201,11", ""])
def test_malformed_bbox_is_400_naming_bbox(hostile_client, bbox):
    error(hostile_client.get(ITEMS, params={"bbox": bbox}), 400, "InvalidBBox", naming="bbox")


@pytest.mark.parametrize("param", ["crs", "bbox-crs", "filter-crs"])
def test_unknown_crs_is_400_naming_crs(hostile_client, param):
    params = {param: "EPSG:999999", **({"bbox": "112,27,113,28"} if param == "bbox-crs" else {})}
    error(hostile_client.get(ITEMS, params=params), 400, naming="crs")


@pytest.mark.parametrize(
    "cql",
    [
        "area_mu >",
        "name = 'unterminated",
        "nosuchfield = 1",
        "id = 1; DROP TABLE farmland",
        '"id; DROP TABLE farmland" = 1',
        "S_INTERSECTS(geometry, POINT(1))",
    ],
)
def test_bad_cql2_is_400(hostile_client, cql):
    error(hostile_client.get(ITEMS, params={"filter": cql}), 400, "InvalidFilter", naming="filter")


def test_sql_in_a_cql2_string_is_only_a_value(hostile_client):
    response = hostile_client.get(ITEMS, params={"filter": "name = 'x'' OR ''1''=''1'"})
    assert response.status_code == 200 and response.json()["numberMatched"] == 0


def test_cql2_complexity_is_limited(hostile_client):
    deep = "(" * 25 + "area_mu > 1" + ")" * 25
    error(hostile_client.get(ITEMS, params={"filter": deep}), 400, "InvalidFilter", naming="deep")
    # Thousands of brackets would overflow the native parser's stack: refused before parsing.
    crash = f"{ITEMS}?filter=" + "(" * 2500 + "id=1" + ")" * 2500
    error(hostile_client.get(crash), 400, "InvalidFilter", naming="brackets")
    nots = "NOT " * 30 + "area_mu > 1"
    error(hostile_client.get(ITEMS, params={"filter": nots}), 400, "InvalidFilter", naming="complex")
    wide = " OR ".join(f"area_mu = {i}" for i in range(400))
    error(hostile_client.get(ITEMS, params={"filter": wide}), 400, "InvalidFilter", naming="terms")
    fine = " OR ".join(f"area_mu = {i}" for i in range(100))
    assert hostile_client.get(ITEMS, params={"filter": fine}).status_code == 200


@pytest.mark.parametrize(
    ("url", "naming"),
    [
        (f"{ITEMS}?datetime=2025-13-45", "datetime"),
        (f"{ITEMS}?datetime=2025-12-31/2025-01-01", "datetime"),
        (f"{ITEMS}?as_of=2025-02-30", "as_of"),
        ("/progress/farmland?as_of=yesterday", "as_of"),
        ("/progress/deadlines?as_of=2025-1-1x", "as_of"),
    ],
)
def test_bad_dates_are_400(hostile_client, url, naming):
    error(hostile_client.get(url), 400, naming=naming)


def test_extreme_but_valid_dates_answer(hostile_client):
    assert hostile_client.get("/progress/deadlines", params={"as_of": "9999-12-31"}).status_code == 200
    assert hostile_client.get("/progress/farmland", params={"as_of": "0001-01-01"}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/tiles/farmland/10/1024/429.mvt",  # x beyond 2**z - 1
        "/tiles/farmland/10/841/5000.mvt",
        "/tiles/farmland/31/0/0.mvt",
        "/collections/farmland/tiles/WebMercatorQuad/10/-1/429",
        "/tiles/WebMercatorQuad/99/0/0",
        "/tiles/CGCS2000Quad/0/0/0",  # the CGCS2000 grid starts at level 1
        "/basemap/10/99999/429.png",
        "/rasters/soil-cadmium/tiles/WebMercatorQuad/10/1024/0.png",
        "/tiles/farmland/99999999999999999999/0/0.mvt",
    ],
)
def test_tile_out_of_range_is_404(hostile_client, url):
    body = error(hostile_client.get(url), 404, "TileOutsideBounds")
    assert "outside" in body["description"]


def test_huge_limit_is_clamped(hostile_client):
    response = hostile_client.get(ITEMS, params={"limit": 10**12})
    assert response.status_code == 200
    body = response.json()
    assert body["numberReturned"] == body["numberMatched"] <= ApiSettings().max_limit


def test_huge_offset_is_400_or_empty(hostile_client):
    response = hostile_client.get(ITEMS, params={"offset": 10**12})
    if response.status_code == 200:
        assert response.json()["features"] == []
    else:
        error(response, 400, naming="offset")
    assert hostile_client.get(ITEMS, params={"offset": 10**9}).json()["features"] == []


@pytest.mark.parametrize(
    "url",
    [
        "/collections/nosuchlayer",
        "/collections/farmland/items/FL-99999",
        "/collections/farmland%27%3B%20DROP%20TABLE%20farmland%3B--/items",
        "/collections/farmland/items/FL-001%27%20OR%20%271%27%3D%271",
        "/collections/f%D0%B0rmland",
        "/rasters/elevation",
        "/rasters/..%2F..%2Fetc%2Fpasswd",
        "/tileMatrixSets/NoSuchGrid",
        "/progress/nosuchlayer",
        "/collections/farmland/items/FL-001/progress/999999/photo",
    ],
)
def test_unknown_ids_are_404(hostile_client, url):
    error(hostile_client.get(url), 404)


@pytest.mark.parametrize(
    "url",
    [
        "/export/..%2F..%2Fetc%2Fpasswd.geojson",
        "/export/farmland.%2E%2E%2Fpasswd",
        "/export/farmland.gpkg%00.txt",
        "/collections/farmland/export?format=..%2F..%2Fetc%2Fpasswd",
        "/rasters/..%2F..%2F..%2Fetc%2Fpasswd/tiles/WebMercatorQuad/10/841/429.png",
        "/rasters/soil-cadmium%2F..%2F..%2Fplanmap.gpkg",
    ],
)
def test_path_traversal_in_export_names_and_raster_ids_is_refused(hostile_client, url):
    response = hostile_client.get(url)
    assert 400 <= response.status_code < 500
    assert b"root:" not in response.content and b"SQLite format" not in response.content


def test_sql_in_sortby_properties_and_attribute_names_is_refused(hostile_client):
    error(hostile_client.get(ITEMS, params={"sortby": "name; DROP TABLE farmland"}), 400, naming="sort")
    error(hostile_client.get(ITEMS, params={"properties": 'name,"id"; DROP TABLE farmland'}), 400, naming="propert")
    error(hostile_client.get(ITEMS, params={'name"; DROP TABLE farmland; --': "x"}), 400, naming="propert")
    quoted = hostile_client.get(ITEMS, params={"name": "x'; DROP TABLE farmland; --"})
    assert quoted.status_code == 200 and quoted.json()["numberMatched"] == 0


POSTS = ["/progress/farmland/within", "/rasters/soil-cadmium/zonal"]
"""POST operations open to anonymous callers (the writes need a token and have their own tests)."""
RING = "[[112,27],[113,27],[113,28],[112,27]]"
BODIES = {
    "not json": b"{not json",
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "nested coordinates": b'{"type":"Polygon","coordinates":' + b"[" * 3000 + b"]" * 3000 + b"}",
    "NaN": b'{"type":"Polygon","coordinates":[[[NaN,1],[2,2],[3,1],[NaN,1]]]}',
    "infinite": b'{"type":"Polygon","coordinates":[[[1e999,27],[113,27],[113,28],[1e999,27]]]}',
    "huge": b'{"type":"Polygon","coordinates":[[[1e300,27],[113,27],[113,28],[1e300,27]]]}',
    "bow tie": b'{"type":"Polygon","coordinates":[[[112,27],[113,28],[113,27],[112,28],[112,27]]]}',
    "point": b'{"type":"Point","coordinates":[112.9,27.8]}',
    "empty collection": b'{"type":"GeometryCollection","geometries":[]}',
    "features not a list": b'{"type":"FeatureCollection","features":5}',
    "null": b"null",
    "SQL": b'"\u0027; DROP TABLE farmland; --"',
    "not UTF-8": b'{"type":"Po\xff\xfelygon"}',
    "empty": b"",
    "valid": ('{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[' + RING + "]}}").encode(),
}


@pytest.mark.parametrize("url", POSTS)
@pytest.mark.parametrize("name", list(BODIES))
def test_post_answers_hostile_bodies_without_server_error(hostile_client, url, name):
    response = hostile_client.post(url, content=BODIES[name], headers={"content-type": "application/json"})
    assert_answered(response, f"{url} {name}")
    if name in ("valid", "not json", "deeply nested", "NaN", "infinite", "null", "empty"):
        assert response.status_code == (200 if name == "valid" else 400), response.text[:200]


def test_injection_is_inert_on_every_store_kind(client):
    """The shared ``client`` runs once per store kind (GeoPackage and PostGIS): its SQL paths differ."""
    before = client.get(ITEMS, params={"limit": 1}).json()["numberMatched"]
    for params in (
        {"filter": "name = 'x'' OR ''1''=''1'"},
        {"filter": "name LIKE '%''; DROP TABLE farmland; --'"},
        {"name": "x'; DROP TABLE farmland; --"},
        {"county": "430321') OR ('1'='1"},
    ):
        response = client.get(ITEMS, params=params)
        assert response.status_code in (200, 404), response.text[:200]
        assert response.status_code == 404 or response.json()["numberMatched"] == 0, params
    for params in (
        {"sortby": "name; DROP TABLE farmland"},
        {"filter": '"id; DROP TABLE farmland" = 1'},
        {"filter": "(" * 25 + "area_mu > 1" + ")" * 25},
        {"properties": "name,(SELECT 1)"},
        {"offset": 10**12},
    ):
        assert_answered(response := client.get(ITEMS, params=params), str(params))
        assert response.status_code == 400, response.text[:200]
    assert client.get(ITEMS, params={"limit": 1}).json()["numberMatched"] == before


def test_oversized_body_is_413_before_it_is_read(hostile_client):
    big = b'{"type":"Polygon","coordinates":[]}' + b" " * (2 * 1024**2)
    response = hostile_client.post(
        "/progress/farmland/within", content=big, headers={"content-type": "application/json"}
    )
    error(response, 413, "RequestTooLarge")

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b" " * 65536

    streamed = hostile_client.post(
        "/progress/farmland/within", content=chunks(), headers={"content-type": "application/json"}
    )
    error(streamed, 413, "RequestTooLarge")


def test_body_limit_is_a_setting(served_demo):
    settings = Settings(
        store=StoreSettings(gpkg_path=served_demo, data_dir=served_demo.parent), api=ApiSettings(max_body_bytes=64)
    )
    with TestClient(create_app(settings)) as client:
        body = '{"type":"Point","coordinates":[112.9,27.8]}' + " " * 64
        response = client.post("/progress/farmland/within", content=body, headers={"content-type": "application/json"})
        error(response, 413, naming="64 bytes")


@pytest.mark.parametrize(
    ("url", "naming"),
    [
        (f"{ITEMS}?filter=%ff%fe", "filter"),
        (f"{ITEMS}?name=caf%e9", "name"),
        ("/collections/%ff%fe/items", "path"),
        ("/rasters/%c0%ae%c0%ae", "path"),  # overlong UTF-8 for ".."
        (f"{ITEMS}?name=%00", "NUL"),
    ],
)
def test_non_utf8_and_nul_are_400(hostile_client, url, naming):
    error(hostile_client.get(url), 400, "InvalidEncoding", naming=naming)


def test_long_query_string_is_414(hostile_client):
    error(hostile_client.get(ITEMS, params={"filter": "a" * 9000}), 414, "URITooLong")
    assert hostile_client.get(ITEMS, params={"filter": "name = '" + "a" * 7000 + "'"}).status_code == 200


def test_tile_feature_count_is_capped_by_the_setting(served_demo):
    import mapbox_vector_tile

    from geo.tms import get_tms
    from server.settings import TileSettings

    tile = get_tms("WebMercatorQuad").tile(112.9454, 27.8313, 8)
    url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    store = StoreSettings(gpkg_path=served_demo, data_dir=served_demo.parent)
    counts = []
    for cap in (20_000, 3):
        with TestClient(create_app(Settings(store=store, tiles=TileSettings(tile_max_features=cap)))) as client:
            response = client.get(url)
            assert response.status_code == 200
            counts.append(sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(response.content).values()))
    assert counts[0] > 3 and counts[1] <= 3


def test_store_is_unchanged_and_sound(hostile_client, served_demo, versions_before):
    """Runs last in this module: nothing above wrote to the store."""
    with GeoPackageStore(served_demo) as store:
        assert {layer: store.version(layer) for layer in store.layers()} == versions_before
        assert store.read("farmland", columns=["id"]).shape[0] > 0
    with sqlite3.connect(served_demo) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {row[0] for row in conn.execute("SELECT table_name FROM gpkg_contents")}
    assert {"farmland", "reservoirs", "counties"} <= tables
