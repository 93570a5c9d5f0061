"""The map pages and their data endpoint: content of the HTML, the embedded GeoJSON and the SVG charts."""

from __future__ import annotations

import json
import re
from datetime import date
from html.parser import HTMLParser

import numpy as np
import pytest

import shapely
from shapely.geometry import shape

from geo.crs import convert_geometry
from geo.measure import geodesic_distance_m
from layers.deadlines import layer_deadlines
from layers.nearby import find_nearby
from layers.progress import layer_progress
from layers.progress_counties import county_progress
from server.charts import Bar, bar_chart, line_chart
from server.maps import MapQuery, build_plan_map
from server.maps.data import layer_frame
from server.maps.i18n import direction

OVERLAY = re.compile(r"planmap\.(geojson|vectorTiles)\(map_\w+, (\{.*?\})\);\n", re.S)


class _Assets(HTMLParser):
    """Collect every src/href of script, link and img elements."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def overlays(html: str) -> dict[str, dict]:
    """Return the overlay configs embedded in a map page, by layer id."""
    return {cfg["id"]: cfg for _, cfg in ((kind, json.loads(body)) for kind, body in OVERLAY.findall(html))}


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def test_plan_map_draws_every_layer_from_local_assets(client, registry, store):
    response = client.get("/map")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = assets(html)
    assert "/static/xstatic/leaflet/leaflet.js" in urls
    assert all(url.startswith("/static/") for url in urls), urls
    assert "cdn" not in html and "bootstrap" not in html
    drawn = overlays(html)
    assert set(drawn) == set(registry.ids())
    for layer in registry:
        assert len(drawn[layer.id]["data"]["features"]) == store.count(layer.id), layer.id
    assert "湘潭市2025年重点项目分布图" in html
    assert "L.control.layers" in html and "L.control.scale" in html and "planmap.locate" in html


def test_online_basemaps_are_listed_but_not_added(client):
    html = client.get("/map").text
    for host in ("tile.openstreetmap.org", "autonavi.com"):
        name = re.search(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"https://[^\"]*" + re.escape(host), html).group(1)
        assert f"{name}.addTo(" not in html
        assert f'"{name}"' not in html  # not a plain string either: only referenced in the layer control
        assert re.search(r":\s*" + name + r",", html)
    offline = re.search(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"/basemap/\{z\}/\{x\}/\{y\}\.png\"", html).group(1)
    assert f"{offline}.addTo(" in html
    assert "tianditu" not in html  # no key configured


def test_tianditu_needs_a_key(demo_gpkg):
    from fastapi.testclient import TestClient

    from server.main import create_app
    from server.settings import MapSettings, Settings, StoreSettings

    settings = Settings(store=StoreSettings(gpkg_path=demo_gpkg), maps=MapSettings(tianditu_key="abc123"))
    with TestClient(create_app(settings)) as tianditu_client:
        html = tianditu_client.get("/map").text
    assert "TILEMATRIXSET=w" in html and "tk=abc123" in html
    assert html.count("tianditu.gov.cn") == 2  # vector map and Chinese labels


def test_popup_config_uses_catalogue_aliases_and_record_links(client, registry):
    cfg = overlays(client.get("/map?layers=farmland").text)["farmland"]
    farmland = registry.get("farmland")
    aliases = {f["name"]: f["alias"] for f in cfg["fields"]}
    assert aliases["area_mu"] == farmland.field("area_mu").alias_zh == "面积"
    assert aliases["due_date"] == farmland.field("due_date").alias_zh
    assert cfg["itemUrl"] == "/collections/farmland/items/{fid}?f=html"
    assert cfg["statusLabels"]["completed"] == "已完成" and cfg["statusLabels"]["overdue"] == "逾期"
    assert cfg["colors"]["completed"] == farmland.status_colors["completed"]


def test_filters_in_the_url_change_what_is_drawn(client, registry, store):
    html = client.get("/map?county=430321&status=completed&layers=farmland,reservoirs").text
    drawn = overlays(html)
    assert set(drawn) == {"farmland", "reservoirs"}
    for layer_id, cfg in drawn.items():
        expected = layer_frame(store, registry.get(layer_id), MapQuery(county=("430321",), status=("completed",)))
        features = cfg["data"]["features"]
        assert sorted(f["properties"]["id"] for f in features) == sorted(expected["id"])
        assert all(
            f["properties"]["county"] == "430321" and f["properties"]["_status"] == "completed" for f in features
        )
    assert 0 < len(drawn["farmland"]["data"]["features"]) < store.count("farmland")


def test_overdue_is_derived_from_due_date(client, registry, store):
    as_of = date(2025, 9, 30)
    features = client.get(f"/map/data/reservoirs?status=overdue&as_of={as_of}").json()["features"]
    progress = layer_progress(store, registry.get("reservoirs"), as_of=as_of)
    assert len(features) == progress.overdue
    assert all(f["properties"]["due_date"] < as_of.isoformat() for f in features)


def test_gcj02_data_is_shifted_for_amap(client):
    wgs = client.get("/map/data/reservoirs").json()["features"]
    gcj = client.get("/map/data/reservoirs?coordsys=gcj02").json()["features"]
    assert [f["properties"]["id"] for f in wgs] == [f["properties"]["id"] for f in gcj]
    for a, b in zip(wgs, gcj, strict=True):
        pa, pb = shape(a["geometry"]), shape(b["geometry"])
        assert shapely.equals_exact(convert_geometry(pa, "wgs84", "gcj02"), pb, tolerance=1.5e-7)  # both rounded
        shift = float(geodesic_distance_m(pa.x, pa.y, pb.x, pb.y))
        assert 300 < shift < 900, shift


def test_amap_base_reloads_overlays_in_gcj02(client):
    html = client.get("/map").text
    assert '"planmapCoordsys": "gcj02"' in html
    assert "planmap.watchBase" in html
    js = client.get("/static/planmap/planmap.js").text
    assert "baselayerchange" in js and '"coordsys"' in js


def test_english_ui(client, registry):
    html = client.get("/map?lang=en&layers=farmland").text
    assert "Xiangtan 2025 work-plan projects" in html and '<html lang="en">' in html
    cfg = overlays(html)["farmland"]
    assert cfg["title"] == registry.get("farmland").title_en
    assert {f["alias"] for f in cfg["fields"]} >= {"Area", "Due date"}


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/map?status=bogus", 400, "InvalidFilter"),
        ("/map?layers=nope", 404, "UnknownLayer"),
        ("/map?county=999999", 404, "UnknownCounty"),
        ("/map/data/farmland?coordsys=bd99", 400, "InvalidParameterValue"),
        ("/map/data/nope", 404, "UnknownLayer"),
        ("/map/layers/nope", 404, "UnknownLayer"),
        ("/map/progress?layer=nope", 404, "UnknownLayer"),
        ("/map/progress?as_of=2025-13-01", 400, "InvalidParameterValue"),
        ("/map/nearby?lon=112.9&lat=27.8&radius_m=0", 400, "InvalidQueryParameter"),
        ("/map/nearby?lon=500&lat=27.8", 400, "InvalidQueryParameter"),
    ],
)
def test_bad_parameters_are_clear_4xx(client, url, status, code):
    response = client.get(url)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["description"]


def test_dense_layers_use_vector_tiles(store, registry):
    fmap = build_plan_map(store, registry, MapQuery(layers=("farmland",), county=("430321",)), dense_features=10)
    html = fmap.get_root().render()
    kind, body = OVERLAY.search(html).groups()
    cfg = json.loads(body)
    assert kind == "vectorTiles" and "data" not in cfg
    assert cfg["tileUrl"] == "/collections/farmland/tiles/WebMercatorQuad/{z}/{x}/{y}?county=430321"
    assert "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js" in html


def test_one_huge_outline_is_drawn_from_tiles_and_the_page_stays_small(writable_gpkg, registry, app_factory):
    from fastapi.testclient import TestClient

    from geo.storage.gpkg import GeoPackageStore

    with GeoPackageStore(writable_gpkg) as store:
        frame = store.read("farmland")
        # One parcel traced with 300,000 vertices (as a careless digitisation or an accepted import could).
        centre, angle = frame.geometry.iloc[0].centroid, np.linspace(0, 2 * np.pi, 300_000, endpoint=False)
        ring = np.column_stack((centre.x + 0.01 * np.cos(angle), centre.y + 0.01 * np.sin(angle)))
        frame.loc[0, "geometry"] = shapely.MultiPolygon([shapely.Polygon(ring)])
        store.write_layer("farmland", frame, types=store.columns("farmland"))
        assert len(frame) < 5000
    with TestClient(app_factory(writable_gpkg)) as client:
        page = client.get("/map/layers/farmland")
    assert page.status_code == 200
    assert len(page.content) < 1_000_000  # the outline alone would be about 7 MB of GeoJSON
    overlays = {json.loads(body)["id"]: (kind, json.loads(body)) for kind, body in OVERLAY.findall(page.text)}
    assert overlays["farmland"][0] == "vectorTiles" and "data" not in overlays["farmland"][1]
    assert overlays["counties"][0] == "geojson"  # small layers stay embedded


def test_static_assets_are_served(client):
    leaflet = client.get("/static/xstatic/leaflet/leaflet.js")
    assert leaflet.status_code == 200 and "1.9.3" in leaflet.text[:400]
    assert client.get("/static/xstatic/leaflet/leaflet.css").status_code == 200
    assert client.get("/static/xstatic/leaflet/images/layers.png").headers["content-type"] == "image/png"
    vectorgrid = client.get("/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js")
    assert vectorgrid.status_code == 200 and "vectorGrid" in vectorgrid.text
    assert "BEER-WARE" in client.get("/static/vendor/leaflet.vectorgrid/LICENSE.txt").text
    assert client.get("/static/../main.py").status_code == 404


def test_progress_page_totals_match_the_progress_api(client, registry, store):
    farmland = registry.get("farmland")
    as_of = date(2025, 6, 30)
    html = client.get(f"/map/progress?layer=farmland&as_of={as_of}").text
    expected = layer_progress(store, farmland, as_of=as_of)
    total = re.search(r'class="pm-total" data-done="([\d.]+)" data-target="([\d.]+)"', html)
    assert float(total.group(1)) == pytest.approx(expected.done)
    assert float(total.group(2)) == farmland.target.value == 100000
    assert f"{expected.done:,.0f}" in html and "100,000" in html and "亩" in html
    bars = [float(v) for v in re.findall(r'class="pm-bar" data-value="([\d.]+)"', html)]
    assert bars == pytest.approx([row.done for row in county_progress(store, farmland, as_of).counties])
    assert sum(bars) == pytest.approx(expected.done)
    burnup = [float(v) for v in re.findall(r'<circle [^>]*data-value="([\d.]+)"', html)]
    assert len(burnup) == 6 and burnup == sorted(burnup)
    assert burnup[-1] == pytest.approx(expected.done)
    overdue = [item.id for kind, item in layer_deadlines(store, farmland, as_of, 30, 80.0) if kind == "overdue"]
    assert sorted(set(re.findall(r'<tr data-id="([^"]+)"', html))) == sorted(set(overdue))
    choropleth = overlays(html)["choropleth"]
    assert len(choropleth["data"]["features"]) == 5


def test_progress_page_replays_other_days(client):
    early = client.get("/map/progress?layer=reservoirs&as_of=2025-01-31").text
    late = client.get("/map/progress?layer=reservoirs&as_of=2025-12-31").text
    done = [float(re.search(r'data-done="([\d.]+)"', page).group(1)) for page in (early, late)]
    assert done[0] <= done[1]
    assert 'value="2025-12-31"' in late and '/ <span class="pm-target">25</span>' in late


def test_nearby_page_lists_projects_by_distance(client, registry, store):
    lon, lat = 112.9454, 27.8313
    html = client.get(f"/map/nearby?lon={lon}&lat={lat}&radius_m=5000").text
    assert 'name="viewport"' in html
    rows = re.findall(r'<li data-id="([^"]+)" data-layer="([^"]+)" data-distance="([\d.]+)"', html)
    expected = find_nearby(store, registry.projects(), lon, lat, 5000)
    assert [r[0] for r in rows] == [p.id for p in expected.projects]
    distances = [float(r[2]) for r in rows]
    assert distances == sorted(distances) and all(d <= 5000 for d in distances)
    assert rows, "the demo has projects near the city centre"
    assert f'href="/collections/{rows[0][1]}/items/{rows[0][0]}?f=html"' in html
    assert "pm-radius" in html and "radius" in html


def test_nearby_accepts_gcj02(client):
    from geo.crs import from_wgs84

    lon, lat = 112.9454, 27.8313
    glon, glat = (float(v) for v in from_wgs84(lon, lat, "gcj02"))
    wgs = client.get(f"/map/nearby?lon={lon}&lat={lat}&radius_m=3000").text
    gcj = client.get(f"/map/nearby?lon={glon}&lat={glat}&coordsys=gcj02&radius_m=3000").text
    ids = [re.findall(r'<li data-id="([^"]+)"', page) for page in (wgs, gcj)]
    assert ids[0] == ids[1]


def test_nearby_without_position_asks_the_browser(client):
    html = client.get("/map/nearby").text
    assert "navigator.geolocation.getCurrentPosition" in html and "<li data-id" not in html


def test_layer_page_lists_every_record_with_its_html_link(client, store):
    html = client.get("/map/layers/reservoirs").text
    ids = re.findall(r'<tr data-id="([^"]+)">', html)
    assert len(ids) == store.count("reservoirs") == 25
    assert f'href="/collections/reservoirs/items/{ids[0]}?f=html"' in html
    assert set(overlays(html)) == {"counties", "reservoirs"}


def test_charts_are_svg_with_values():
    svg = bar_chart([Bar("雨湖区", 50, 100), Bar("岳塘区", 25, 100)], "亩")
    assert svg.startswith("<svg") and svg.count('class="pm-bar"') == 2 and "50 / 100 亩" in svg
    assert 'width="0.0"' not in svg
    line = line_chart(["1月", "2月", "3月"], [0, 10, 30], target=100, unit="亩")
    assert line.count("<circle") == 3 and "pm-target" in line and "100 亩" in line
    assert "<script" not in bar_chart([Bar("<script>", 1)])


@pytest.mark.parametrize(
    ("bearing", "zh", "en"),
    [(0, "北", "N"), (44, "东北", "NE"), (90, "东", "E"), (200, "南", "S"), (300, "西北", "NW"), (350, "北", "N")],
)
def test_direction_names(bearing, zh, en):
    assert direction(bearing, "zh") == zh and direction(bearing, "en") == en


def test_record_links_open_an_html_page(client):
    feature = client.get("/map/data/reservoirs").json()["features"][0]
    response = client.get(f"/collections/reservoirs/items/{feature['properties']['id']}?f=html")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert feature["properties"]["name"] in response.text
