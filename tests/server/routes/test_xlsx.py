"""Excel (.xlsx) 台账 out and in: typed cells, Chinese headers, sheets per county, lossless re-import, bad files."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest
from openpyxl import Workbook

from layers.tokens import create_token
from server.cli import main as cli_main
from tests.layers.store_state import assert_unchanged, snapshot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def planner(writable_store):
    return {"Authorization": f"Bearer {create_token(writable_store, 'chen', 'planner')}"}


def workbook(content: bytes):
    return openpyxl.load_workbook(io.BytesIO(content))


def rows(sheet):
    values = list(sheet.iter_rows(values_only=True))
    return values[0], values[1:]


def post(client, layer, content, headers, name="台账.xlsx", **form):
    files = {"file": (name, content, XLSX)}
    return client.post(f"/collections/{layer}/import", files=files, data=form, headers=headers)


def test_export_has_typed_cells_chinese_headers_and_says_the_geometry_columns(client, demo_store):
    response = client.get("/collections/farmland/export", params={"format": "xlsx", "county": "430321"})
    assert response.status_code == 200 and response.headers["content-type"] == XLSX
    assert response.headers["content-disposition"].endswith(".xlsx")
    book = workbook(response.content)
    assert book.sheetnames == ["高标准农田建设", "说明"]
    header, data = rows(book["高标准农田建设"])
    assert header[:4] == ("编号", "名称", "区县代码", "区县") and header[-1] == "几何(WKT)"
    stored = demo_store.read("farmland").set_index("id")
    stored = stored[stored["county"] == "430321"]
    assert len(data) == len(stored) == int(response.headers["OGC-NumberMatched"])
    row = dict(zip(header, data[0], strict=True))
    feature = stored.loc[row["编号"]]
    assert row["面积(亩)"] == pytest.approx(feature["area_mu"]) and isinstance(row["项目年度"], int)
    assert isinstance(row["计划完成日期"], datetime) and str(row["计划完成日期"].date()) == str(feature["due_date"])
    assert row["几何(WKT)"].startswith("MULTIPOLYGON (((")
    notes = dict(book["说明"].iter_rows(values_only=True))
    assert "WKT (MultiPolygon)" in notes["几何列 geometry columns"] and "CRS84" in notes["坐标系 CRS"]


def test_points_get_lon_lat_and_sheets_per_county(client, demo_store):
    response = client.get("/export/emergency-stations.xlsx", params={"sheets": "county"})
    assert response.status_code == 200
    book = workbook(response.content)
    stored = demo_store.read("emergency-stations")
    assert set(book.sheetnames) == {*stored["county_name"], "说明"}
    total = 0
    for name in set(stored["county_name"]):
        header, data = rows(book[name])
        assert header[-2:] == ("经度", "纬度")
        total += len(data)
        for values in data:
            row = dict(zip(header, values, strict=True))
            point = stored.set_index("id").loc[row["编号"], "geometry"]
            assert row["区县"] == name and (row["经度"], row["纬度"]) == pytest.approx((point.x, point.y), abs=1e-9)
    assert total == len(stored)


def test_sheets_by_county_needs_a_county_column_and_bad_values_are_4xx(client):
    assert client.get("/export/counties.xlsx", params={"sheets": "county"}).status_code in (400, 422)
    assert client.get("/export/farmland.xlsx", params={"sheets": "township"}).status_code == 400


def test_reimporting_an_export_changes_nothing(writable_client, writable_store, planner):
    first = writable_client.get("/export/farmland.xlsx", params={"sheets": "county"}).content
    applied = post(writable_client, "farmland", first, planner, source="农业农村局台账")
    assert applied.status_code == 200 and applied.json()["status"] == "applied", applied.text
    assert applied.json()["file_format"] == "xlsx"
    again = writable_client.get("/export/farmland.xlsx").content
    report = post(writable_client, "farmland", again, planner, source="农业农村局台账", dry_run="true").json()
    assert report["status"] == "dry_run"
    assert (report["added"], report["updated"], report["removed"]) == (0, 0, 0)
    assert report["unchanged"] == len(writable_store.read("farmland"))


def office_ledger(rows_):
    """A workbook as an office makes it: a title row above the header, lon/lat, dates and numbers typed."""
    book = Workbook()
    sheet = book.active
    sheet.title = "应急站点"
    sheet.append(["2025年应急救援站台账"])
    sheet.append(["编号", "名称", "经度", "纬度", "队员人数", "更新日期"])
    for row in rows_:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_office_workbook_with_a_title_row_is_imported_and_html_stays_text(writable_client, writable_store, planner):
    stations = writable_store.read("emergency-stations")
    table = [
        [r.id, f"<b>{r.name}</b>" if i == 0 else r.name, r.geometry.x, r.geometry.y, 12, datetime(2025, 7, 1)]
        for i, r in enumerate(stations.itertuples())
    ]
    response = post(writable_client, "emergency-stations", office_ledger(table), planner, mode="upsert")
    assert response.status_code == 200 and response.json()["updated"] == len(stations), response.text
    served = writable_client.get(f"/collections/emergency-stations/items/{stations['id'].iloc[0]}").json()
    assert served["properties"]["name"] == f"<b>{stations['name'].iloc[0]}</b>"
    assert served["properties"]["staff"] == 12 and served["properties"]["updated_at"] == "2025-07-01"


def test_bad_cells_reject_the_file_naming_sheet_row_and_column(writable_client, writable_store, planner):
    stations = writable_store.read("emergency-stations")
    table = [[r.id, r.name, r.geometry.x, r.geometry.y, 5, "2025-07-01"] for r in stations.itertuples()]
    table[2][4] = "十二"
    table[4][2] = "东经112度"
    before = snapshot(writable_store, "emergency-stations")
    response = post(writable_client, "emergency-stations", office_ledger(table), planner)
    assert response.status_code == 422
    problems = {(p["location"], p["column"]) for p in response.json()["problems"]}
    assert ("应急站点!5", "队员人数") in problems and ("应急站点!7", "经度") in problems
    assert_unchanged(writable_store, "emergency-stations", before)


def test_unreadable_and_oversized_workbooks_are_refused(writable_client, writable_store, planner):
    before = snapshot(writable_store, "emergency-stations")
    legacy = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    response = post(writable_client, "emergency-stations", legacy, planner, name="old.xls")
    assert response.status_code == 422 and ".xlsx" in response.text
    no_geometry = Workbook()
    no_geometry.active.append(["编号", "名称"])
    no_geometry.active.append(["ES-001", "x"])
    buffer = io.BytesIO()
    no_geometry.save(buffer)
    response = post(writable_client, "emergency-stations", buffer.getvalue(), planner)
    assert response.status_code == 422 and "经度/纬度" in response.text
    # a zip-bomb-like workbook: a sheet part that unpacks far past the ratio limit
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b" " * (40 << 20))
    response = post(writable_client, "emergency-stations", bomb.getvalue(), planner)
    assert response.status_code == 413
    assert_unchanged(writable_store, "emergency-stations", before)


def test_too_many_rows_are_refused_before_reading_them_all(writable_store, tmp_path):
    from geo.complexity import ReadLimits
    from geo.errors import FileTooComplex
    from geo.readers import read_source

    book = Workbook()
    book.active.append(["lon", "lat"])
    for i in range(50):
        book.active.append([112.9 + i / 1000, 27.8])
    book.save(tmp_path / "many.xlsx")
    with pytest.raises(FileTooComplex, match="at most 20"):
        read_source(tmp_path / "many.xlsx", limits=ReadLimits(max_features=20))


def test_cli_exports_xlsx(demo_gpkg, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(demo_gpkg))
    out = tmp_path / "stations.xlsx"
    assert cli_main(["export", "emergency-stations", "--out", str(out), "--sheets", "county"]) == 0
    book = openpyxl.load_workbook(out)
    assert "说明" in book.sheetnames and len(book.sheetnames) > 2
    assert rows(book[book.sheetnames[0]])[0][0] == "编号"
    assert "wrote" in capsys.readouterr().out
    assert cli_main(["export", "counties", "--out", str(tmp_path / "c.xlsx"), "--sheets", "county"]) == 2
    assert "county column" in capsys.readouterr().err
