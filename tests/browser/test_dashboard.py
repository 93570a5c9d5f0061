"""The dashboard in Chromium: the map's coloured projects match the lights /items gives at three dates as the
time slider steps (button, slider, play), the cards change with the day, and nothing is fetched from outside.
A screenshot goes to artifacts/screenshots/dashboard.png."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from layers.lights import has_lights
from layers.registry import load_catalogue

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LIGHTS = ("green", "yellow", "red")


@pytest.fixture(scope="module")
def server(demo_gpkg, app_factory, serve):
    with serve(app_factory(demo_gpkg)) as base:
        yield base


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium(tmp_path / "chromium-profile", {"width": 1400, "height": 1100})
    yield context
    context.close()


def items_lights(base: str, day: str) -> Counter:
    """Count the lights /items gives the 2025 plan's scheduled projects on ``day`` (an independent path)."""
    import httpx

    counts: Counter = Counter()
    for layer in load_catalogue().projects():
        if not has_lights(layer):
            continue
        doc = httpx.get(
            f"{base}/collections/{layer.id}/items", params={"plan": 2025, "as_of": day, "limit": 1000}
        ).json()
        assert doc["numberReturned"] == doc.get("numberMatched", doc["numberReturned"])
        counts.update(f["properties"]["light"] for f in doc["features"] if f["properties"].get("light"))
    return counts


def drawn(page) -> Counter:
    return Counter({light: page.locator(f"path.pm-light-{light}").count() for light in LIGHTS})


def shown(page, day: str) -> None:
    """Wait until the dashboard shows ``day`` (a selector wait: the page's CSP allows no string evaluation)."""
    page.wait_for_selector(f"#pm-dashboard[data-shown='{day}']", state="attached", timeout=60_000)


def test_slider_replays_the_year_and_the_map_agrees_with_items(browser, server):
    page = browser.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/dashboard?plan=2025&as_of=2025-03-31", wait_until="networkidle")
    shown(page, "2025-03-31")
    march = drawn(page)
    assert march == items_lights(server, "2025-03-31") and sum(march.values()) > 0
    farmland_march = page.text_content(".pm-card[data-layer='farmland'] .pm-done")

    page.click("#pm-step")  # one month on: April
    shown(page, "2025-04-30")
    page.locator("#pm-month").fill("8")  # the slider to September
    page.locator("#pm-month").dispatch_event("change")
    shown(page, "2025-09-30")
    september = drawn(page)
    assert september == items_lights(server, "2025-09-30")
    assert page.text_content(".pm-card[data-layer='farmland'] .pm-done") != farmland_march

    page.click("#pm-play")  # plays to December and stops there
    shown(page, "2025-12-31")
    page.wait_for_selector("#pm-play:has-text('播放')", timeout=60_000)
    december = drawn(page)
    assert december == items_lights(server, "2025-12-31")
    assert march != september != december
    reds = page.locator("#pm-red tbody tr").count()
    assert reds == min(december["red"], 50)
    assert "仅计划管理人员可见" in page.text_content("#pm-investment")  # anonymous: no investment figures
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests if u.startswith("http"))
