"""The plans admin page in Chromium: a planner signs in, copies 2025 into a 2026 draft, changes a target and a
county quota, saves, and the stored plan says so; a stale page's save is refused with the server's message."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user
from layers.plans import get_plan, replace_plan

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium(tmp_path / "chromium-profile", {"width": 1400, "height": 1000})
    yield context
    context.close()


PASSWORD = "planner password 2026"


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


def test_planner_copies_and_edits_a_plan(browser, writable_gpkg, app_factory, serve):
    with GeoPackageStore(writable_gpkg) as store:
        create_user(store, "li", role="planner", password=PASSWORD, actor="test", clock=time.time)
    with serve(app_factory(writable_gpkg, public_reads=False)) as base:
        page, errors, requests = sign_in(browser, base, "li", "/admin/plans")
        page.click("button.copy[data-year='2025']")
        page.wait_for_selector("tr[data-year='2026']")
        page.click("button.edit[data-year='2026']")
        page.wait_for_selector("#targets tbody tr[data-layer='farmland']")
        assert page.text_content("#ed-year") == "2026"
        row = page.locator("#targets tbody tr[data-layer='farmland']")
        row.locator("input.value").fill("80000")
        row.locator("input.quota[data-county='430321']").fill("40000")
        assert row.locator(".quota-sum").text_content() == "95000"
        page.fill("#ed-title", "湘潭市2026年重点目标 <b>草案</b>")
        page.click("#save")
        page.wait_for_selector("#message:has-text('version 2')")
        with GeoPackageStore(writable_gpkg) as store:
            stored = get_plan(store, 2026)
        farmland = stored.plan.target("farmland")
        assert stored.version == 2 and farmland.value == 80000 and farmland.quotas["430321"] == 40000
        assert stored.plan.title_zh == "湘潭市2026年重点目标 <b>草案</b>" and stored.updated_by == "li"
        page.wait_for_selector("#history li:nth-child(2)")  # the history is fetched again after the save
        assert page.locator("#history li").count() == 2

        # someone else saves first: this page's save is refused and says why, nothing is written
        with GeoPackageStore(writable_gpkg) as store:
            replace_plan(store, 2026, stored.plan, 2, "wu")
        row.locator("input.value").fill("1")
        page.click("#save")
        page.wait_for_selector("#message:has-text('未保存')")
        assert "changed" in page.text_content("#message")
        with GeoPackageStore(writable_gpkg) as store:
            assert get_plan(store, 2026).plan.target("farmland").value == 80000
        page.goto(f"{base}/admin/plans", wait_until="networkidle")
        assert "<b>" not in page.inner_html("#plan-list").replace("&lt;b&gt;", "")  # the title is shown as text
        assert errors == []
        assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests if u.startswith("http"))
