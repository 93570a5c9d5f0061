"""The planners' project editor in Chromium against a real server: draw, save, edit, and a refused save."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

import shapely
from shapely.geometry import shape

from geo.storage.gpkg import GeoPackageStore
from layers.boundaries import load_boundaries
from layers.tokens import create_token

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def editor_server(demo_gpkg, tmp_path_factory, app_factory, serve):
    """A private copy of the demo served by uvicorn, with a planner's token."""
    import shutil

    path = tmp_path_factory.mktemp("editor") / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with GeoPackageStore(path) as store:
        token = create_token(store, "chen", "planner")
    with serve(app_factory(path)) as base:
        yield base, token


def _inside(adcode):
    counties = load_boundaries()
    return counties.loc[counties["id"] == adcode].geometry.iloc[0].buffer(-0.01).representative_point()


def _click_vertices(page, points):
    """Click each lon/lat on the map (then the first again, closing the polygon) as a person drawing would."""
    box = page.locator("#pm-map").bounding_box()
    for lon, lat in [*points, points[0]]:
        xy = page.evaluate("([lat, lon]) => pmEditor.map.latLngToContainerPoint([lat, lon])", [lat, lon])
        page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
        page.wait_for_timeout(120)


def _wait_result(page):
    """Wait until the save in flight has answered (the result no longer says it is saving)."""
    page.wait_for_timeout(100)
    page.wait_for_function(
        "(() => { const t = document.getElementById('pm-result').textContent; return t && t.indexOf('…') < 0; })()"
    )


def _square(point, half):
    x, y = point.x, point.y
    return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]


def test_planner_draws_saves_edits_and_sees_a_refusal(chromium, tmp_path, editor_server):
    base, token = editor_server
    # The test reads the editor's state with page functions, which the pages' CSP (no eval) would block;
    # the CSP itself is tested in test_security.py.
    context = chromium(tmp_path / "profile", {"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).hostname != "127.0.0.1" else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base}/map/edit/farmland")
        assert "/login" in page.url
        page.fill("input[name=token]", token)
        page.click("form:has(input[name=token]) button[type=submit]")
        page.wait_for_url(f"{base}/map/edit/farmland")
        page.wait_for_function("window.pmEditor && pmEditor.loaded && pmEditor.projects.getLayers().length > 10")
        page.fill("#pm-token", token)

        point = _inside("430321")
        page.evaluate("([lat, lon]) => pmEditor.map.setView([lat, lon], 15, { animate: false })", [point.y, point.x])
        page.wait_for_timeout(300)
        page.click("#pm-new")
        corners = _square(point, 0.002)
        _click_vertices(page, corners)
        page.fill("input[name=name]", "浏览器绘制的农田项目")
        page.select_option("select[name=status]", "planned")
        page.fill("input[name=owner]", "湘潭县农业农村局 <b>测试</b>")
        page.click("#pm-save")
        _wait_result(page)
        assert "pm-ok" in page.get_attribute("#pm-result", "class"), page.text_content("#pm-result")
        fid = page.evaluate("pmEditor.current().id")

        got = httpx.get(f"{base}/collections/farmland/items/{fid}").json()
        assert got["properties"]["name"] == "浏览器绘制的农田项目" and got["properties"]["county"] == "430321"
        assert got["properties"]["owner"] == "湘潭县农业农村局 <b>测试</b>"
        drawn = shapely.Polygon(corners)
        saved = shape(got["geometry"])
        # The clicks land on screen pixels (about 4 m at zoom 15): every vertex within about 10 m of the square's.
        assert saved.hausdorff_distance(drawn) < 1e-4 and len(shapely.get_coordinates(saved)) == 5
        assert page.locator("#pm-result b").count() == 0  # user text is shown as text, never as markup

        page.fill("input[name=ponds]", "5")
        page.click("#pm-save")
        page.wait_for_function(
            "document.getElementById('pm-result').className.indexOf('pm-ok') >= 0 && "
            "document.getElementById('pm-result').textContent.indexOf('FL-') >= 0"
        )
        page.wait_for_timeout(300)
        assert httpx.get(f"{base}/collections/farmland/items/{fid}").json()["properties"]["ponds"] == 5

        page.select_option("select[name=county]", "430381")
        page.click("#pm-save")
        _wait_result(page)
        message = page.text_content("#pm-result")
        assert "422" in message and "湘乡市" in message and "outside" in message
        assert httpx.get(f"{base}/collections/farmland/items/{fid}").json()["properties"]["county"] == "430321"
        assert not outside and not errors, (outside, errors)
    finally:
        context.close()
