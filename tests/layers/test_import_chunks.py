"""Large files are read in chunks and conformed in blocks: the outcome is the one of a single pass."""

from __future__ import annotations

import numpy as np
import pytest

import geopandas as gpd
import shapely
from geopandas.testing import assert_geodataframe_equal

import geo.readers
import layers.import_geometry
from layers.import_columns import coerce_column
from layers.import_fields import ValueProblem, coerce_value
from layers.importer import ImportOptions, import_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

CHUNK = 7
MAPPING = {
    "PARCEL_ID": "id",
    "PRJ_NAME": "name",
    "status": {"column": "STATE", "values": {"under_construction": "in_progress", "accepted": "completed"}},
}


@pytest.fixture
def store(writable_store):
    return writable_store


def parcels(n: int, outside: tuple[int, ...] = (), bad_state: tuple[int, ...] = ()) -> gpd.GeoDataFrame:
    """Return ``n`` small parcels in Xiangtan; rows in ``outside`` lie in Beijing, ``bad_state`` have no mapping."""
    lon = 112.9 + 0.001 * np.arange(n)
    lat = np.full(n, 27.85)
    lon[list(outside)], lat[list(outside)] = 116.4, 39.9
    states = np.where(np.arange(n) % 2 == 0, "under_construction", "accepted").astype(object)
    states[list(bad_state)] = "demolished"
    return gpd.GeoDataFrame(
        {"PARCEL_ID": [f"P-{i:03d}" for i in range(n)], "PRJ_NAME": [f" 地块{i} " for i in range(n)], "STATE": states},
        geometry=shapely.box(lon, lat, lon + 0.0005, lat + 0.0005),
        crs=4326,
    )


def run(store, registry, path, monkeypatch, chunk: int | None, **options):
    if chunk is not None:
        monkeypatch.setattr(geo.readers, "READ_CHUNK", chunk)
        monkeypatch.setattr(layers.import_geometry, "CONFORM_BLOCK", chunk)
    options.setdefault("allow_remove", 10**6)  # the plan's demo parcels give way
    return import_file(store, registry.get("farmland"), path, ImportOptions(mapping=MAPPING, **options))


def test_a_file_read_in_chunks_is_read_as_a_whole(tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30).to_file(path, engine="pyogrio")
    whole = geo.readers.read_source(path).frame
    monkeypatch.setattr(geo.readers, "READ_CHUNK", CHUNK)
    chunked = geo.readers.read_source(path).frame
    assert len(chunked) == 30
    assert_geodataframe_equal(chunked, whole)


def test_chunked_import_stores_what_a_single_pass_stores(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(3, 8, 21)).to_file(path, engine="pyogrio")
    single = run(store, registry, path, monkeypatch, None, on_invalid="skip")
    first = store.read("farmland").sort_values("id", ignore_index=True)
    chunked = run(store, registry, path, monkeypatch, CHUNK, on_invalid="skip")
    assert single.status == chunked.status == "applied"
    assert (chunked.unchanged, chunked.added, chunked.skipped_rows) == (27, 0, 3)
    again = store.read("farmland").sort_values("id", ignore_index=True)
    assert_geodataframe_equal(again, first)
    assert set(again["status"]) == {"in_progress", "completed"}
    assert again["name"].iloc[0] == "地块0" and again["geometry"].geom_type.eq("MultiPolygon").all()


def test_skipped_rows_across_chunk_boundaries_keep_their_row_numbers(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(6, 7, 20), bad_state=(13, 14)).to_file(path, engine="pyogrio")
    report = run(store, registry, path, monkeypatch, CHUNK, on_invalid="skip")
    assert report.status == "applied" and report.skipped_rows == 5
    assert [(s.row, s.id, s.column) for s in report.skipped] == [
        (7, "P-006", "geometry"),
        (8, "P-007", "geometry"),
        (14, "P-013", "STATE"),
        (15, "P-014", "STATE"),
        (21, "P-020", "geometry"),
    ]
    assert "outside Xiangtan" in report.skipped[0].problem and "demolished" in report.skipped[2].problem
    assert report.added == 25 and "P-013" not in set(store.read("farmland")["id"])


def test_reject_leaves_the_store_unchanged_when_the_bad_row_is_in_a_later_chunk(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(30, outside=(26,)).to_file(path, engine="pyogrio")
    before = snapshot(store, "farmland")
    report = run(store, registry, path, monkeypatch, CHUNK)
    assert report.status == "rejected" and report.problems_total == 1
    assert (report.problems[0].row, report.problems[0].id) == (27, "P-026")
    assert_unchanged(store, "farmland", before)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ([" a ", "", None, "b\x00c", "\ud800", 3.0, "新建", "改造提升 "], "name"),
        (["新建", "改造提升 ", "rebuilt", None, "  "], "build_type"),
        ([1.0, 2.5, None, float("inf"), np.nan, "7", True], "project_year"),
        ([1.0, 2.5, None, float("inf"), np.nan, "7亩", "x"], "area_mu"),
        ([2024, 2025, 2026], "project_year"),
        ([True, False, None, "是"], "is_demo"),
    ],
)
def test_whole_columns_are_checked_as_cell_by_cell(registry, values, field):
    import pandas as pd

    spec = registry.get("farmland").field(field)
    expected, problems = [], []
    for row, value in enumerate(values):
        try:
            expected.append(coerce_value(value, spec))
        except ValueProblem as exc:
            expected.append(None)
            problems.append((row, str(exc)))
    dtype = None if field != "project_year" or None in values else "int64"
    got, found = coerce_column(pd.Series(values, dtype=dtype if dtype else object), spec)
    assert got.tolist() == expected and [type(v) for v in got] == [type(v) for v in expected]
    assert found == problems


