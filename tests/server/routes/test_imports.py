"""POST /collections/{collectionId}/import: planner-only uploads, reports, rejections and limits."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from geo.storage.gpkg import GeoPackageStore
from layers.tokens import create_token
from tests.frames import json_text

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture
def tokens(writable_gpkg):
    with GeoPackageStore(writable_gpkg) as store:
        return {
            "planner": create_token(store, "li.planner", "planner"),
            "field": create_token(store, "wang.field", "field", ["430321"]),
        }


@pytest.fixture
def api(writable_gpkg, tokens, app_factory):
    with TestClient(app_factory(writable_gpkg)) as client:
        yield client


def auth(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def stations_csv(writable_gpkg):
    with GeoPackageStore(writable_gpkg) as store:
        frame = store.read("emergency-stations")
    table = json_text(pd.DataFrame(frame.drop(columns="geometry")))
    table["经度"], table["纬度"] = frame.geometry.x.round(9), frame.geometry.y.round(9)
    return table


def csv_bytes(table):
    return table.to_csv(index=False).encode("utf-8")


def post(api, layer, data, token, **form):
    files = {"file": ("stations.csv", data, "text/csv")}
    return api.post(f"/collections/{layer}/import", files=files, data=form, headers=auth(token))


def items(api, layer):
    return api.get(f"/collections/{layer}/items", params={"limit": 1000}).json()["features"]


def test_planner_imports_and_the_features_are_served(api, tokens, stations_csv):
    stations_csv.loc[0, "name"] = "易俗河镇应急救援站(实测)"
    response = post(api, "emergency-stations", csv_bytes(stations_csv), tokens["planner"], source="应急管理局 2025-06")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "applied" and report["file_name"] == "stations.csv"
    assert report["updated"] == len(stations_csv) and report["version_after"] != report["version_before"]
    served = {f["id"]: f["properties"] for f in items(api, "emergency-stations")}
    first = served[stations_csv["id"][0]]
    assert first["name"] == "易俗河镇应急救援站(实测)" and first["source"] == "应急管理局 2025-06"
    assert first["is_demo"] is False


def test_dry_run_with_mapping_changes_nothing(api, tokens, stations_csv):
    before = items(api, "emergency-stations")
    table = stations_csv.rename(columns={"staff": "队员"})
    mapping = json.dumps({"队员": "staff"})
    response = post(api, "emergency-stations", csv_bytes(table), tokens["planner"], dry_run="true", mapping=mapping)
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "dry_run" and report["mapping"]["队员"] == "staff"
    assert report["updated"] == len(table) and report["version_after"] is None
    assert items(api, "emergency-stations") == before


def test_rejected_file_is_422_with_rows_named(api, tokens, stations_csv):
    table = stations_csv.astype(object)
    table.loc[2, "纬度"] = 31.23  # Shanghai latitude: outside Xiangtan
    table.loc[4, "due_date"] = "明年"
    before = items(api, "emergency-stations")
    response = post(api, "emergency-stations", csv_bytes(table), tokens["planner"])
    assert response.status_code == 422
    report = response.json()
    assert report["status"] == "rejected"
    named = {(p["row"], p["id"], p["column"]) for p in report["problems"]}
    assert named == {(3, table["id"][2], "geometry"), (5, table["id"][4], "due_date")}
    assert items(api, "emergency-stations") == before


def test_field_token_is_forbidden_and_anonymous_unauthorised(api, tokens, stations_csv):
    data = csv_bytes(stations_csv)
    assert post(api, "emergency-stations", data, tokens["field"]).status_code == 403
    anonymous = api.post("/collections/emergency-stations/import", files={"file": ("s.csv", data, "text/csv")})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "NotAuthenticated"


def test_bad_options_and_missing_file_are_400(api, tokens, stations_csv):
    response = post(api, "emergency-stations", csv_bytes(stations_csv), tokens["planner"], mode="merge")
    assert response.status_code == 400 and "mode" in response.json()["description"]
    response = post(api, "emergency-stations", csv_bytes(stations_csv), tokens["planner"], mapping="{not json")
    assert response.status_code == 400 and "mapping" in response.json()["description"]
    response = api.post(
        "/collections/emergency-stations/import", data={"mode": "replace"}, headers=auth(tokens["planner"])
    )
    assert response.status_code == 400 and "file" in response.json()["description"]
    assert post(api, "no-such-layer", b"x", tokens["planner"]).status_code == 404


def test_oversized_upload_is_413(writable_gpkg, tokens, app_factory, stations_csv):
    with TestClient(app_factory(writable_gpkg, import_max_bytes=1000)) as small:
        response = post(small, "emergency-stations", b"x" * 5000, tokens["planner"])
    assert response.status_code == 413 and response.json()["code"] == "FileTooLarge"


def test_zip_with_traversal_is_rejected_with_a_report(api, tokens):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.shp", b"x")
    files = {"file": ("../../evil.zip", buffer.getvalue(), "application/zip")}
    response = api.post("/collections/farmland/import", files=files, headers=auth(tokens["planner"]))
    assert response.status_code == 422
    report = response.json()
    assert report["file_name"] == "evil.zip" and "unsafe path" in report["problems"][0]["problem"]


def test_cli_import_dry_run_then_apply(writable_gpkg, stations_csv, tmp_path, monkeypatch, capsys):
    from server.cli import main

    monkeypatch.setenv("PLANMAP_DATA_DIR", str(writable_gpkg.parent))
    path = tmp_path / "stations.csv"
    path.write_bytes(csv_bytes(stations_csv.rename(columns={"staff": "人数"})))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"人数": "staff"}), encoding="utf-8")
    args = [
        "--data-dir",
        str(writable_gpkg.parent),
        "import",
        "emergency-stations",
        str(path),
        "--mapping",
        str(mapping),
    ]
    assert main([*args, "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "dry_run" and report["mapping"]["人数"] == "staff"
    assert main([*args, "--mode", "upsert", "--source", "台账"]) == 0
    assert capsys.readouterr().out.startswith("applied: emergency-stations (upsert)")
    path.write_text("id,经度,纬度\nX-1,121.47,31.23\n", encoding="utf-8")
    assert main([*args[:-2], "--dry-run"]) == 1
    assert "outside Xiangtan" in capsys.readouterr().out


def test_empty_file_is_refused_and_the_layer_kept(api, tokens):
    before = items(api, "reservoirs")
    files = {"file": ("empty.geojson", b'{"type":"FeatureCollection","features":[]}', "application/geo+json")}
    response = api.post("/collections/reservoirs/import", files=files, headers=auth(tokens["planner"]))
    assert response.status_code == 422
    assert "empty.geojson holds no features" in response.json()["problems"][0]["problem"]
    assert items(api, "reservoirs") == before


def test_mass_removal_needs_allow_remove(api, tokens, stations_csv):
    data = csv_bytes(stations_csv.iloc[3:])
    removed = sorted(stations_csv["id"][:3])
    dry = post(api, "emergency-stations", data, tokens["planner"], dry_run="true")
    assert dry.status_code == 200 and dry.json()["ids"]["removed"] == removed
    assert any("allow_remove=3" in w for w in dry.json()["warnings"])
    refused = post(api, "emergency-stations", data, tokens["planner"])
    assert refused.status_code == 422 and "allow_remove=3" in refused.json()["problems"][0]["problem"]
    assert len(items(api, "emergency-stations")) == len(stations_csv)
    bad = post(api, "emergency-stations", data, tokens["planner"], allow_remove="all")
    assert bad.status_code == 400 and "allow_remove" in bad.json()["description"]
    applied = post(api, "emergency-stations", data, tokens["planner"], allow_remove="3")
    assert applied.status_code == 200 and applied.json()["removed"] == 3
    assert sorted(f["id"] for f in items(api, "emergency-stations")) == sorted(stations_csv["id"][3:])


def test_zip_bomb_is_413_naming_the_ratio(api, tokens):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("r.geojson", b'{"type":"FeatureCollection","features":[]' + b" " * 40_000_000 + b"}")
    before = items(api, "reservoirs")
    files = {"file": ("r.zip", buffer.getvalue(), "application/zip")}
    response = api.post("/collections/reservoirs/import", files=files, headers=auth(tokens["planner"]))
    assert response.status_code == 413 and "times its packed size" in response.json()["description"]
    assert items(api, "reservoirs") == before


def test_cli_import_refuses_mass_removal_without_allow_remove(writable_gpkg, stations_csv, tmp_path, capsys):
    from server.cli import main

    path = tmp_path / "stations.csv"
    path.write_bytes(csv_bytes(stations_csv.iloc[4:]))
    args = ["--data-dir", str(writable_gpkg.parent), "import", "emergency-stations", str(path)]
    assert main(args) == 1
    assert "--allow-remove 4" in capsys.readouterr().out
    assert main([*args, "--allow-remove", "4"]) == 0
    assert "removed 4" in capsys.readouterr().out
    with GeoPackageStore(writable_gpkg) as store:
        assert sorted(store.read("emergency-stations")["id"]) == sorted(stations_csv["id"][4:])


def linked_crs_geojson(url):
    link = {"type": "link", "properties": {"href": url, "type": "ogcwkt"}}
    point = {"type": "Point", "coordinates": [112.9, 27.8]}
    feature = {"type": "Feature", "properties": {"id": "RS-001"}, "geometry": point}
    return json.dumps({"type": "FeatureCollection", "crs": link, "features": [feature]}).encode()


@pytest.mark.parametrize("dry_run", ["true", "false"])
def test_linked_crs_makes_no_connection_from_the_api(api, tokens, listener, dry_run):
    files = {"file": ("r.geojson", linked_crs_geojson(listener.url), "application/geo+json")}
    started = time.perf_counter()
    response = api.post(
        "/collections/reservoirs/import", files=files, data={"dry_run": dry_run}, headers=auth(tokens["planner"])
    )
    assert time.perf_counter() - started < 3
    assert response.status_code == 422 and listener.url in response.json()["problems"][0]["problem"]
    assert listener.connections == []


def test_linked_crs_makes_no_connection_from_the_cli(writable_gpkg, tmp_path, listener, capsys):
    from server.cli import main

    path = tmp_path / "r.geojson"
    path.write_bytes(linked_crs_geojson(listener.url))
    args = ["--data-dir", str(writable_gpkg.parent), "import", "reservoirs", str(path), "--mode", "upsert"]
    assert main([*args, "--dry-run"]) == 1
    assert "links its CRS to" in capsys.readouterr().out
    assert main(args) == 1
    assert listener.connections == []


def test_feature_and_vertex_limits_are_settings_answered_413(writable_gpkg, tokens, app_factory, stations_csv):
    with TestClient(app_factory(writable_gpkg, import_max_features=5, import_max_vertices=4)) as small:
        before = items(small, "emergency-stations")
        response = post(small, "emergency-stations", csv_bytes(stations_csv), tokens["planner"])
        assert response.status_code == 413 and response.json()["code"] == "FileTooComplex"
        assert f"{len(stations_csv)} features; at most 5 features" in response.json()["description"]
        response = post(small, "emergency-stations", csv_bytes(stations_csv.iloc[:5]), tokens["planner"])
        assert response.status_code == 413 and "at most 4 vertices in all" in response.json()["description"]
        assert items(small, "emergency-stations") == before


def test_unstorable_text_in_form_mapping_and_cells_is_refused(api, tokens, stations_csv):
    data = csv_bytes(stations_csv)
    response = post(api, "emergency-stations", data, tokens["planner"], source="台账\x00")
    assert response.status_code == 400 and "source contains a NUL" in response.json()["description"]
    response = post(api, "emergency-stations", data, tokens["planner"], mapping='{"staff": "\\ud800"}')
    assert response.status_code == 400 and "mapping: staff is not valid Unicode" in response.json()["description"]
    table = stations_csv.astype(object)
    table["name"] = table["name"] + " " * 600  # the NUL lies past the first 4 KB, where binary files are told
    table.loc[9, "name"] = "应急\x00站"
    response = post(api, "emergency-stations", csv_bytes(table), tokens["planner"])
    assert response.status_code == 422
    problem = response.json()["problems"][0]
    assert (problem["row"], problem["column"]) == (10, "name") and "NUL" in problem["problem"]


def test_mapping_rules_in_the_form_translate_statuses(api, tokens, stations_csv):
    words = {"planned": "PLAN", "in_progress": "BUILDING", "completed": "DONE"}
    table = stations_csv.assign(STATE=stations_csv["status"].map(words)).drop(columns="status")
    mapping = {"status": {"column": "STATE", "values": {v: k for k, v in words.items()}}}
    data = csv_bytes(table)
    response = post(api, "emergency-stations", data, tokens["planner"], mapping=json.dumps(mapping), mode="upsert")
    assert response.status_code == 200, response.text
    assert response.json()["rules"]["status"]["values"]["BUILDING"] == "in_progress"
    served = {f["id"]: f["properties"]["status"] for f in items(api, "emergency-stations")}
    assert served == dict(zip(stations_csv["id"], stations_csv["status"], strict=True))


def test_malformed_mapping_rule_is_400_naming_the_field(api, tokens, stations_csv):
    before = items(api, "emergency-stations")
    mapping = json.dumps({"status": {"column": "STATE", "values": {"BUILDING": "under_way"}}})
    response = post(api, "emergency-stations", csv_bytes(stations_csv), tokens["planner"], mapping=mapping)
    assert response.status_code == 400 and response.json()["code"] == "InvalidMapping"
    description = response.json()["description"]
    assert "'status'" in description and "'under_way'" in description and "in_progress" in description
    assert items(api, "emergency-stations") == before


def test_cli_malformed_mapping_names_the_field(writable_gpkg, stations_csv, tmp_path, capsys):
    from server.cli import main

    path = tmp_path / "stations.csv"
    path.write_bytes(csv_bytes(stations_csv))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"staff": {"column": "人数", "unit": "ha"}}), encoding="utf-8")
    args = ["--data-dir", str(writable_gpkg.parent), "import", "emergency-stations", str(path)]
    assert main([*args, "--mapping", str(mapping)]) == 2
    error = capsys.readouterr().err
    assert "mapping entry 'staff'" in error and "area fields" in error
    mapping.write_text("{not json", encoding="utf-8")
    assert main([*args, "--mapping", str(mapping)]) == 2
    assert f"mapping file {mapping}" in capsys.readouterr().err


def test_on_invalid_skip_in_the_form_imports_the_rows_inside_xiangtan(api, tokens, stations_csv):
    stations_csv.loc[[0, 2], ["经度", "纬度"]] = [[121.47, 31.23], [116.4, 39.9]]
    data = csv_bytes(stations_csv)
    rejected = post(api, "emergency-stations", data, tokens["planner"], mode="upsert")
    assert rejected.status_code == 422 and [p["row"] for p in rejected.json()["problems"]] == [1, 3]
    response = post(api, "emergency-stations", data, tokens["planner"], mode="upsert", on_invalid="skip")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["skipped_rows"] == 2 and {s["row"] for s in report["skipped"]} == {1, 3}
    assert report["updated"] + report["unchanged"] == len(stations_csv) - 2
    assert post(api, "emergency-stations", data, tokens["planner"], on_invalid="maybe").status_code == 400
