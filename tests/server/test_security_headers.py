"""Every HTML page (and every other answer) carries the security headers; inline scripts carry the nonce."""

import re
import time

import pytest
from fastapi.testclient import TestClient

from layers.accounts import create_user
from layers.tokens import create_token

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", re.I)


@pytest.fixture
def signed_in(writable_client, writable_store):
    create_user(writable_store, "root", role="admin", password="admin password", actor="t", clock=time.time)
    client = TestClient(writable_client.app)
    client.post("/login", data={"user": "root", "password": "admin password"}, follow_redirects=False)
    return client


def html_routes(client) -> list[str]:
    fid = client.app.state.store.read("farmland", limit=1)["id"].iloc[0]
    return [
        "/?f=html",
        "/conformance?f=html",
        "/collections?f=html",
        "/collections/farmland?f=html",
        "/collections/farmland/queryables?f=html",
        "/collections/farmland/items?f=html",
        f"/collections/farmland/items/{fid}?f=html",
        "/map",
        "/map?lang=en",
        "/map/progress?layer=farmland",
        "/map/nearby?lon=112.9454&lat=27.8313&radius_m=5000",
        "/map/layers/reservoirs",
        f"/map/report/farmland/{fid}",
        "/login",
        "/docs",
        f"/p/farmland/{fid}",
        "/admin/users",
        "/audit?f=html",
        "/audit/access?f=html",
    ]


def test_every_html_page_has_the_policy_and_nonced_scripts(signed_in):
    for url in html_routes(signed_in):
        r = signed_in.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), (url, r.status_code)
        csp = r.headers["content-security-policy"]
        nonce = re.search(r"script-src 'self' 'nonce-([\w-]+)'", csp).group(1)
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], url
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "default-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        for attrs in INLINE_SCRIPT.findall(r.text):
            assert f'nonce="{nonce}"' in attrs, (url, attrs)
        assert "onerror=" not in r.text and "onclick=" not in r.text and "onload=" not in r.text, url


def test_nonces_differ_per_response_and_errors_carry_the_headers(writable_client, writable_store):
    a, b = writable_client.get("/map"), writable_client.get("/map")
    assert a.headers["content-security-policy"] != b.headers["content-security-policy"]
    for r in (
        writable_client.get("/collections/nope/items"),  # 404 from a handler
        writable_client.get("/collections", headers={"Authorization": "Bearer pm_forged"}),  # 401 from middleware
        writable_client.get("/x" * 5000),  # 414 from the request limits
        writable_client.get("/collections/farmland/items?limit=1"),  # JSON
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.status_code
        assert "content-security-policy" in r.headers and r.headers["x-frame-options"] == "DENY"


def test_tianditu_hosts_are_allowed_only_with_a_key(writable_store_url):
    from server.main import create_app
    from server.settings import MapSettings

    settings = writable_store_url.settings()
    with TestClient(create_app(settings)) as client:
        assert "tianditu" not in client.get("/map").headers["content-security-policy"]
    settings.maps = MapSettings(tianditu_key="k")
    with TestClient(create_app(settings)) as client:
        assert "https://*.tianditu.gov.cn" in client.get("/map").headers["content-security-policy"]


def test_token_holders_get_the_headers_too(writable_client, writable_store):
    token = create_token(writable_store, "li", "planner")
    r = writable_client.get("/audit?f=html", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "content-security-policy" in r.headers
