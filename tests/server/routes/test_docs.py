"""API documentation works offline: Swagger UI assets come from planmap itself."""

import re


def test_swagger_ui_loads_only_local_assets(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert not re.search(r"https?://", page.text)
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200 and len(got.content) > 100, asset
    assert "openapi.json" in page.text and client.get("/openapi.json").json()["info"]["title"] == "planmap"


def test_favicon(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and b"<svg" in icon.content
