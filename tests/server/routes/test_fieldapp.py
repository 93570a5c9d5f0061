"""The installable field app: manifest, service worker, offline fallback page and the offline download plan."""

import html
import io
import json
import re
import time

import pytest
from PIL import Image

from layers.accounts import create_user
from server.maps.fieldapp import shell_urls


def test_manifest_is_chinese_first_standalone_and_its_icons_are_pngs(client):
    r = client.get("/manifest.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert manifest["name"] == "湘潭项目进度" and manifest["lang"] == "zh-CN"
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/map/nearby"
    sizes = set()
    for icon in manifest["icons"]:
        png = client.get(icon["src"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as image:
            assert f"{image.width}x{image.height}" == icon["sizes"] and image.format == "PNG"
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes


def test_service_worker_is_served_at_the_root_with_its_shell(client):
    r = client.get("/sw.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["service-worker-allowed"] == "/" and r.headers["cache-control"] == "no-cache"
    shell = json.loads(re.search(r"var SHELL = (\[.*?\]);", r.text).group(1))
    version = re.search(r'var VERSION = "([0-9a-f]{12})";', r.text)
    assert shell == shell_urls() and version is not None and "__PLANMAP" not in r.text
    for url in shell:
        page = client.get(url)
        assert page.status_code == 200, url
        if page.headers["content-type"].startswith("text/html"):  # pages load nothing from elsewhere
            assert not re.search(r"<(?:script|link)[^>]+(?:src|href)=\"?(?:https?:)?//", page.text), url
    assert "/map/nearby" in shell and "/static/xstatic/leaflet/leaflet.js" in shell


def test_field_pages_link_the_manifest_and_load_the_outbox(client):
    nearby = client.get("/map/nearby?lon=112.53&lat=27.73").text
    fid = client.get("/collections/farmland/items?limit=1").json()["features"][0]["id"]
    report = client.get(f"/map/report/farmland/{fid}").text
    for page in (nearby, report, client.get("/offline").text):
        assert '<link rel="manifest" href="/manifest.webmanifest">' in page
        assert "/static/planmap/outbox.js" in page and "/static/planmap/field.js" in page
    assert nearby.index('class="pm-near"') < nearby.index("leaflet.js")  # the list before the map's scripts
    assert '<option value="430381">湘乡市</option>' in nearby


def test_report_page_carries_the_version_it_shows(writable_client, writable_store):
    client = writable_client
    create_user(writable_store, "zhou", role="planner", password="a long password", actor="test", clock=time.time)
    signed = client.post("/login", data={"user": "zhou", "password": "a long password"}, follow_redirects=False)
    assert signed.status_code == 303
    fid = client.get("/collections/farmland/items?limit=1").json()["features"][0]["id"]
    etag = client.get(f"/collections/farmland/items/{fid}", headers={"Accept": "application/geo+json"}).headers["etag"]
    page = client.get(f"/map/report/farmland/{fid}").text
    shown = re.search(r'data-etag="([^"]*)"', page).group(1)
    assert html.unescape(shown) == etag


def test_offline_area_plan_gives_urls_and_sizes_before_download(client):
    r = client.get("/offline/area?county=430382&max_zoom=13")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    plan = r.json()
    assert plan["name"] == "韶山市" and plan["maxZoom"] == 13
    for row in plan["projects"]["layers"]:
        data = client.get(row["url"])
        assert data.status_code == 200 and len(data.content) == row["bytes"], row["url"]
        assert len(data.json()["features"]) == row["count"] or row["layer"] == "water-sections"
    assert plan["pages"]["count"] == plan["projects"]["count"] == len(plan["pages"]["urls"])
    assert client.get(plan["pages"]["urls"][0]).status_code == 200
    tiles = plan["tiles"]
    assert tiles["count"] == len(tiles["list"]) == sum(tiles["byZoom"].values())
    real = sum(len(client.get(tiles["template"].format(z=z, x=x, y=y)).content) for z, x, y in tiles["list"])
    assert 0.5 * real < tiles["bytes"] < 1.5 * real
    assert plan["totalBytes"] == plan["projects"]["bytes"] + plan["pages"]["bytes"] + tiles["bytes"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("county=999999", 404, "UnknownCounty"),
        ("", 400, "InvalidQueryParameter"),
        ("county=430381&bbox=112,27,113,28", 400, "InvalidQueryParameter"),
        ("bbox=1,2,3", 400, "InvalidBBox"),
        ("county=430381&max_zoom=19", 400, "InvalidParameterValue"),
        ("bbox=111,27,114,29&full_zoom=15&max_zoom=15", 400, "InvalidQueryParameter"),
    ],
)
def test_offline_area_bad_input_is_a_clear_error(client, query, status, code):
    r = client.get(f"/offline/area?{query}")
    assert r.status_code == status, r.text
    if code:
        assert r.json()["code"] == code
