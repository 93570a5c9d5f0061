"""The field report page: its form, its statuses in Chinese, local assets only, and its 404s."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user


class _Form(HTMLParser):
    """Collect form controls, status options and every src/href of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, str | None]] = {}
        self.options: list[str] = []
        self.urls: list[str] = []
        self._option: dict[str, str | None] | None = None
        self.labels: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea") and (attrs.get("name") or attrs.get("id")):
            self.controls[attrs.get("name") or attrs["id"]] = attrs
        if tag == "option":
            self._option = attrs
        for key in ("src", "href", "action"):
            if attrs.get(key):
                self.urls.append(attrs[key])

    def handle_data(self, data):
        if self._option is not None and data.strip():
            self.labels[self._option["value"]] = data.strip()
            self.options.append(self._option["value"])
            self._option = None


@pytest.fixture
def report_client(writable_gpkg, app_factory):
    """A client signed in as a planner (the form is shown to signed-in people only)."""
    with GeoPackageStore(writable_gpkg) as store:
        create_user(store, "li", role="planner", password="planner password", actor="test", clock=time.time)
    with TestClient(app_factory(writable_gpkg)) as test_client:
        signed = test_client.post("/login", data={"user": "li", "password": "planner password"}, follow_redirects=False)
        assert signed.status_code == 303
        yield test_client


def first(client, layer, **equals):
    return client.app.state.store.read(layer, Filter(equals=equals), limit=1).iloc[0]


def parse(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


def test_project_report_page_has_the_form_and_chinese_statuses(report_client):
    feat = first(report_client, "farmland", status="in_progress")
    r = report_client.get(f"/map/report/farmland/{feat['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "上报进度" in r.text
    assert feat["name"] in r.text and feat["county_name"] in r.text
    form = parse(r.text)
    assert {"status", "percent", "date", "note", "photo", "csrf_token"} <= set(form.controls)
    assert "pm-token" not in form.controls  # no token is pasted or kept in the browser any more
    assert not {"DO", "CODMn", "NH3N", "TP"} & set(form.controls)
    assert form.labels == {"planned": "未开工", "in_progress": "在建", "completed": "已完成"}
    assert re.search(r'<option value="in_progress" selected>在建</option>', r.text)
    assert form.controls["percent"]["value"] == f"{float(feat['progress_pct']):g}"
    assert form.controls["date"]["value"] == date.today().isoformat()
    assert form.controls["photo"]["accept"] == "image/*" and form.controls["photo"]["capture"] == "environment"
    assert re.search(r'data-csrf="[\w-]{40,}"', r.text) and r.headers["cache-control"] == "no-store"
    assert 'data-item="/collections/farmland/items/' + feat["id"] + '"' in r.text
    messages = json.loads(re.search(r'id="pm-report-messages">(.*?)</script>', r.text, re.S).group(1))
    assert messages["statuses"]["completed"] == "已完成" and "区县" in messages["e403"]
    assert "/static/planmap/report.js" in form.urls
    # every asset is local; the only outside links hand the destination to the phone's map apps
    handoff = ("https://uri.amap.com/navigation?", "https://api.map.baidu.com/marker?", "geo:")
    outside = [u for u in form.urls if not u.startswith("/")]
    assert len(outside) == 3 and all(u.startswith(handoff) for u in outside), outside
    assert "http://" not in r.text and r.text.count("https://") == 2


def test_signed_out_the_page_links_to_sign_in_and_has_no_form(client):
    feat = first(client, "farmland", status="in_progress")
    r = client.get(f"/map/report/farmland/{feat['id']}")
    assert r.status_code == 200 and feat["name"] in r.text
    form = parse(r.text)
    assert "status" not in form.controls and "report.js" not in r.text and "data-csrf" not in r.text
    assert f"/login?next=%2Fmap%2Freport%2Ffarmland%2F{feat['id']}" in form.urls


def test_english_page_and_road_status_labels(report_client):
    feat = first(report_client, "transport-links")
    zh = parse(report_client.get(f"/map/report/transport-links/{feat['id']}").text)
    assert zh.labels["completed"] == "已通车"
    en = report_client.get(f"/map/report/transport-links/{feat['id']}", params={"lang": "en"})
    assert '<html lang="en">' in en.text and "Report progress" in en.text
    assert parse(en.text).labels == {"planned": "Planned", "in_progress": "In progress", "completed": "Open"}


def test_water_section_page_asks_for_readings(report_client):
    feat = first(report_client, "water-sections")
    r = report_client.get(f"/map/report/water-sections/{feat['id']}")
    assert r.status_code == 200
    form = parse(r.text)
    assert {"DO", "CODMn", "NH3N", "TP", "date", "note", "photo"} <= set(form.controls)
    assert "status" not in form.controls and "percent" not in form.controls
    assert 'data-water="true"' in r.text and "水质监测值" in r.text


def test_unknown_collection_feature_and_context_layer(report_client):
    for url, code in (
        ("/map/report/nope/farmland-0001", 404),
        ("/map/report/farmland/farmland-99999", 404),
        ("/map/report/counties/430302", 400),
    ):
        r = report_client.get(url)
        assert r.status_code == code, (url, r.text)
        body = r.json()
        assert body["status"] == code and body["code"] and body["description"]


def test_pages_link_to_the_report_form(report_client):
    feat = first(report_client, "farmland", county="430321")
    layer_page = report_client.get("/map/layers/farmland").text
    assert f'href="/map/report/farmland/{feat["id"]}"' in layer_page and "上报进度" in layer_page
    item = report_client.get(f"/collections/farmland/items/{feat['id']}", params={"f": "html"}).text
    assert f'href="/map/report/farmland/{feat["id"]}"' in item
    point = report_client.app.state.store.get("farmland", feat["id"]).geometry.iloc[0].representative_point()
    nearby = report_client.get("/map/nearby", params={"lon": point.x, "lat": point.y, "radius_m": 500}).text
    assert f'href="/map/report/farmland/{feat["id"]}"' in nearby
    counties = report_client.get("/map/layers/counties").text
    assert "/map/report/" not in counties
