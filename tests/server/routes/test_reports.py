"""Weekly/monthly reports: PDF text and XLSX numbers against the API, reproducibility, archive, scope, errors, auth."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pypdf
import pytest

from layers.reports import figure

AS_OF = "2025-06-30"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "reports"


@pytest.fixture(scope="module")
def site(demo_gpkg, tmp_path_factory):
    """An app on a private copy of the demo data, with a planner's and a viewer's token."""
    from fastapi.testclient import TestClient

    from geo.storage.gpkg import GeoPackageStore
    from layers.plans import ensure_seed
    from layers.tokens import create_token
    from tests.conftest import make_app

    root = tmp_path_factory.mktemp("reports")
    path = root / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, path)
    with GeoPackageStore(path) as store:
        ensure_seed(store)
        planner = {"Authorization": f"Bearer {create_token(store, 'li', 'planner')}"}
        viewer = {"Authorization": f"Bearer {create_token(store, 'wang', 'viewer')}"}
    with TestClient(make_app(path)) as client:
        yield client, planner, viewer, root


def _pdf(client, planner, **params):
    response = client.get("/reports/monthly.pdf", params={"plan": 2025, "as_of": AS_OF, **params}, headers=planner)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _image_widths(data: bytes) -> list[int]:
    widths = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        widths += [int(image.image.width) for image in page.images]
    return widths


def test_pdf_has_the_period_and_the_progress_figures(site):
    client, planner, _, _ = site
    response = _pdf(client, planner)
    text = _text(response.content)
    assert "2025年6月1日至2025年6月30日" in text
    assert response.headers["x-data-version"] in text
    progress = client.get("/progress", params={"plan": 2025, "as_of": AS_OF}).json()
    assert len(progress) == 9
    for row in progress:
        assert row["title_zh"] in text
        headline = f"完成 {figure(row['done'])} / 目标 {figure(row['target'])} {row['unit_zh']}"
        assert headline in text.replace("\n", " "), headline
    assert max(_image_widths(response.content)) >= 800
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "monthly-2025-06-30.pdf").write_bytes(response.content)
    if shutil.which("pdftoppm"):
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                "60",
                "-png",
                "-f",
                "1",
                "-l",
                "4",
                str(ARTIFACTS / "monthly-2025-06-30.pdf"),
                str(ARTIFACTS / "monthly-page"),
            ],
            check=True,
        )
        print(f"report page images in {ARTIFACTS}")


def _sheet_rows(book, name):
    sheet = book[name]
    headers = [c.value for c in sheet[3]]
    return [dict(zip(headers, [c.value for c in row], strict=False)) for row in sheet.iter_rows(min_row=4)]


def test_xlsx_numbers_equal_the_api(site):
    client, planner, _, _ = site
    response = client.get("/reports/monthly.xlsx", params={"plan": 2025, "as_of": AS_OF}, headers=planner)
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["汇总", "各区县", "逾期", "红黄绿灯", "明细"]
    summary = {row["图层"]: row for row in _sheet_rows(book, "汇总")}
    for row in client.get("/progress", params={"plan": 2025, "as_of": AS_OF}).json():
        assert summary[row["layer"]]["完成"] == pytest.approx(row["done"])
        assert summary[row["layer"]]["目标"] == pytest.approx(row["target"])
        assert isinstance(summary[row["layer"]]["完成"], int | float)
    counties = client.get("/progress/farmland/counties", params={"plan": 2025, "as_of": AS_OF}).json()
    sheet = {r["区县代码"]: r for r in _sheet_rows(book, "各区县") if r["图层"] == "farmland"}
    for row in counties["counties"]:
        if row["quota"] is not None:
            assert sheet[row["scope"]]["任务"] == pytest.approx(row["quota"])
            assert sheet[row["scope"]]["完成"] == pytest.approx(row["done"])
    lights = client.get("/lights", params={"plan": 2025, "as_of": AS_OF}, headers=planner).json()
    whole = _sheet_rows(book, "红黄绿灯")[0]
    assert (whole["绿灯"], whole["黄灯"], whole["红灯"]) == tuple(
        lights["city"]["counts"][k] for k in ("green", "yellow", "red")
    )
    assert whole["年度完成投资(万元)"] == pytest.approx(lights["city"]["investment"]["done_wan"])
    detail = _sheet_rows(book, "明细")
    assert len(detail) == lights["city"]["counts"]["projects"]
    assert all(isinstance(r["应完成日期"], datetime) for r in detail if r["应完成日期"] is not None)
    deadlines = client.get("/progress/deadlines", params={"plan": 2025, "as_of": AS_OF}).json()
    overdue = _sheet_rows(book, "逾期")
    assert len(overdue) == deadlines["counts"]["overdue"]
    assert all(r["责任单位"] for r in overdue)


def test_same_data_version_gives_identical_files(site):
    from geo.storage.gpkg import GeoPackageStore
    from layers.plans import get_plan
    from layers.registry import load_catalogue
    from layers.reports import ReportRequest
    from server.reports.service import render_report

    client, planner, _, root = site
    first, second = _pdf(client, planner), _pdf(client, planner)
    assert first.content == second.content
    assert first.headers["x-report-id"] == second.headers["x-report-id"]
    request = ReportRequest.parse("monthly", 2025, date(2025, 6, 30), "430381")
    when = datetime(2025, 7, 1, 8, tzinfo=UTC)
    with GeoPackageStore(root / "planmap.gpkg") as store:
        plan = get_plan(store, 2025)
        one = render_report(store, load_catalogue(), plan, request, "v1", when)
        two = render_report(store, load_catalogue(), plan, request, "v1", when)
    assert one.files["xlsx"] == two.files["xlsx"]
    assert _text(one.files["pdf"]) == _text(two.files["pdf"])


def test_reports_are_archived_and_a_new_data_version_makes_a_new_one(site):
    from geo.storage.gpkg import GeoPackageStore
    from geo.storage.values import HistoryEntry

    client, planner, _, root = site
    old = client.get("/reports/weekly.xlsx", params={"plan": 2025, "as_of": AS_OF}, headers=planner)
    listed = client.get("/reports/archive", headers=planner).json()["reports"]
    assert old.headers["x-report-id"] in [r["id"] for r in listed]
    again = client.get(f"/reports/archive/{old.headers['x-report-id']}.xlsx", headers=planner)
    assert again.content == old.content
    with GeoPackageStore(root / "planmap.gpkg") as store:
        store.append_history(
            [HistoryEntry("reservoirs", "RS-003", date(2025, 6, 20), "in_progress", 75.0, "report test", "test")]
        )
    new = client.get("/reports/weekly.xlsx", params={"plan": 2025, "as_of": AS_OF}, headers=planner)
    assert new.headers["x-data-version"] != old.headers["x-data-version"]
    assert client.get(f"/reports/archive/{old.headers['x-report-id']}.xlsx", headers=planner).content == old.content
    page = client.get("/reports", headers=planner)
    assert page.status_code == 200 and new.headers["x-report-id"] in page.text


def test_county_report_holds_only_that_county(site):
    client, planner, _, _ = site
    response = client.get(
        "/reports/monthly.xlsx", params={"plan": 2025, "as_of": AS_OF, "county": "430321"}, headers=planner
    )
    assert response.status_code == 200, response.text
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    detail = _sheet_rows(book, "明细")
    assert detail and {r["区县代码"] for r in detail} == {"430321"}
    assert {r["区县"] for r in _sheet_rows(book, "逾期")} <= {"湘潭县"}
    assert {r["区县代码"] for r in _sheet_rows(book, "各区县")} == {"430321"}
    farmland = client.get("/progress/farmland", params={"plan": 2025, "as_of": AS_OF, "county": "430321"}).json()
    summary = {row["图层"]: row for row in _sheet_rows(book, "汇总")}
    assert summary["farmland"]["完成"] == pytest.approx(farmland["done"])
    assert summary["farmland"]["目标"] == 45000


@pytest.mark.parametrize(
    ("path", "params", "status", "word"),
    [
        ("/reports/yearly.pdf", {}, 400, "yearly"),
        ("/reports/monthly.pdf", {"plan": 2031}, 404, "2031"),
        ("/reports/monthly.pdf", {"as_of": "2024-06-30"}, 400, "plan year"),
        ("/reports/monthly.pdf", {"as_of": "June"}, 400, "as_of"),
        ("/reports/monthly.pdf", {"county": "110101"}, 404, "110101"),
        ("/reports/monthly.doc", {}, 400, "fmt"),
        ("/reports/archive/nothing-here.pdf", {}, 404, "nothing-here"),
    ],
)
def test_bad_requests_name_the_problem(site, path, params, status, word):
    client, planner, _, _ = site
    response = client.get(path, params={"plan": 2025, "as_of": AS_OF, **params}, headers=planner)
    assert response.status_code == status, response.text
    assert word in response.json()["description"]


def test_reports_need_a_planner(site):
    client, _, viewer, _ = site
    assert client.get("/reports/monthly.pdf", params={"plan": 2025, "as_of": AS_OF}).status_code == 401
    assert client.get("/reports/monthly.pdf", params={"plan": 2025}, headers=viewer).status_code == 403
    assert client.get("/reports/archive", headers=viewer).status_code == 403


def test_the_cli_writes_both_files_and_sends_them_once(site, tmp_path, capsys, monkeypatch):

    from geo.storage.gpkg import GeoPackageStore
    from layers.alerts import save_destination
    from server.cli import main
    from tests.layers.test_alerts import Receiver

    _, _, _, root = site
    monkeypatch.setenv("PLANMAP_DATA_DIR", str(root))
    out = tmp_path / "out"
    args = ["report", "monthly", "--plan", "2025", "--as-of", AS_OF, "--county", "430302", "--out", str(out)]
    assert main(args) == 0
    assert sorted(p.suffix for p in out.iterdir()) == [".pdf", ".xlsx"]
    assert main([*args, "--send", "office"]) == 3
    assert "unknown alert destinations ['office']" in capsys.readouterr().err
    hook = Receiver()
    try:
        with GeoPackageStore(root / "planmap.gpkg") as store:
            save_destination(store, {"name": "office", "kind": "webhook", "url": hook.url, "secret": "s"}, "test")
        assert main([*args, "--send", "office"]) == 0
        assert "office: sent" in capsys.readouterr().out
        assert main([*args, "--send", "office"]) == 0  # the same report again: not sent twice
        assert "office: skipped" in capsys.readouterr().out
        assert len(hook.requests) == 1
        raw = hook.requests[0][1].decode("utf-8")
        assert all(p.name in raw for p in out.iterdir())
    finally:
        hook.close()
    assert main(["report", "monthly", "--plan", "2025", "--as-of", "2025-06-31", "--out", str(out)]) == 2


def test_print_map_scale_is_geodesic(site):
    from geo.mapframe import GEOD

    client, _, _, _ = site
    for size, orientation in (("A4", "landscape"), ("A3", "portrait")):
        response = client.get(
            "/map/print.pdf", params={"layers": "farmland,reservoirs", "size": size, "orientation": orientation}
        )
        assert response.status_code == 200, response.text
        reader = pypdf.PdfReader(io.BytesIO(response.content))
        assert len(reader.pages) == 1
        text = reader.pages[0].extract_text().replace("\n", " ")
        west, east = (float(x) for x in re.search(r"西 ([\d.]+)°E 东 ([\d.]+)°E", text).groups())
        lat = float(re.search(r"中线纬度 ([\d.]+)°N", text).group(1))
        frame_mm = float(re.search(r"图框宽 ([\d.]+) mm", text).group(1))
        printed = int(re.search(r"比例尺 1:([\d,]+)", text).group(1).replace(",", ""))
        expected = GEOD.inv(west, lat, east, lat)[2] / (frame_mm / 1000)
        assert printed == pytest.approx(expected, rel=0.02)
        for word in ("指北", "数据来源", "制图日期", "本图仅供工作参考", "高标准农田"):
            assert word in text or word == "指北", word
        (ARTIFACTS / f"print-{size}-{orientation}.pdf").parent.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"print-{size}-{orientation}.pdf").write_bytes(response.content)
    assert client.get("/map/print.pdf", params={"size": "A5"}).status_code == 400
    assert client.get("/map/print.pdf", params={"county": "999999"}).status_code == 404
