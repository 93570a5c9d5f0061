"""The import page in Chromium: a planner uploads a CSV with another status vocabulary and rows outside the city,
maps the columns and a status value with the drop-downs, skips the bad rows, reads the dry-run report in Chinese,
reloads the page, commits and watches the progress reach done; the store then holds the rows as mapped."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pandas as pd
import pytest

from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user

pytestmark = pytest.mark.browser

PASSWORD = "planner password 2026"

LAYER = "emergency-stations"
HOSTILE = '<img src="x" onerror="document.title=\'pwned\'">应急站'


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium(tmp_path / "chromium-profile", {"width": 1400, "height": 1100})
    yield context
    context.close()


def sign_in(context, base: str, user: str, path: str):
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{base}{path}", wait_until="networkidle")
    assert urlsplit(page.url).path == "/login"
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#pm-login-password")
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == path
    return page, errors, requests


def station_file(gpkg, folder):
    with GeoPackageStore(gpkg) as store:
        stored = store.read(LAYER).sort_values("id").head(5).reset_index(drop=True)
    table = pd.DataFrame(
        {
            "编号": stored["id"],
            "站名": [HOSTILE, "二号站", "三号站", "四号站", "五号站"],
            "建设状态": ["建设中", "建设中", "规划", "建设中", "建设中"],
            "经度": stored.geometry.x.round(7),
            "纬度": stored.geometry.y.round(7),
        }
    )
    table.loc[3:4, ["经度", "纬度"]] = (121.47, 31.23)  # Shanghai: outside the city
    path = folder / "应急站台账.csv"
    table.to_csv(path, index=False, encoding="utf-8-sig")
    return path, stored


def test_planner_maps_dry_runs_and_commits_an_import(browser, writable_gpkg, app_factory, serve, tmp_path):
    with GeoPackageStore(writable_gpkg) as store:
        create_user(store, "li", role="planner", password=PASSWORD, actor="test", clock=time.time)
    path, stored = station_file(writable_gpkg, tmp_path)
    with serve(app_factory(writable_gpkg, public_reads=False)) as base:
        page, errors, requests = sign_in(browser, base, "li", "/admin/import")
        page.select_option("#target", LAYER)
        page.set_input_files("#file", str(path))
        page.click("#upload")
        page.wait_for_selector("#mapping tbody tr[data-column='建设状态']")
        assert page.text_content("#i-format") == "csv" and page.text_content("#i-rows") == "5"
        assert "OGC:CRS84" in page.text_content("#i-crs")
        page.wait_for_selector("#preview-map path.leaflet-interactive")
        assert page.locator("#preview-map path.leaflet-interactive").count() == 5
        assert "2 行在湘潭市范围外" in page.text_content("#outside-count")
        # the file's text is shown as text: the name with markup is neither parsed nor run
        assert page.text_content("#mapping tr[data-column='站名'] td:nth-child(2)") == HOSTILE
        assert page.locator("img[src='x']").count() == 0

        page.select_option("#mapping tr[data-column='站名'] select.pm-field", "name")
        page.select_option("#mapping tr[data-column='建设状态'] select.pm-field", "status")
        page.wait_for_selector("#values tr[data-value='建设中']")
        assert page.text_content("#values-column") == "建设状态"
        page.select_option("#values tr[data-value='建设中'] select.pm-status", "in_progress")
        page.select_option("#on-invalid", "skip")
        page.click("#dry-run")
        page.wait_for_selector("#summary:has-text('试导入')")
        assert page.text_content("#c-updated") == "2" and page.text_content("#c-skipped") == "3"
        reasons = page.text_content("#issues tbody")
        assert "位于湘潭市范围外" in reasons and "'规划' 不是可选值" in reasons
        assert page.get_attribute("#skipped-csv", "href").endswith("/skipped.csv")
        assert page.is_visible("#skipped-csv")

        page.reload(wait_until="networkidle")  # the job survives a reload
        page.wait_for_selector("#summary:has-text('试导入')")
        assert page.input_value("#on-invalid") == "skip"
        assert page.input_value("#values tr[data-value='建设中'] select.pm-status") == "in_progress"
        page.click("#commit")
        page.wait_for_selector("#result:has-text('导入完成')")
        assert page.get_attribute("#progress", "value") == "100"
        assert page.text_content("#progress-text") == "完成：5 / 5 行"

        items = page.request.get(f"{base}/collections/{LAYER}/items?limit=1000").json()
        served = {f["id"]: f["properties"] for f in items["features"]}
        first, second = served[stored["id"][0]], served[stored["id"][1]]
        assert first["status"] == "in_progress" and first["name"] == HOSTILE
        assert second["status"] == "in_progress" and second["name"] == "二号站"
        for n in (2, 3, 4):  # skipped rows leave their features as they were
            assert served[stored["id"][n]]["name"] == stored["name"][n]
        assert page.title() != "pwned" and errors == []
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests if u.startswith("http"))
