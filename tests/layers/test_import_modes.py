"""Import modes (replace, upsert), dry runs, history entries and CRS inference for files without a CRS."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

import shapely
from shapely.geometry import Point

from geo.crs import transform_geometry
from layers.importer import ImportOptions, import_file
from tests.frames import json_text, write_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def by_id(frame):
    return frame.set_index("id").sort_index()


def max_offset_m(a, b):
    pa = transform_geometry(np.asarray(a.array, dtype=object), 4326, 4547)
    pb = transform_geometry(np.asarray(b.array, dtype=object), 4326, 4547)
    return float(np.max(shapely.hausdorff_distance(pa, pb)))


def lonlat_table(frame):
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table["lon"], table["lat"] = frame.geometry.x.round(9), frame.geometry.y.round(9)
    return table


def write_csv(frame, path):
    json_text(frame).to_csv(path, index=False)
    return path


@pytest.fixture
def store(writable_store):
    return writable_store  # a private copy of the demo, on each store kind


@pytest.fixture
def reservoirs(store):
    return store.read("reservoirs")


def progress_status(store, registry, feature_id):
    from layers.progress import status_as_of

    ids = pd.Series([feature_id])
    return status_as_of(store, registry.get("reservoirs"), ids, date(2026, 12, 31)).iloc[0]


def edited_reservoirs(frame):
    """Drop two features, change the status of one, the name of another, and add one new feature."""
    edited = frame.iloc[2:].copy().reset_index(drop=True)
    planned = edited.index[edited["status"] != "completed"][0]
    edited.loc[planned, ["status", "progress_pct", "completed_date"]] = ["completed", 100.0, "2025-11-20"]
    edited.loc[len(edited) - 1, "name"] = "更名水库"
    new = edited.iloc[[0]].copy()
    new["id"], new["geometry"] = "RS-NEW", Point(112.70, 27.75)
    return pd.concat([edited, new], ignore_index=True), edited.loc[planned, "id"]


def test_dry_run_reports_changes_and_leaves_the_store_alone(store, reservoirs, registry, tmp_path):
    edited, _ = edited_reservoirs(reservoirs)
    path = tmp_path / "reservoirs.gpkg"
    write_file(edited, path, driver="GPKG", engine="pyogrio")
    before = snapshot(store, "reservoirs")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(dry_run=True))
    assert report.status == "dry_run" and report.version_after is None
    assert report.ids["added"] == ["RS-NEW"] and report.ids["removed"] == sorted(reservoirs["id"][:2])
    # every kept feature changes is_demo (demo -> real) and source, so all count as updated
    assert (report.added, report.updated, report.unchanged, report.removed) == (1, len(reservoirs) - 2, 0, 2)
    assert report.history_entries == 2
    assert_unchanged(store, "reservoirs", before)


def test_replace_then_reimport_is_unchanged(store, reservoirs, registry, tmp_path):
    path = tmp_path / "reservoirs.gpkg"
    write_file(reservoirs, path, driver="GPKG", engine="pyogrio")
    options = ImportOptions(source="水利局台账")
    first = import_file(store, registry.get("reservoirs"), path, options)
    assert first.status == "applied" and first.version_after != first.version_before
    second = import_file(store, registry.get("reservoirs"), path, options)
    assert (second.unchanged, second.updated, second.added, second.removed) == (len(reservoirs), 0, 0, 0)


def test_replace_removes_missing_features_and_keeps_history(store, reservoirs, registry, tmp_path):
    edited, changed = edited_reservoirs(reservoirs)
    path = tmp_path / "reservoirs.gpkg"
    write_file(edited, path, driver="GPKG", engine="pyogrio")
    history_before = store.history("reservoirs")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(today=date(2025, 12, 1)))
    assert report.status == "applied" and report.removed == 2 and report.added == 1
    assert sorted(store.read("reservoirs")["id"]) == sorted(edited["id"])
    history = store.history("reservoirs")
    assert len(history) == len(history_before) + 2, "one entry per status change, old entries kept"
    own = history[history["feature_id"] == changed]
    latest = own.iloc[-1]
    assert (latest["status"], latest["percent"], latest["author"]) == ("completed", 100.0, "import")
    assert latest["date"] == max("2025-11-20", own["date"].iloc[:-1].max()), "dated no earlier than prior reports"
    assert progress_status(store, registry, changed) == "completed"
    added = history[history["feature_id"] == "RS-NEW"]
    assert added["status"].tolist() == [edited.loc[len(edited) - 1, "status"]]


def test_upsert_updates_and_adds_without_removing(store, reservoirs, registry, tmp_path):
    subset = reservoirs.iloc[:3][["id", "name", "status", "geometry"]].copy()
    subset.loc[0, "name"] = "新名称水库"
    extra = subset.iloc[[1]].copy()
    extra["id"] = "RS-900"
    table = lonlat_table(pd.concat([subset, extra], ignore_index=True).set_geometry("geometry"))
    path = write_csv(table, tmp_path / "upsert.csv")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert report.status == "applied"
    assert (report.added, report.updated, report.removed) == (1, 3, 0)
    stored = by_id(store.read("reservoirs"))
    assert len(stored) == len(reservoirs) + 1
    assert stored.loc[subset["id"][0], "name"] == "新名称水库"
    orig = by_id(reservoirs)
    untouched = orig.index[3]
    assert stored.loc[untouched, "is_demo"] and stored.loc[untouched, "name"] == orig.loc[untouched, "name"]
    kept = subset["id"][1]
    assert stored.loc[kept, "dam_type"] == orig.loc[kept, "dam_type"], "unmapped fields keep stored values"


def test_upsert_needs_ids(store, reservoirs, registry, tmp_path):
    table = lonlat_table(reservoirs).drop(columns=["id"])
    path = write_csv(table, tmp_path / "noid.csv")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert report.status == "rejected" and report.problems[0].column == "id"


@pytest.mark.parametrize(("epsg", "prefix"), [(4547, 0), (4546, 0), (4526, 38_000_000), (4525, 37_000_000)])
def test_gauss_kruger_without_prj_is_inferred(store, reservoirs, registry, tmp_path, epsg, prefix):
    projected = transform_geometry(np.asarray(reservoirs.geometry.array), 4326, epsg)
    table = pd.DataFrame(reservoirs.drop(columns="geometry"))
    table["x"], table["y"] = shapely.get_x(projected).round(3), shapely.get_y(projected).round(3)
    path = write_csv(table, tmp_path / "gk.csv")
    report = import_file(store, registry.get("reservoirs"), path)
    assert report.status == "applied", report.problems
    assert (report.crs, report.crs_source) == (f"EPSG:{epsg}", "inferred")
    assert prefix == 0 or table["x"].min() > prefix
    assert max_offset_m(by_id(store.read("reservoirs")).geometry, by_id(reservoirs).geometry) < 0.1


def test_wkt_csv_in_cgcs2000_gpkg_crs(store, registry, tmp_path):
    links = store.read("transport-links")
    table = pd.DataFrame(links.drop(columns=["geometry", "milestones"]))
    table["wkt"] = shapely.to_wkt(np.asarray(links.geometry.array), rounding_precision=9)
    table.loc[1, "wkt"] = "LINESTRING (112.9 27.8, oops)"
    path = write_csv(table, tmp_path / "links.csv")
    report = import_file(store, registry.get("transport-links"), path)
    assert report.status == "rejected"
    assert [(p.row, p.id, p.column) for p in report.problems] == [(2, links["id"][1], "wkt")]
    gpkg = tmp_path / "links4490.gpkg"
    write_file(
        links.drop(columns="milestones").set_crs(4490, allow_override=True), gpkg, driver="GPKG", engine="pyogrio"
    )
    report = import_file(store, registry.get("transport-links"), gpkg)
    assert report.status == "applied" and report.crs == "EPSG:4490"


def test_reports_arriving_during_a_long_import_do_not_fail_it(store, reservoirs, registry, tmp_path, monkeypatch):
    import layers.importer as importer
    from geo.storage.base import HistoryEntry

    table = lonlat_table(reservoirs[["id", "name", "geometry"]])
    table.loc[0, "name"] = "导入后的名称"
    path = write_csv(table, tmp_path / "names.csv")
    prepare, target = importer._prepare, reservoirs["id"].iloc[1]
    arrived = HistoryEntry("reservoirs", target, date(2025, 11, 30), "in_progress", 55.0, note="现场", author="field")

    def prepare_while_a_report_arrives(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        store.record_progress(arrived, {"status": "in_progress", "progress_pct": 55.0})
        return prepared

    monkeypatch.setattr(importer, "_prepare", prepare_while_a_report_arrives)
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert report.status == "applied"
    stored = by_id(store.read("reservoirs"))
    assert stored.loc[reservoirs["id"].iloc[0], "name"] == "导入后的名称"
    # The report that arrived meanwhile is kept: its history row and the state it set (the file has no status).
    assert (stored.loc[target, "status"], stored.loc[target, "progress_pct"]) == ("in_progress", 55.0)
    assert "现场" in set(store.history("reservoirs", feature_ids=[target])["note"])


def test_an_import_gives_up_when_the_layer_never_stops_changing(store, reservoirs, registry, tmp_path, monkeypatch):
    import layers.importer as importer
    from geo.errors import StaleVersion

    path = write_csv(lonlat_table(reservoirs[["id", "name", "geometry"]]), tmp_path / "same.csv")
    before = snapshot(store, "reservoirs")
    plan = importer._plan

    def plan_then_someone_writes(store_, *args, **kwargs):
        planned = plan(store_, *args, **kwargs)
        store_.write_layer("reservoirs", store_.read("reservoirs"), types=store_.columns("reservoirs"))
        return planned

    monkeypatch.setattr(importer, "_plan", plan_then_someone_writes)
    with pytest.raises(StaleVersion, match="kept changing"):
        import_file(store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert len(store.history("reservoirs")) == before[2]  # no import history written
