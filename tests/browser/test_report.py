"""The field report page in a real browser (Debian's chromium via Playwright) against a real uvicorn server.

A field team member signs in with a password, reports a project completed through the session (with the
page's CSRF token) and sees the result in Chinese; the report lands in the store's current state and
history. A member for another county gets the 403 message.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user
from layers.tokens import create_token

pytestmark = pytest.mark.browser

NOTE = "浏览器上报:主体工程完工"
PASSWORD = "field team password"


@pytest.fixture
def field_setup(writable_gpkg):
    """A project in progress, a field account for its county and one for another county."""
    with GeoPackageStore(writable_gpkg) as store:
        feat = store.read("farmland", Filter(equals={"status": "in_progress"}), limit=1).iloc[0]
        other = next(c for c in store.read("counties")["id"] if c != feat["county"])
        for name, county in (("zhao", feat["county"]), ("qian", other)):
            create_user(store, name, role="field", counties=[county], password=PASSWORD, actor="test", clock=time.time)
    return feat


@pytest.fixture
def browser(chromium, tmp_path):
    """A phone-sized Chromium context with a fresh profile."""
    context = chromium(tmp_path / "chromium-profile", {"width": 390, "height": 844})
    yield context
    context.close()


def open_page(context, url: str):
    page = context.new_page()
    seen: dict[str, list[str]] = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.goto(url, wait_until="networkidle")
    return page, seen


def sign_in(page, user: str) -> None:
    """Follow the report page's sign-in link, sign in, and come back to the report page."""
    page.click("#pm-sign-in")
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/login"
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#pm-login-password")
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path.startswith("/map/report/"), page.url


def sign_out(page) -> None:
    page.click(".pm-signed-in button")
    page.wait_for_load_state("networkidle")


def submit(page) -> str:
    page.select_option("select[name=status]", label="已完成")
    assert page.input_value("input[name=percent]") == "100"  # completed means 100 %
    page.fill("input[name=percent]", "100")
    page.fill("textarea[name=note]", NOTE)
    page.click("#pm-submit")
    page.wait_for_function(
        "() => { const r = document.getElementById('pm-result'); return r.className.match(/pm-(ok|error)/)"
        " && r.textContent !== JSON.parse(document.getElementById('pm-report-messages').textContent).sending; }"
    )
    return page.text_content("#pm-result")


def test_field_report_in_the_browser(browser, field_setup, writable_gpkg, app_factory, serve):
    feat = field_setup
    with serve(app_factory(writable_gpkg)) as base:
        page, seen = open_page(browser, f"{base}/map/report/farmland/{feat['id']}")
        assert page.text_content("#pm-name") == feat["name"]
        assert page.text_content("#pm-current-status") == "在建"
        assert page.locator("#pm-report-form").count() == 0  # signed out: a sign-in link, no form

        sign_in(page, "qian")
        refused = submit(page)
        assert "无权上报" in refused and "pm-error" in page.get_attribute("#pm-result", "class")
        # the browser logs the refused request itself; anything else would be a page error
        network = [e for e in seen["errors"] if "status of 403" in e]
        seen["errors"] = [e for e in seen["errors"] if e not in network]
        assert len(network) == 1, network
        sign_out(page)

        page.goto(f"{base}/map/report/farmland/{feat['id']}", wait_until="networkidle")
        sign_in(page, "zhao")
        assert page.text_content("#pm-user") == "zhao"
        done = submit(page)
        assert done.startswith("上报成功") and "已完成" in done and "100%" in done, done
        assert page.text_content("#pm-current-status") == "已完成"
        assert page.evaluate("localStorage.length") == 0  # nothing secret is kept in the browser's storage
        cookies = {c["name"]: c for c in browser.cookies()}
        assert cookies["planmap_session"]["httpOnly"] and cookies["planmap_session"]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""  # the session id is out of the scripts' reach

        page.reload(wait_until="networkidle")  # still signed in
        assert page.text_content("#pm-current-status") == "已完成"

    assert [u for u in seen["requests"] if urlsplit(u).hostname != "127.0.0.1"] == []
    assert seen["errors"] == [], seen["errors"]
    assert any(u.endswith(f"/items/{feat['id']}/progress") for u in seen["requests"])
    with GeoPackageStore(writable_gpkg) as store:
        now = store.get("farmland", feat["id"]).iloc[0]
        history = store.history("farmland", [feat["id"]])
    assert now["status"] == "completed" and now["progress_pct"] == 100
    last = history.sort_values("seq").iloc[-1]
    assert last["note"] == NOTE and last["status"] == "completed" and last["author"] == "zhao"
    assert (history["author"] == "qian").sum() == 0  # the refused report left no trace


def test_private_server_sign_in_then_the_plan_map_draws(browser, writable_gpkg, app_factory, serve):
    """With public reads off, a browser is sent to /login, signs in once, and the map's data requests pass."""
    with GeoPackageStore(writable_gpkg) as store:
        token = create_token(store, "sun", "viewer")
        expected = store.count("reservoirs")
    with serve(app_factory(writable_gpkg, public_reads=False)) as base:
        page, seen = open_page(browser, f"{base}/map?layers=reservoirs")
        assert urlsplit(page.url).path == "/login"
        page.fill("input[name=token]", "pm_forged")
        page.click("form:has(input[name=token]) button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "令牌无效" in page.text_content("[role=alert]")
        seen["errors"] = [e for e in seen["errors"] if "status of 401" not in e]  # the refused sign-in itself
        page.fill("input[name=token]", token)
        page.click("form:has(input[name=token]) button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert urlsplit(page.url).path == "/map" and urlsplit(page.url).query == "layers=reservoirs"
        page.wait_for_function(f"document.querySelectorAll('path.pm-reservoirs').length === {expected}")
        assert not seen["errors"], seen["errors"]
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen["requests"] if u.startswith("http"))


def test_answer_lost_after_commit_is_replayed_with_the_same_key(
    browser, field_setup, writable_gpkg, app_factory, serve
):
    feat = field_setup
    with serve(app_factory(writable_gpkg)) as base:
        page, seen = open_page(browser, f"{base}/map/report/farmland/{feat['id']}")
        sign_in(page, "zhao")
        keys, lost = [], []

        def lose_first_answer(route):
            keys.append(route.request.headers.get("idempotency-key"))
            response = route.fetch()  # the server records the report...
            if not lost:
                lost.append(response.status)
                route.abort("connectionreset")  # ...but the phone never hears back
            else:
                route.fulfill(response=response)

        page.route("**/progress", lose_first_answer)
        first = submit(page)
        assert "pm-error" in page.get_attribute("#pm-result", "class"), first
        page.click("#pm-submit")  # the user taps again: same report, same key
        page.wait_for_function("() => document.getElementById('pm-current-status').textContent === '已完成'")
        assert "pm-ok" in page.get_attribute("#pm-result", "class")
        assert lost == [200] and len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 36
        assert page.text_content("#pm-current-status") == "已完成"
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in seen["requests"])
    with GeoPackageStore(writable_gpkg) as store:
        history = store.history("farmland", [feat["id"]])
        assert (history["note"] == NOTE).sum() == 1
        assert store.report_reply("farmland", keys[0]).seq == int(history["seq"].max())
