"""Mapping files with rules: value mapping, date formats, area units, constants, and malformed entries."""

from __future__ import annotations

import pandas as pd
import pytest

from layers.errors import InvalidMapping
from layers.import_mapping import parse_mapping
from layers.importer import ImportOptions, import_file
from tests.frames import write_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

FOREIGN = {"under_construction": "in_progress", "accepted": "completed", "proposed": "planned"}


@pytest.fixture
def store(writable_store):
    return writable_store


@pytest.fixture
def stations(demo_store):
    return demo_store.read("emergency-stations")


def foreign_table(frame):
    """Return the features as another system exports them: upper-case headers and its own status words."""
    table = pd.DataFrame(frame.drop(columns="geometry"))[["id", "name", "status", "completed_date"]]
    table["X"], table["Y"] = frame.geometry.x.round(9), frame.geometry.y.round(9)
    words = {v: k for k, v in FOREIGN.items()}
    table["STATE"] = [words[s] for s in table.pop("status")]
    return table.rename(columns={"id": "CODE", "name": "NAME"})


def by_id(frame):
    return frame.set_index("id").sort_index()


def test_foreign_status_words_are_stored_as_the_catalogue_values(store, stations, registry, tmp_path):
    path = tmp_path / "stations.csv"
    table = foreign_table(stations).drop(columns="completed_date")
    table.to_csv(path, index=False)
    mapping = {"CODE": "id", "NAME": "name", "status": {"column": "STATE", "values": FOREIGN}}
    layer = registry.get("emergency-stations")
    dry = import_file(store, layer, path, ImportOptions(mapping=mapping, dry_run=True, mode="upsert"))
    assert dry.status == "dry_run", dry.problems
    assert dry.mapping["STATE"] == "status" and dry.rules["status"] == {"column": "STATE", "values": FOREIGN}
    assert '"under_construction": "in_progress"' in dry.summary()
    report = import_file(store, layer, path, ImportOptions(mapping=mapping, mode="upsert"))
    assert report.status == "applied", report.problems
    stored = by_id(store.read("emergency-stations"))
    expected = by_id(stations)["status"]
    assert stored["status"].to_dict() == expected.to_dict()
    assert set(stored["status"]) <= {"planned", "in_progress", "completed"}


def test_unmapped_foreign_values_are_reported_per_row(store, stations, registry, tmp_path):
    table = foreign_table(stations).drop(columns="completed_date")
    table.loc[2, "STATE"] = "suspended"
    path = tmp_path / "stations.csv"
    table.to_csv(path, index=False)
    before = snapshot(store, "emergency-stations")
    mapping = {"CODE": "id", "status": {"column": "STATE", "values": FOREIGN}}
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping=mapping))
    assert report.status == "rejected" and report.problems_total == 1
    problem = report.problems[0]
    assert (problem.row, problem.column, problem.id) == (3, "STATE", table.loc[2, "CODE"])
    assert "'suspended'" in problem.problem and "planned, in_progress, completed" in problem.problem
    assert_unchanged(store, "emergency-stations", before)


def test_geojson_with_date_format_and_a_constant_status(store, stations, registry, tmp_path):
    frame = stations[["id", "name", "geometry"]].copy()
    frame["完工日期"] = [f"2025年{n % 12 + 1}月{n % 28 + 11 - 10}日" for n in range(len(frame))]
    path = tmp_path / "stations.geojson"
    write_file(frame, path, driver="GeoJSON", engine="pyogrio")
    mapping = {
        "completed_date": {"column": "完工日期", "format": "%Y年%m月%d日"},
        "status": {"value": "completed"},
    }
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping=mapping))
    assert report.status == "applied", report.problems
    assert report.rules["status"] == {"value": "completed"}
    stored = by_id(store.read("emergency-stations"))
    assert (stored["status"] == "completed").all()
    assert stored.loc[frame["id"][0], "completed_date"] == "2025-01-01"
    assert stored.loc[frame["id"][3], "completed_date"] == "2025-04-04"