def comparable(report):
    """The parts of a report that must not depend on how the file was read."""
    return {
        "status": report.status,
        "counts": (report.rows, report.added, report.updated, report.removed, report.skipped_rows),
        "skipped": [(s.row, s.id, s.column, s.problem) for s in report.every_skipped()],
        "clipped": [(c.row, c.id, c.area_mu_before, c.area_mu_after) for c in report.clipped],
        "problems": [(p.row, p.id, p.column, p.problem) for p in report.problems],
        "warnings": sorted(report.warnings),
        "crs": (report.crs, report.crs_source),
    }


def with_duplicates(n: int) -> gpd.GeoDataFrame:
    """Parcels whose ids repeat across chunk boundaries (rows 9 and 23 repeat rows 2 and 15), one outside."""
    frame = parcels(n, outside=(5,), bad_state=(17,))
    frame.loc[9, "PARCEL_ID"], frame.loc[23, "PARCEL_ID"] = "P-002", "P-015"
    return frame


@pytest.mark.parametrize("on_invalid", ["skip", "reject"])
def test_a_chunked_import_reports_what_a_single_pass_reports(store, registry, tmp_path, monkeypatch, on_invalid):
    path = tmp_path / "parcels.gpkg"
    with_duplicates(30).to_file(path, engine="pyogrio")
    single = run(store, registry, path, monkeypatch, None, on_invalid=on_invalid, dry_run=True)
    chunked = run(store, registry, path, monkeypatch, CHUNK, on_invalid=on_invalid, dry_run=True)
    assert comparable(chunked) == comparable(single)
    duplicates = [s for s in chunked.every_skipped() if "duplicate id" in s.problem]
    if on_invalid == "skip":
        assert [(s.row, s.id) for s in duplicates] == [(10, "P-002"), (24, "P-015")]
        assert "first on row 3" in duplicates[0].problem
        assert chunked.skipped_rows == 4 and chunked.added == 26
    else:
        assert chunked.status == "rejected" and chunked.problems_total == 4


def test_a_chunked_import_without_ids_numbers_rows_across_chunks(store, registry, tmp_path, monkeypatch):
    path = tmp_path / "parcels.gpkg"
    parcels(20, outside=(8,)).drop(columns="PARCEL_ID").to_file(path, engine="pyogrio")
    mapping = {"PRJ_NAME": "name", "status": MAPPING["status"]}
    monkeypatch.setattr(geo.readers, "READ_CHUNK", CHUNK)
    report = import_file(
        store,
        registry.get("farmland"),
        path,
        ImportOptions(mapping=mapping, on_invalid="skip", allow_remove=10**6),
    )
    assert report.status == "applied" and report.added == 19
    assert [(s.row, s.id) for s in report.every_skipped()] == [(9, "farmland-00009")]
    stored = store.read("farmland").set_index("id")
    assert stored.loc["farmland-00010", "name"] == "地块9" and stored.loc["farmland-00020", "name"] == "地块19"
    assert "farmland-00009" not in stored.index


def test_a_chunked_clip_matches_a_single_pass(store, registry, tmp_path, monkeypatch):
    frame = parcels(24)
    # row 11 straddles the city's western edge near Xiangxiang; row 19 lies wholly outside it
    frame.loc[11, "geometry"] = shapely.box(112.05, 27.70, 112.40, 27.75)
    frame.loc[19, "geometry"] = shapely.box(111.80, 27.70, 111.81, 27.71)
    path = tmp_path / "parcels.gpkg"
    frame.to_file(path, engine="pyogrio")
    single = run(store, registry, path, monkeypatch, None, on_invalid="clip", dry_run=True)
    chunked = run(store, registry, path, monkeypatch, CHUNK, on_invalid="clip", dry_run=True)
    assert comparable(chunked) == comparable(single)
    assert [c.row for c in chunked.clipped] == [12]


def test_only_large_files_with_a_crs_are_read_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(geo.readers, "READ_CHUNK", CHUNK)
    frame = parcels(10)
    frame.to_file(tmp_path / "a.gpkg", engine="pyogrio")
    frame.to_file(tmp_path / "a.fgb", engine="pyogrio")
    frame.to_file(tmp_path / "a.geojson", engine="pyogrio")
    frame.set_crs(None, allow_override=True).to_file(tmp_path / "nocrs.gpkg", engine="pyogrio")
    parcels(5).to_file(tmp_path / "small.gpkg", engine="pyogrio")
    chunked = geo.readers.read_chunks(tmp_path / "a.gpkg")
    assert chunked is not None and (chunked.rows, chunked.format, chunked.crs.to_epsg()) == (10, "gpkg", 4326)
    frames = list(chunked.frames())
    assert [start for start, _ in frames] == [0, 7] and [len(f) for _, f in frames] == [7, 3]
    assert geo.readers.read_chunks(tmp_path / "a.fgb") is not None
    for name in ("a.geojson", "nocrs.gpkg", "small.gpkg"):
        assert geo.readers.read_chunks(tmp_path / name) is None, name
