"""Hostile names are inert in a real browser, and every page runs under its Content-Security-Policy.

Feature names carrying script are stored in the data; the public page, the item page, the report page
and the map popups must show them as text: no dialog opens, no injected element appears, and Chromium
reports no CSP violation (which would mean a script of planmap's own lacks its nonce).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user

pytestmark = pytest.mark.browser

PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def hostile_gpkg(writable_gpkg):
    """The demo data with two reservoirs renamed to script payloads; returns the path and their ids."""
    with GeoPackageStore(writable_gpkg) as store:
        frame = store.read("reservoirs")
        ids = list(frame["id"].iloc[:2])
        for fid, payload in zip(ids, PAYLOADS, strict=True):
            frame.loc[frame["id"] == fid, "name"] = payload
        store.write_layer("reservoirs", frame, types=store.columns("reservoirs"))
        create_user(store, "li", role="planner", password="planner password", actor="test", clock=time.time)
    return writable_gpkg, ids


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium(tmp_path / "chromium-profile", {"width": 1000, "height": 800})
    yield context
    context.close()


class Watch:
    """A page with every dialog, console error and request it produced."""

    def __init__(self, context) -> None:
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, url: str) -> Watch:
        self.page.goto(url, wait_until="networkidle")
        return self

    def assert_inert(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.page.evaluate("document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
        assert [e for e in self.errors if "Content Security Policy" in e or "Content-Security-Policy" in e] == []
        assert [u for u in self.requests if urlsplit(u).hostname != "127.0.0.1"] == []


def test_hostile_names_are_text_on_every_page(browser, hostile_gpkg, app_factory, serve):
    path, ids = hostile_gpkg
    with serve(app_factory(path)) as base:
        for fid, payload in zip(ids, PAYLOADS, strict=True):
            public = Watch(browser).open(f"{base}/p/reservoirs/{fid}")
            assert public.page.text_content("#pm-public-name") == payload
            assert public.page.locator("#pm-public-map .leaflet-tile-loaded").count() > 0  # the map drew
            assert public.page.locator("#pm-public-map path").count() >= 1
            public.assert_inert()
            assert public.errors == [], public.errors
            if fid == ids[1]:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                public.page.screenshot(path=str(ARTIFACTS / "public_page.png"), full_page=True)

            item = Watch(browser).open(f"{base}/collections/reservoirs/items/{fid}?f=html")
            assert payload in item.page.text_content("main")
            item.assert_inert()

            report = Watch(browser).open(f"{base}/map/report/reservoirs/{fid}")
            assert report.page.text_content("#pm-name") == payload
            report.assert_inert()

        popup = Watch(browser).open(f"{base}/map?layers=reservoirs")
        features = popup.page.evaluate("fetch('/map/data/reservoirs').then(r => r.json())")["features"]
        for fid, payload in zip(ids, PAYLOADS, strict=True):
            index = next(i for i, f in enumerate(features) if f["properties"]["id"] == fid)
            popup.page.locator("path.pm-reservoirs").nth(index).dispatch_event("click")
            content = popup.page.locator(".leaflet-popup-content .pm-popup-name").last
            content.wait_for()
            assert content.inner_text() == payload
            popup.assert_inert()
        assert popup.errors == [], popup.errors


def test_signed_in_pages_and_the_api_docs_run_under_the_policy(browser, hostile_gpkg, app_factory, serve):
    """Pages with the most scripts (maps, Swagger UI, the admin page) raise no CSP violation."""
    path, ids = hostile_gpkg
    with serve(app_factory(path)) as base:
        login = Watch(browser).open(f"{base}/login?next=/audit%3Ff%3Dhtml")
        login.page.fill("input[name=user]", "li")
        login.page.fill("input[name=password]", "planner password")
        login.page.click("#pm-login-password")
        login.page.wait_for_load_state("networkidle")
        assert urlsplit(login.page.url).path == "/audit"
        for url in (
            "/map",
            "/map/progress?layer=reservoirs",
            "/docs",
            "/audit/access?f=html",
            f"/p/reservoirs/{ids[0]}",
        ):
            seen = Watch(browser).open(base + url)
            seen.assert_inert()
            assert seen.errors == [], (url, seen.errors)
        docs = Watch(browser).open(base + "/docs")
        # Swagger UI's inline start-up script ran (it builds #swagger-ui's content) under the nonce.
        docs.page.wait_for_selector("#swagger-ui .swagger-ui", timeout=20_000)