def test_a_date_not_in_the_given_format_names_row_and_format(store, stations, registry, tmp_path):
    table = foreign_table(stations)
    table["DONE"] = "2025/06/30"
    table.loc[4, "DONE"] = "30.06.2025"
    path = tmp_path / "stations.csv"
    table.drop(columns="completed_date").to_csv(path, index=False)
    mapping = {"CODE": "id", "completed_date": {"column": "DONE", "format": "%Y/%m/%d"}, "STATE": None}
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping=mapping))
    assert report.status == "rejected"
    assert [(p.row, p.column) for p in report.problems] == [(5, "DONE")]
    assert "%Y/%m/%d" in report.problems[0].problem and "30.06.2025" in report.problems[0].problem


@pytest.mark.parametrize(("unit", "per_mu"), [("ha", 1 / 15), ("m2", 10000 / 15), ("mu", 1.0)])
def test_area_in_another_unit_is_stored_in_mu(store, demo_store, registry, tmp_path, unit, per_mu):
    farmland = demo_store.read("farmland")[["id", "name", "area_mu", "geometry"]]
    frame = farmland.assign(AREA=farmland["area_mu"] * per_mu).drop(columns="area_mu")
    frame.loc[frame.index[0], "AREA"] = 2.0 * 15 * per_mu  # 2 ha expressed in the file's unit
    path = tmp_path / "farmland.gpkg"
    write_file(frame, path, driver="GPKG", engine="pyogrio")
    mapping = {"area_mu": {"column": "AREA", "unit": unit}}
    report = import_file(store, registry.get("farmland"), path, ImportOptions(mapping=mapping))
    assert report.status == "applied", report.problems
    stored = by_id(store.read("farmland"))
    assert stored.loc[farmland["id"].iloc[0], "area_mu"] == pytest.approx(30.0)
    rest = by_id(farmland)["area_mu"].iloc[1:]
    assert stored.loc[rest.index, "area_mu"].to_numpy() == pytest.approx(rest.to_numpy(), rel=1e-6)


def test_two_hectares_is_thirty_mu():
    from layers.import_mapping import FieldRule, translate
    from layers.registry import load_catalogue

    spec = load_catalogue().get("farmland").field("area_mu")
    assert translate(2.0, FieldRule("area_mu", column="A", unit="ha"), spec) == 30.0
    assert translate("6666.6667", FieldRule("area_mu", column="A", unit="m2"), spec) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"status": {"column": "S", "values": {"x": "finished"}}}, ["'status'", "'finished'", "planned"]),
        ({"status": {"column": "S", "values": []}}, ["'status'", "non-empty object"]),
        ({"status": {"value": "done"}}, ["'status'", "constant value", "'done'"]),
        ({"status": {"column": "S", "value": "planned"}}, ["'status'", "not both"]),
        ({"status": {}}, ["'status'", "nor neither"]),
        ({"status": {"column": "S", "colour": "red"}}, ["'status'", "unknown key(s) colour"]),
        ({"crew": {"column": "S"}}, ["'crew'", "not one"]),
        ({"area_mu": {"column": "A", "unit": "acre"}}, ["'area_mu'", "m2, ha, mu", "'acre'"]),
        ({"canal_km": {"column": "A", "unit": "ha"}}, ["'canal_km'", "area fields", "km"]),
        ({"due_date": {"column": "D", "format": "%Y/%Q"}}, ["'due_date'", "'%Y/%Q'"]),
        ({"name": {"column": "N", "format": "%Y"}}, ["'name'", "date fields"]),
        ({"name": 3}, ["'name'", "expected a field name"]),
        ({"A": "area_mu", "area_mu": {"column": "A"}}, ["'A'", "both plainly and by a rule"]),
    ],
)
def test_malformed_mapping_entries_name_the_field(registry, entry, words):
    with pytest.raises(InvalidMapping) as caught:
        parse_mapping(entry, registry.get("farmland"))
    message = str(caught.value)
    assert all(w in message for w in words), message


