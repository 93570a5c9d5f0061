"""Public project pages (/p/{layer}/{id}) and their QR codes, on both stores."""

import datetime as dt
import io
import math

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from geo.storage.base import HistoryEntry
from layers.tokens import create_token
from server.settings import SecuritySettings

SECRET_NOTE = "内部备注:资金缺口待协调"
SECRET_AUTHOR = "zhou.internal"


def numbers(value):
    """Every way an investment figure could be written on a page."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return [f"{float(value):g}", f"{float(value):.1f}", f"{float(value):.2f}", str(value)]


@pytest.fixture
def project(writable_store):
    row = writable_store.read("farmland", limit=1).iloc[0]
    entry = HistoryEntry("farmland", row["id"], dt.date(2025, 6, 1), "in_progress", 40.0, SECRET_NOTE, SECRET_AUTHOR)
    writable_store.record_progress(entry, {"status": "in_progress", "progress_pct": 40.0})
    return writable_store.get("farmland", row["id"]).iloc[0]


def test_public_page_shows_public_facts_only(writable_client, writable_store, project):
    token = create_token(writable_store, "li", "planner")
    url = f"/p/farmland/{project['id']}"
    assert numbers(project["investment_wan"]) and numbers(project["investment_done_wan"])  # there is something to leak
    for headers in ({}, {"Authorization": f"Bearer {token}"}):  # a planner sees the same public page
        page = writable_client.get(url, headers=headers)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert '<html lang="zh-CN">' in html and project["name"] in html and "在建" in html and ">40.0<" in html
        assert "content-security-policy" in page.headers
        for field in ("investment_wan", "investment_done_wan"):
            for text in numbers(project[field]):
                assert text not in html, (field, text)
        assert "investment" not in html and "投资" not in html
        assert SECRET_NOTE not in html and SECRET_AUTHOR not in html and "photo" not in html.lower()
        assert "https://" not in html.replace("https://testserver", "")  # no CDN: every asset is planmap's


def test_qr_code_decodes_to_the_page_url(writable_client, project):
    url = f"/p/farmland/{project['id']}"
    png = writable_client.get(f"{url}/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)).convert("L"))
    assert [d.text for d in decoded] == [f"http://testserver{url}"]
    assert decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    svg = writable_client.get(f"{url}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg") and "<path" in svg.text


def test_qr_code_uses_the_configured_public_address(writable_store_url, project):
    from server.main import create_app

    settings = writable_store_url.settings()
    settings.security = SecuritySettings(public_base_url="https://planmap.xiangtan.example/")
    with TestClient(create_app(settings)) as client:
        png = client.get(f"/p/farmland/{project['id']}/qr.png").content
        page = client.get(f"/p/farmland/{project['id']}").text
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [d.text for d in decoded] == [f"https://planmap.xiangtan.example/p/farmland/{project['id']}"]
    assert f"https://planmap.xiangtan.example/p/farmland/{project['id']}" in page


def test_public_pages_can_be_switched_off(writable_store_url, project):
    from server.main import create_app

    settings = writable_store_url.settings()
    settings.security = SecuritySettings(public_pages=False)
    with TestClient(create_app(settings)) as client:
        for suffix in ("", "/qr.png", "/qr.svg"):
            assert client.get(f"/p/farmland/{project['id']}{suffix}").status_code == 404


def test_public_pages_need_no_sign_in_on_a_private_server(app_factory, writable_store_url, project):
    with TestClient(app_factory(writable_store_url, public_reads=False)) as client:
        assert client.get("/collections/farmland/items").status_code == 401
        assert client.get(f"/p/farmland/{project['id']}").status_code == 200


def test_unknown_projects_and_context_layers_have_no_page(writable_client, project):
    assert writable_client.get("/p/farmland/NO-SUCH-ID").status_code == 404
    assert writable_client.get("/p/no-such-layer/x").status_code == 404
    assert writable_client.get("/p/counties/430302").status_code == 404
    assert writable_client.get(f"/p/farmland/{project['id']}/qr.gif").status_code in (400, 404, 422)
