"""Review in a real browser: a field report waits (待审核) until a planner approves it on /review."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user
from layers.review import review_required

pytestmark = pytest.mark.browser

PASSWORD = "review flow password"
LAYER = "emergency-stations"  # the demo plan requires review on this layer


@pytest.fixture
def setup(writable_gpkg):
    with GeoPackageStore(writable_gpkg) as store:
        assert review_required(store, LAYER)
        feat = store.read(LAYER, Filter(equals={"status": "in_progress"}), limit=1).iloc[0]
        create_user(
            store, "zhou", role="field", counties=[feat["county"]], password=PASSWORD, actor="t", clock=time.time
        )
        create_user(store, "wu", role="planner", password=PASSWORD, actor="t", clock=time.time)
    return feat


@pytest.fixture
def browser(chromium, tmp_path):
    context = chromium(tmp_path / "chromium-profile", {"width": 390, "height": 844})
    yield context
    context.close()


def sign_in(page, user: str) -> None:
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#pm-login-password")
    page.wait_for_load_state("networkidle")


def done_features(base: str) -> int:
    return int(httpx.get(f"{base}/progress/{LAYER}").json()["done_features"])


def test_field_report_waits_for_a_planner_then_counts(browser, setup, writable_gpkg, app_factory, serve):
    feat = setup
    errors: list[str] = []
    with serve(app_factory(writable_gpkg)) as base:
        before = done_features(base)
        page = browser.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/map/report/{LAYER}/{feat['id']}", wait_until="networkidle")
        assert page.locator("#pm-review-needed").count() == 1
        page.click("#pm-sign-in")
        page.wait_for_load_state("networkidle")
        sign_in(page, "zhou")
        page.select_option("select[name=status]", value="completed")
        page.fill("textarea[name=note]", "站房完工,待验收")
        page.click("#pm-submit")
        page.wait_for_function("() => document.getElementById('pm-result').textContent.startsWith('待审核')")
        assert page.text_content("#pm-review-status") == "待审核"
        assert page.text_content("#pm-current-status") == "在建"  # nothing counts yet
        assert done_features(base) == before
        page.reload(wait_until="networkidle")
        assert page.text_content("#pm-review-status") == "待审核"
        page.click(".pm-signed-in button")
        page.wait_for_load_state("networkidle")

        page.goto(f"{base}/login?next=/review", wait_until="networkidle")
        sign_in(page, "wu")
        assert urlsplit(page.url).path == "/review", page.url
        row = page.locator(f"#pm-review tr[data-feature='{feat['id']}']")
        assert row.count() == 1 and "站房完工" in row.text_content()
        row.locator("input[type=checkbox]").check()
        page.click("#pm-approve")
        page.wait_for_load_state("networkidle")
        assert "已通过" in page.text_content("#pm-review-results")
        assert done_features(base) == before + 1
        page.goto(f"{base}/map/report/{LAYER}/{feat['id']}", wait_until="networkidle")
        assert page.text_content("#pm-current-status") == "已建成"
    assert errors == []