def test_plain_entry_written_field_first_gets_a_hint(store, stations, registry, tmp_path):
    path = tmp_path / "stations.csv"
    foreign_table(stations).to_csv(path, index=False)
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping={"name": "NAME"}))
    assert report.status == "rejected"
    assert "{'name': {'column': 'NAME'}}" in report.problems[0].problem


def faulty_stations(stations, tmp_path):
    """Return the stations as CSV: rows 2 and 4 in Shanghai, row 6 of unknown status, row 8 a duplicate id."""
    table = foreign_table(stations).drop(columns="completed_date")
    table.loc[[1, 3], ["X", "Y"]] = [[121.47, 31.23], [121.5, 31.2]]
    table.loc[5, "STATE"] = "suspended"
    table.loc[7, "CODE"] = table.loc[6, "CODE"]
    path = tmp_path / "stations.csv"
    table.to_csv(path, index=False)
    return table, path


MAPPING = {"CODE": "id", "NAME": "name", "status": {"column": "STATE", "values": FOREIGN}}


def test_skip_imports_the_valid_rows_and_lists_the_others(store, stations, registry, tmp_path):
    table, path = faulty_stations(stations, tmp_path)
    absent = stations["id"].iloc[7]  # row 8 now repeats row 7's id, so its own id is absent from the file
    layer = registry.get("emergency-stations")
    before = by_id(store.read("emergency-stations"))
    options = ImportOptions(mapping=MAPPING, on_invalid="skip", dry_run=True)
    dry = import_file(store, layer, path, options)
    assert dry.status == "dry_run" and dry.skipped_rows == 4 and dry.problems_total == 0
    assert {(s.row, s.column) for s in dry.skipped} == {(2, "geometry"), (4, "geometry"), (6, "STATE"), (8, "CODE")}
    reasons = {s.row: s.problem for s in dry.skipped}
    assert "outside Xiangtan" in reasons[2] and "'suspended'" in reasons[6] and "duplicate id" in reasons[8]
    assert "skipped: row 6" in dry.summary()
    report = import_file(store, layer, path, ImportOptions(mapping=MAPPING, on_invalid="skip"))
    assert report.status == "applied" and report.skipped_rows == 4 and report.ids["removed"] == [absent]
    stored = by_id(store.read("emergency-stations"))
    assert sorted(stored.index) == sorted(set(before.index) - {absent})
    for row in (1, 3, 5):  # the skipped rows' stored features are left as they were
        fid = table.loc[row, "CODE"]
        assert stored.loc[fid, "geometry"].equals(before.loc[fid, "geometry"])
        assert stored.loc[fid, "is_demo"] == before.loc[fid, "is_demo"]
    imported = [table.loc[r, "CODE"] for r in (0, 2, 4, 6)]
    assert not stored.loc[imported, "is_demo"].any()
    assert stored.loc[table.loc[6, "CODE"], "name"] == table.loc[6, "NAME"]


def test_reject_refuses_the_whole_file_and_leaves_the_store(store, stations, registry, tmp_path):
    _, path = faulty_stations(stations, tmp_path)
    before = snapshot(store, "emergency-stations")
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping=MAPPING))
    assert report.status == "rejected" and report.problems_total == 4 and report.skipped_rows == 0
    assert [p.row for p in report.problems] == [2, 4, 6, 8]
    assert_unchanged(store, "emergency-stations", before)


def test_skip_still_rejects_a_file_whose_every_row_fails(store, stations, registry, tmp_path):
    table = foreign_table(stations).drop(columns="completed_date").assign(X=121.47, Y=31.23)
    path = tmp_path / "shanghai.csv"
    table.to_csv(path, index=False)
    before = snapshot(store, "emergency-stations")
    options = ImportOptions(mapping=MAPPING, on_invalid="skip")
    report = import_file(store, registry.get("emergency-stations"), path, options)
    assert report.status == "rejected" and "every row has a problem" in report.problems[-1].problem
    assert_unchanged(store, "emergency-stations", before)
