"""The map pages in a real browser (Debian's chromium driven by Playwright) against a real uvicorn server.

Each page must load everything from planmap itself (no request leaves 127.0.0.1), log no console error,
run Leaflet 1.9.3 and draw what the data says. Screenshots go to artifacts/screenshots/ and page load
times to artifacts/page_load_times.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from geo.measure import geodesic_distance_m
from geo.storage.gpkg import GeoPackageStore
from layers.nearby import find_nearby
from layers.progress import layer_progress

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOAD_TIMES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def server_url(demo_gpkg, app_factory, serve):
    """Serve the demo data with uvicorn on 127.0.0.1 for the browser."""
    with serve(app_factory(demo_gpkg)) as base:
        yield base


@pytest.fixture(scope="module")
def browser_context(chromium, tmp_path_factory):
    """A desktop-sized Chromium context with a fresh profile."""
    context = chromium(tmp_path_factory.mktemp("chromium-profile"), {"width": 1280, "height": 860})
    yield context
    context.close()
    if LOAD_TIMES:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "page_load_times.json").write_text(json.dumps(LOAD_TIMES, indent=2))


@pytest.fixture(scope="module")
def store(demo_gpkg):
    with GeoPackageStore(demo_gpkg) as opened:
        yield opened


@dataclass
class Visit:
    """A page opened in the browser with what it requested and logged."""

    page: object
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if urlsplit(url).hostname != "127.0.0.1"]


def visit(context, url: str, name: str | None = None, viewport: dict | None = None) -> Visit:
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    seen = Visit(page)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda message: seen.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.goto(url, wait_until="networkidle")
    if name:
        timing = page.evaluate(
            "() => { const n = performance.getEntriesByType('navigation')[0];"
            " return {dom_content_loaded_ms: n.domContentLoadedEventEnd, load_ms: n.loadEventEnd,"
            " response_ms: n.responseEnd - n.requestStart, transfer_kb: n.transferSize / 1024}; }"
        )
        LOAD_TIMES[name] = {k: round(v, 1) for k, v in timing.items()}
        ARTIFACTS.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "screenshots" / f"{name}.png"))
    return seen


def assert_clean(seen: Visit) -> None:
    assert seen.requests, "the page made no request"
    assert seen.foreign_requests() == [], "requests left 127.0.0.1"
    assert seen.errors == [], seen.errors
    assert seen.page.evaluate("window.L && L.version") == "1.9.3"


PAGES = {
    "plan": "/map",
    "plan_en": "/map?lang=en",
    "progress": "/map/progress?layer=farmland&as_of=2025-06-30",
    "nearby": "/map/nearby?lon=112.9454&lat=27.8313&radius_m=5000",
    "layer": "/map/layers/reservoirs",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_offline_clean_and_runs_leaflet(browser_context, server_url, name):
    seen = visit(browser_context, server_url + PAGES[name], name)
    assert_clean(seen)
    seen.page.close()


def test_plan_map_draws_every_feature(browser_context, server_url, registry, store):
    seen = visit(browser_context, server_url + "/map")
    for layer in registry:
        drawn = seen.page.locator(f".leaflet-overlay-pane path.pm-{layer.id}").count()
        assert drawn == store.count(layer.id), layer.id
    assert seen.page.locator(".leaflet-control-layers-overlays label").count() == len(registry)
    assert seen.page.locator(".leaflet-control-scale").count() == 1
    assert seen.page.locator(".pm-locate a").count() == 1
    legend = seen.page.locator(".pm-legend").inner_text()
    assert "已完成" in legend and "逾期" in legend
    seen.page.close()


def _isolated_index(features: list[dict]) -> int:
    """Return the index of the point farthest from its nearest neighbour (safe to click)."""
    points = [f["geometry"]["coordinates"] for f in features]

    def gap(i: int) -> float:
        return min(math.dist(points[i], p) for j, p in enumerate(points) if j != i)

    return max(range(len(points)), key=gap)


def test_click_opens_popup_with_the_record(browser_context, server_url):
    seen = visit(browser_context, server_url + "/map?layers=reservoirs")
    features = seen.page.evaluate("fetch('/map/data/reservoirs').then(r => r.json())")["features"]
    index = _isolated_index(features)
    seen.page.locator("path.pm-reservoirs").nth(index).click()
    popup = seen.page.locator(".leaflet-popup-content")
    popup.wait_for()
    props = features[index]["properties"]
    assert props["name"] in popup.inner_text() and "进度" in popup.inner_text()
    link = popup.locator("a.pm-record")
    assert link.get_attribute("href") == f"/collections/reservoirs/items/{props['id']}?f=html"
    assert seen.errors == []
    seen.page.close()


def test_url_filter_changes_what_is_drawn(browser_context, server_url, registry, store):
    query = "county=430321&status=completed"
    seen = visit(browser_context, f"{server_url}/map?layers=farmland&{query}", "plan_filtered")
    expected = seen.page.evaluate(f"fetch('/map/data/farmland?{query}').then(r => r.json())")["features"]
    drawn = seen.page.locator("path.pm-farmland").count()
    assert drawn == len(expected) and 0 < drawn < store.count("farmland")
    assert all(f["properties"]["county"] == "430321" for f in expected)
    assert seen.page.locator("path.pm-reservoirs").count() == 0
    assert_clean(seen)
    seen.page.close()


def test_amap_base_shifts_overlays_to_gcj02(browser_context, server_url):
    page = browser_context.new_page()
    page.route(lambda url: urlsplit(url).hostname != "127.0.0.1", lambda route: route.abort())
    page.goto(server_url + "/map?layers=reservoirs", wait_until="networkidle")
    before = page.evaluate("planmap.overlays[0].getLayers()[0].getLatLng()")
    with page.expect_response(lambda r: "/map/data/reservoirs" in r.url and "coordsys=gcj02" in r.url):
        page.locator(".leaflet-control-layers-base label").filter(has_text="高德").click()
    page.wait_for_function("planmap.coordsys === 'gcj02' && planmap.overlays[0].getLayers().length > 0")
    page.wait_for_timeout(100)
    after = page.evaluate("planmap.overlays[0].getLayers()[0].getLatLng()")
    shift = float(geodesic_distance_m(before["lng"], before["lat"], after["lng"], after["lat"]))
    assert 300 < shift < 900, shift
    page.close()


def test_field_page_lists_nearby_projects_by_distance(browser_context, server_url, registry, store):
    lon, lat = 112.9454, 27.8313
    url = f"{server_url}/map/nearby?lon={lon}&lat={lat}&radius_m=5000"
    seen = visit(browser_context, url, "nearby_phone", viewport={"width": 390, "height": 844})
    items = seen.page.locator("ol.pm-near li")
    distances = [float(d) for d in items.evaluate_all("els => els.map(e => e.dataset.distance)")]
    ids = items.evaluate_all("els => els.map(e => e.dataset.id)")
    expected = find_nearby(store, registry.projects(), lon, lat, 5000)
    assert ids == [p.id for p in expected.projects] and len(ids) > 0
    assert distances == sorted(distances)
    box = items.first.locator("a").first.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 300  # a touch target a thumb can hit
    assert seen.page.locator("path.pm-radius").count() == 1
    assert_clean(seen)
    seen.page.close()


def test_progress_page_shows_the_plan_totals(browser_context, server_url, registry, store):
    as_of = date(2025, 6, 30)
    seen = visit(browser_context, f"{server_url}/map/progress?layer=farmland&as_of={as_of}")
    expected = layer_progress(store, registry.get("farmland"), as_of=as_of)
    total = seen.page.locator(".pm-total").inner_text()
    assert f"{expected.done:,.0f}" in total and "100,000" in total and "亩" in total
    assert seen.page.locator("svg.pm-bars rect.pm-bar").count() == 5
    assert seen.page.locator("path.pm-choropleth").count() == 5
    seen.page.locator("#pm-as-of").fill("2025-12-31")
    with seen.page.expect_navigation():
        seen.page.locator("#pm-progress-form button").click()
    assert "as_of=2025-12-31" in seen.page.url
    late = layer_progress(store, registry.get("farmland"), as_of=date(2025, 12, 31))
    assert f"{late.done:,.0f}" in seen.page.locator(".pm-total").inner_text()
    seen.page.close()
