"""The import page's JSON steps on both stores: upload, inspect, preview, mapping, dry run, skipped CSV, commit."""

from __future__ import annotations

import csv
import io
import re
import time

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import geopandas as gpd
import shapely

from geo.crs import gcj02_to_wgs84, transform_geometry, wgs84_to_gcj02
from geo.storage.gpkg import GeoPackageStore
from layers.accounts import create_user

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

ORIGIN = "http://testserver"
PASSWORD = "planner password 1"
LAYER = "emergency-stations"
FOREIGN = {"planned": "规划", "in_progress": "建设中", "completed": "已投用"}
SHANGHAI = (121.47, 31.23)


def sign_in(app, user: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    signed = client.post("/login", data={"user": user, "password": PASSWORD}, headers={"Origin": ORIGIN})
    assert signed.status_code == 303, signed.text
    page = client.get("/admin/import")
    if page.status_code != 200:
        return client, ""
    return client, re.search(r'id="pm-import" data-csrf="([^"]+)"', page.text).group(1)


@pytest.fixture
def people(writable_store):
    create_user(writable_store, "li", role="planner", password=PASSWORD, actor="t", clock=time.time)
    create_user(writable_store, "wu", role="planner", password=PASSWORD, actor="t", clock=time.time)
    create_user(writable_store, "zhao", role="field", counties="430321", password=PASSWORD, actor="t", clock=time.time)


@pytest.fixture
def planner(writable_client, people):
    client, token = sign_in(writable_client.app, "li")
    client.headers.update({"X-CSRF-Token": token, "Origin": ORIGIN})
    return client


@pytest.fixture
def stations(writable_store):
    """Six stored stations as a table: foreign status words, names changed, rows 5 and 6 moved to Shanghai,
    and a new station 7."""
    stored = writable_store.read(LAYER).sort_values("id").head(6).reset_index(drop=True)
    table = pd.DataFrame(
        {
            "编号": stored["id"],
            "站名": stored["name"] + "(核)",
            "建设状态": [FOREIGN[s] for s in ("in_progress", "completed", "planned") * 2],
            "经度": stored.geometry.x.round(7),
            "纬度": stored.geometry.y.round(7),
        }
    )
    table.loc[4:5, ["经度", "纬度"]] = SHANGHAI
    new = {"编号": "ES-NEW-1", "站名": "<b>新站</b>", "建设状态": "建设中", "经度": 112.93, "纬度": 27.85}
    return pd.concat([table, pd.DataFrame([new])], ignore_index=True), stored


def upload(client, name: str, data: bytes, target: str = LAYER, **form):
    return client.post("/admin/import/jobs", files={"file": (name, data)}, data={"target": target, **form})


def finish(client, job_id: str, timeout: float = 60.0) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/admin/import/jobs/{job_id}").json()
        if job["status"] not in ("dry_running", "committing"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running")


MAPPING = {
    "编号": "id",
    "站名": "name",
    "status": {"column": "建设状态", "values": {"建设中": "in_progress", "已投用": "completed", "规划": "planned"}},
}


def test_csv_is_inspected_previewed_and_offered_for_mapping(planner, stations):
    table, _ = stations
    created = upload(planner, "stations.csv", table.to_csv(index=False).encode())
    assert created.status_code == 201, created.text
    job = created.json()
    found = job["inspection"]
    assert job["status"] == "inspected" and job["layer"] == LAYER and job["file_name"] == "stations.csv"
    assert found["format"] == "csv" and found["rows"] == 7 and found["crs"] == "OGC:CRS84"
    assert found["crs_source"] == "inferred" and found["datum"]["guess"] == "wgs84"
    assert found["columns"] == ["编号", "站名", "建设状态"]
    assert found["values"]["建设状态"] == sorted(FOREIGN.values())

    preview = planner.get(f"/admin/import/jobs/{job['id']}/preview").json()
    first = preview["as_is"]["features"][0]
    assert first["geometry"]["coordinates"] == pytest.approx([table["经度"][0], table["纬度"][0]])
    assert first["properties"]["站名"] == table["站名"][0] and first["properties"]["_inside"] is True
    assert preview["as_is"]["features"][4]["properties"]["_inside"] is False
    corrected = preview["gcj02"]["features"][0]["geometry"]["coordinates"]
    expected = gcj02_to_wgs84(table["经度"][0], table["纬度"][0])
    assert corrected == pytest.approx([float(expected[0]), float(expected[1])], abs=1e-9)
    assert preview["as_is"]["features"][6]["properties"]["站名"] == "<b>新站</b>"  # text, escaped by the page

    choices = planner.get(f"/admin/import/jobs/{job['id']}/mapping").json()
    assert {"name": "status", "alias_zh": "状态"}.items() <= choices["fields"][5].items()
    assert [s["label_zh"] for s in choices["statuses"]] == ["未开工", "在建", "已建成"]
    assert choices["auto"] == {"编号": "id"} and choices["values"]["建设状态"] == sorted(FOREIGN.values())


def test_gcj02_coordinates_are_recognised_from_stored_features(planner, stations):
    table, stored = stations
    table = table.head(4).copy()
    lon, lat = wgs84_to_gcj02(stored.geometry.x.head(4).to_numpy(), stored.geometry.y.head(4).to_numpy())
    table["经度"], table["纬度"] = lon, lat
    table = table.rename(columns={"编号": "id"})
    job = upload(planner, "from-amap.csv", table.to_csv(index=False).encode()).json()
    datum = job["inspection"]["datum"]
    assert datum["guess"] == "gcj02" and datum["basis"] == "stored" and datum["matched"] == 4
    assert datum["offsets_m"]["gcj02"] < 1 < 100 < datum["offsets_m"]["wgs84"]
    preview = planner.get(f"/admin/import/jobs/{job['id']}/preview").json()
    landed = [f["geometry"]["coordinates"] for f in preview["gcj02"]["features"]]
    assert np.allclose(landed, shapely.get_coordinates(stored.geometry.head(4).to_numpy()), atol=1e-6)


def test_geopackage_layers_and_projected_crs(planner, stations, tmp_path):
    _, stored = stations
    frame = gpd.GeoDataFrame(
        {"id": stored["id"], "name": stored["name"]},
        geometry=transform_geometry(np.asarray(stored.geometry.array), 4326, 4547),
        crs="EPSG:4547",
    )
    path = tmp_path / "two.gpkg"
    frame.to_file(path, layer="stations", driver="GPKG", engine="pyogrio")
    frame.head(2).to_file(path, layer="more", driver="GPKG", engine="pyogrio")
    job = upload(planner, "two.gpkg", path.read_bytes()).json()
    found = job["inspection"]
    assert sorted(found["file_layers"]) == ["more", "stations"] and found["format"] == "gpkg"
    assert found["crs"] == "EPSG:4547" and found["crs_source"] == "file" and found["geographic"] is False
    rows = {found["file_layer"]: found["rows"]}
    other = next(name for name in found["file_layers"] if name != found["file_layer"])
    again = planner.post(f"/admin/import/jobs/{job['id']}/inspect", json={"file_layer": other})
    assert again.status_code == 200, again.text
    rows[other] = again.json()["inspection"]["rows"]
    assert rows == {"stations": 6, "more": 2}
    preview = planner.get(f"/admin/import/jobs/{job['id']}/preview").json()
    landed = preview["as_is"]["features"][0]["geometry"]["coordinates"]
    assert landed == pytest.approx([stored.geometry.x[0], stored.geometry.y[0]], abs=1e-7)


def test_xlsx_dry_run_maps_values_skips_rows_and_commits(planner, stations, writable_store):
    table, stored = stations
    book = io.BytesIO()
    table.to_excel(book, index=False, sheet_name="台账")
    job = upload(planner, "stations.xlsx", book.getvalue()).json()
    assert job["inspection"]["format"] == "xlsx" and job["inspection"]["rows"] == 7
    url = f"/admin/import/jobs/{job['id']}"
    before = writable_store.version(LAYER)

    started = planner.post(f"{url}/dry-run", json={"mapping": MAPPING, "mode": "upsert", "on_invalid": "skip"})
    assert started.status_code == 202, started.text
    done = finish(planner, job["id"])
    assert done["status"] == "dry_run_done", done
    report = done["report"]
    assert (report["added"], report["updated"], report["unchanged"], report["skipped_rows"]) == (1, 4, 0, 2)
    assert report["summary_zh"] == "试导入：共 7 行，将新增 1 条，更新 4 条，0 条不变，删除 0 条，跳过 2 行。"
    skipped = {(s["row"], s["column"]) for s in report["skipped"]}
    assert skipped == {(5, "geometry"), (6, "geometry")}
    assert all(s["problem_zh"].startswith("位于湘潭市范围外") for s in report["skipped"])
    assert report["skipped"][0]["location"] == "台账!6"  # Excel row 6 (under the header)
    assert writable_store.version(LAYER) == before  # a dry run writes nothing

    download = planner.get(f"{url}/skipped.csv")
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["行号", "位置", "编号", "列", "原因", "reason"]
    assert [r[:4] for r in rows[1:]] == [
        ["5", "台账!6", stored["id"][4], "geometry"],
        ["6", "台账!7", stored["id"][5], "geometry"],
    ]
    assert rows[1][4].startswith("位于湘潭市范围外") and rows[1][5].startswith("outside Xiangtan")

    committed = planner.post(f"{url}/commit")
    assert committed.status_code == 202 and committed.json()["status"] == "committing"
    assert planner.post(f"{url}/commit").status_code == 409  # running or done: never twice
    final = finish(planner, job["id"])
    assert final["status"] == "done", final
    assert final["progress"] == {"done": 7, "total": 7, "phase": "done"}
    assert final["result"]["status"] == "applied" and final["result"]["summary_zh"].startswith("导入完成")
    after = writable_store.read(LAYER).set_index("id")
    assert after.loc[stored["id"][0], "status"] == "in_progress" and after.loc[stored["id"][1], "status"] == "completed"
    assert after.loc[stored["id"][0], "name"] == table["站名"][0]
    assert after.loc["ES-NEW-1", "name"] == "<b>新站</b>" and after.loc["ES-NEW-1", "status"] == "in_progress"
    assert after.loc[stored["id"][4], "name"] == stored["name"][4]  # skipped rows leave their features as they were
    served = planner.get(f"/collections/{LAYER}/items/ES-NEW-1").json()
    assert served["properties"]["status"] == "in_progress"
    assert after.loc[stored["id"][2], "status"] == "planned"


def test_rejected_commit_leaves_the_store_as_it_was(planner, stations, writable_store):
    table, _ = stations
    job = upload(planner, "stations.csv", table.to_csv(index=False).encode()).json()
    url = f"/admin/import/jobs/{job['id']}"
    before = writable_store.read(LAYER).sort_values("id").reset_index(drop=True)
    version = writable_store.version(LAYER)
    planner.post(f"{url}/dry-run", json={"mapping": MAPPING, "on_invalid": "reject"})
    report = finish(planner, job["id"])["report"]
    assert report["status"] == "rejected" and report["summary_zh"].startswith("文件被拒绝")
    assert {p["row"] for p in report["problems"]} >= {5, 6}
    assert planner.post(f"{url}/commit").status_code == 202
    final = finish(planner, job["id"])
    assert final["status"] == "failed" and final["result"]["status"] == "rejected"
    assert writable_store.version(LAYER) == version
    after = writable_store.read(LAYER).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(after.drop(columns="geometry"), before.drop(columns="geometry"))
    assert after.geometry.geom_equals(before.geometry).all()


def test_bad_files_and_options_are_4xx_naming_the_problem(planner, stations, writable_client):
    table, _ = stations
    jobs_root = writable_client.app.state.import_jobs.root
    existing = set(jobs_root.glob("planmap-importjob-*"))
    garbage = upload(planner, "data.gpkg", b"SQLite format 3\x00" + b"\x00" * 200)
    assert garbage.status_code == 422 and "gpkg" in garbage.json()["description"]
    no_coords = upload(planner, "t.csv", table.drop(columns=["经度", "纬度"]).to_csv(index=False).encode())
    assert no_coords.status_code == 422 and "lon/lat" in no_coords.json()["description"]
    old_excel = upload(planner, "t.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert old_excel.status_code == 422 and ".xlsx" in old_excel.json()["description"]
    assert upload(planner, "t.csv", b"a,b\n", target="").status_code == 400
    assert upload(planner, "t.csv", b"a,b\n", target="no-such-layer").status_code == 404
    assert set(jobs_root.glob("planmap-importjob-*")) == existing  # nothing of a refused file is kept

    job = upload(planner, "stations.csv", table.to_csv(index=False).encode()).json()
    url = f"/admin/import/jobs/{job['id']}"
    bad_value = planner.post(
        f"{url}/dry-run", json={"mapping": {"status": {"column": "建设状态", "values": {"x": "built"}}}}
    )
    assert bad_value.status_code == 400 and "built" in bad_value.json()["description"]
    bad_choice = planner.post(f"{url}/dry-run", json={"on_invalid": "ignore"})
    assert bad_choice.status_code == 400 and "on_invalid" in bad_choice.json()["description"]
    early = planner.post(f"{url}/commit")
    assert early.status_code == 409 and "dry run" in early.json()["description"]
    assert planner.get("/admin/import/jobs/not-a-job").status_code == 404
    assert planner.get("/admin/import/jobs/" + "0" * 32).status_code == 404


def test_planner_role_csrf_and_own_jobs(writable_client, people, planner, stations):
    table, _ = stations
    data = table.to_csv(index=False).encode()
    job = upload(planner, "stations.csv", data).json()
    field, _ = sign_in(writable_client.app, "zhao")
    assert field.get("/admin/import").status_code == 403
    field.headers.update({"Origin": ORIGIN})
    assert upload(field, "stations.csv", data).status_code == 403

    other, token = sign_in(writable_client.app, "wu")
    other.headers.update({"Origin": ORIGIN})
    assert upload(other, "stations.csv", data).status_code == 403  # no CSRF token
    other.headers.update({"X-CSRF-Token": token})
    assert other.get(f"/admin/import/jobs/{job['id']}").status_code == 404  # another planner's job
    assert other.post(f"/admin/import/jobs/{job['id']}/commit").status_code == 404
    assert upload(other, "stations.csv", data).status_code == 201

    anonymous = TestClient(writable_client.app, follow_redirects=False)
    assert anonymous.get(f"/admin/import/jobs/{job['id']}").status_code == 401
    page = planner.get("/admin/import")
    assert page.headers["cache-control"] == "no-store" and '/static/planmap/import.js"' in page.text
    assert 'href="/admin/import"' in planner.get("/admin/plans").text


def test_oversized_upload_is_413_and_leaves_no_job(writable_gpkg, app_factory, stations):
    table, _ = stations
    with GeoPackageStore(writable_gpkg) as store:
        create_user(store, "li", role="planner", password=PASSWORD, actor="t", clock=time.time)
    with TestClient(app_factory(writable_gpkg, import_max_bytes=200)) as served:
        client, token = sign_in(served.app, "li")
        client.headers.update({"X-CSRF-Token": token, "Origin": ORIGIN})
        response = upload(client, "stations.csv", table.to_csv(index=False).encode() * 3)
        assert response.status_code == 413 and "200 bytes" in response.json()["description"]
        assert list(served.app.state.import_jobs.root.glob("planmap-importjob-*")) == []
