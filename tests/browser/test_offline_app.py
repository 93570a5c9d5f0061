"""The field app offline, in a real browser (Debian's chromium, service workers on) against a real server.

A field team member downloads 韶山市 for offline use, loses the network, finds a project on the nearby page,
makes two reports (one with a photo), reloads (待发送 2), and gets the network back: each report is in the
project's history exactly once. A report whose answer is lost after the commit is replayed under the same
key; a report overtaken by a newer one waits in 需处理 and is never dropped. No request leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from geo.storage.base import Filter
from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user
from layers.tokens import create_token

pytestmark = pytest.mark.browser

PASSWORD = "offline field password"
COUNTY = "430382"  # 韶山市: the smallest county, so the download stays quick
QUEUED = "暂时无法发送"


@pytest.fixture
def setup(writable_gpkg):
    """A farmland project in progress (below 50 %) in 韶山市, a field user there and an API token."""
    with GeoPackageStore(writable_gpkg) as store:
        frame = store.read("farmland", Filter(equals={"county": COUNTY, "status": "in_progress"}))
        feat = frame[frame["progress_pct"] < 50].sort_values("id").iloc[0]
        create_user(store, "zhao", role="field", counties=[COUNTY], password=PASSWORD, actor="t", clock=time.time)
        token = create_token(store, "qian", "field", [COUNTY])
    point = feat.geometry.representative_point()
    return {"id": feat["id"], "lon": point.x, "lat": point.y, "token": token}


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: ``PLANMAP_SCREENSHOTS`` when set (kept for a look), else the test's tmp dir."""
    target = Path(os.environ.get("PLANMAP_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def phone(chromium, tmp_path):
    """A phone-sized Chromium context (service workers allowed) recording every request it makes."""
    context = chromium(tmp_path / "chromium-profile", {"width": 390, "height": 844}, service_workers="allow")
    seen: dict[str, list[str]] = {"requests": [], "errors": []}
    context.on("request", lambda request: seen["requests"].append(request.url))
    yield context, seen
    context.close()
    outside = [u for u in seen["requests"] if u.startswith("http") and urlsplit(u).hostname != "127.0.0.1"]
    assert outside == []


TAKEN = "2026:12:01 09:30:00"


def _jpeg() -> bytes:
    """A 2400x1800 camera-like JPEG with its capture time in EXIF (DateTimeOriginal) and an upright orientation."""
    exif = Image.Exif()
    exif[0x0112] = 1
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    out = io.BytesIO()
    Image.new("RGB", (2400, 1800), (90, 140, 60)).save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def _sign_in(page, base: str, fid: str) -> None:
    page.goto(f"{base}/map/report/farmland/{fid}", wait_until="networkidle")
    page.click("#pm-sign-in")
    page.fill("input[name=user]", "zhao")
    page.fill("input[name=password]", PASSWORD)
    page.click("#pm-login-password")
    page.wait_for_selector("#pm-report-form")


def _download_county(page, base: str, setup: dict, shots: Path) -> str:
    page.goto(f"{base}/map/nearby?lon={setup['lon']:.6f}&lat={setup['lat']:.6f}&radius_m=3000")
    page.wait_for_selector("#pm-fieldapp[data-sw=controlled]")
    page.select_option("#pm-offline-download select[name=county]", COUNTY)
    page.select_option("#pm-offline-download select[name=max_zoom]", "13")
    page.click("#pm-offline-plan")
    page.wait_for_selector("#pm-offline-confirm:not([hidden])")
    size = page.text_content("#pm-offline-size")
    page.screenshot(path=str(shots / "offline-size.png"), full_page=True)
    page.click("#pm-offline-confirm")
    page.wait_for_selector("#pm-offline-size[data-done=true]", timeout=60000)
    page.wait_for_selector("#pm-offline-ready.pm-ok")
    return size


def _report(page, percent: str, note: str, photo: bytes | None = None) -> str:
    page.fill("input[name=percent]", percent)
    page.fill("textarea[name=note]", note)
    if photo is not None:
        page.set_input_files("input[name=photo]", {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": photo})
    page.click("#pm-submit")
    page.wait_for_selector("#pm-submit:not([disabled])")
    return page.text_content("#pm-result")


def _history(base: str, setup: dict) -> list[dict]:
    headers = {"Authorization": f"Bearer {setup['token']}"}
    url = f"{base}/collections/farmland/items/{setup['id']}/history"
    return httpx.get(url, headers=headers, timeout=10).json()["entries"]


def test_two_offline_reports_reach_the_history_once_each(phone, setup, writable_gpkg, app_factory, serve, shots):
    context, seen = phone
    with serve(app_factory(writable_gpkg)) as base:
        page = context.new_page()
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        _sign_in(page, base, setup["id"])
        size = _download_county(page, base, setup, shots)
        assert size.startswith("约 ") and "项目 " in size and "瓦片" in size, size
        ready = page.text_content("#pm-offline-ready")
        assert "可离线" in ready and "韶山市" in ready and "数据更新于" in ready

        context.set_offline(True)
        page.goto(f"{base}/map/nearby?lon={setup['lon'] + 0.001:.6f}&lat={setup['lat']:.6f}&radius_m=3000")
        link = page.wait_for_selector(f"#pm-offline-list li[data-id='{setup['id']}'] a")
        assert page.text_content("#pm-net") == "离线中"
        page.screenshot(path=str(shots / "offline-nearby.png"), full_page=True)
        link.click()
        page.wait_for_selector("#pm-report-form")
        assert page.text_content("#pm-name")

        first = _report(page, "60", "离线上报一:沟渠开挖")
        assert QUEUED in first, first
        second = _report(page, "70", "离线上报二:附照片", photo=_jpeg())
        assert QUEUED in second, second
        page.reload()
        page.wait_for_selector("#pm-outbox-badge:text('待发送 2')")
        page.screenshot(path=str(shots / "offline-outbox.png"), full_page=True)
        assert not [e for e in _history(base, setup) if e["note"].startswith("离线上报")]

        context.set_offline(False)
        page.wait_for_selector("#pm-outbox-badge:text('待发送')", state="detached", timeout=30000)
        entries = _history(base, setup)
        notes = [e["note"] for e in entries]
        assert notes.count("离线上报一:沟渠开挖") == 1 and notes.count("离线上报二:附照片") == 1
        mine = [e for e in entries if e["note"].startswith("离线上报")]
        assert [e["percent"] for e in mine] == [60, 70] and all(e["data"]["captured_at"] for e in mine)
        photo = mine[1]["data"]["photo"]
        served = httpx.get(f"{base}/collections/farmland/items/{setup['id']}/progress/{mine[1]['seq']}/photo")
        with Image.open(io.BytesIO(served.content)) as image:
            assert max(image.size) <= 1600 and image.format == "JPEG"  # downscaled on the phone
        assert photo["taken_at"].startswith("2026-12-01T09:30")  # the EXIF time survived the phone's downscale
    assert seen["errors"] == [], seen["errors"]


def test_a_lost_answer_is_replayed_with_the_same_key(phone, setup, writable_gpkg, app_factory, serve):
    context, _ = phone
    with serve(app_factory(writable_gpkg)) as base:
        page = context.new_page()
        _sign_in(page, base, setup["id"])
        keys, replayed = [], []

        def lose_first_answer(route):
            keys.append(route.request.headers.get("idempotency-key"))
            response = route.fetch()  # the server records the report...
            replayed.append(response.headers.get("idempotent-replayed"))
            if len(keys) == 1:
                route.abort("connectionreset")  # ...but the phone never hears back
            else:
                route.fulfill(response=response)

        page.route("**/progress", lose_first_answer)
        assert QUEUED in _report(page, "55", "答复丢失的上报")
        page.wait_for_selector("#pm-outbox-badge:text('待发送 1')")
        page.reload()  # sent again on load, with the same key
        deadline = time.monotonic() + 30
        while len(replayed) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        page.wait_for_selector("#pm-outbox-badge:text('待发送')", state="detached", timeout=30000)
        assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 36
        assert replayed == [None, "true"]
        assert [e["note"] for e in _history(base, setup)].count("答复丢失的上报") == 1


def test_an_overtaken_report_waits_in_attention_and_can_be_exported(
    phone, setup, writable_gpkg, app_factory, serve, shots
):
    context, _ = phone
    with serve(app_factory(writable_gpkg)) as base:
        page = context.new_page()
        _sign_in(page, base, setup["id"])
        page.wait_for_selector("#pm-fieldapp[data-sw]")
        context.set_offline(True)
        assert QUEUED in _report(page, "45", "落后的离线上报")

        item = f"{base}/collections/farmland/items/{setup['id']}"
        etag = httpx.get(item, timeout=10).headers["etag"]
        headers = {"Authorization": f"Bearer {setup['token']}", "If-Match": etag}
        newer = httpx.post(f"{item}/progress", headers=headers, json={"status": "in_progress", "percent": 80})
        assert newer.status_code == 200, newer.text

        context.clear_cookies()  # the session ended while the phone was offline
        context.set_offline(False)
        page.wait_for_selector("#pm-login-needed:not([hidden])", timeout=30000)
        assert page.text_content("#pm-outbox-badge") == "待发送 1"  # kept, waiting for a new sign-in
        page.click("#pm-login-again")
        page.fill("input[name=user]", "zhao")
        page.fill("input[name=password]", PASSWORD)
        page.click("#pm-login-password")
        page.wait_for_selector("#pm-attention-badge:text('需处理 1')", timeout=30000)
        page.screenshot(path=str(shots / "offline-attention.png"), full_page=True)
        row = page.locator("#pm-outbox-list li[data-state=attention]")
        assert "落后的离线上报" not in [e["note"] for e in _history(base, setup)]
        assert "45%" in row.text_content() and "会使进度倒退" in row.text_content()

        with page.expect_download() as download:
            row.locator("button[data-action=export]").click()
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert exported["fields"]["percent"] == "45" and exported["fields"]["note"] == "落后的离线上报"
        assert exported["state"] == "attention" and len(exported["key"]) == 36 and exported["capturedAt"]

        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button[data-action=delete]").click()
        page.wait_for_selector("#pm-attention-badge:text('需处理')", state="detached")
        assert "落后的离线上报" not in [e["note"] for e in _history(base, setup)]
