"""Imports of real data files into plan layers: every format, CRS handling, repairs and rejections."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.crs import convert_geometry, transform_geometry
from geo.measure import area_mu, geodesic_distance_m, geodesic_length_m
from layers.export import zh_headers
from layers.importer import ImportOptions, import_file
from tests.frames import json_text, write_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture
def store(writable_store):
    return writable_store  # a private copy of the demo, on each store kind


@pytest.fixture(scope="module")
def originals(demo_store):
    """Return layer id -> the demo features (the 'real data' the test files are made from)."""
    return {
        lid: demo_store.read(lid)
        for lid in (
            "farmland",
            "reservoirs",
            "road-junctions",
            "transport-links",
            "emergency-stations",
            "old-communities",
        )
    }


def max_offset_m(a: gpd.GeoSeries, b: gpd.GeoSeries) -> float:
    """Largest Hausdorff distance between paired geometries, in metres (GK zone 114E)."""
    pa = transform_geometry(np.asarray(a.array, dtype=object), 4326, 4547)
    pb = transform_geometry(np.asarray(b.array, dtype=object), 4326, 4547)
    return float(np.max(shapely.hausdorff_distance(pa, pb)))


def zh_frame(frame, registry, layer_id):
    headers = zh_headers(registry.get(layer_id))
    return frame.drop(columns=["milestones"], errors="ignore").rename(columns=headers)


def zip_shapefile(frame, directory: Path, stem: str, encoding: str) -> Path:
    write_file(frame, directory / f"{stem}.shp", engine="pyogrio", encoding=encoding)
    target = directory / f"{stem}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(directory.glob(f"{stem}.*")):
            if part.suffix != ".zip":
                archive.write(part, f"data/{part.name}")
    return target


def by_id(frame):
    return frame.set_index("id").sort_index()


def test_zipped_gbk_shapefile_in_gk_zone_with_chinese_headers(store, originals, registry, tmp_path):
    farmland = originals["farmland"]
    source = zh_frame(farmland, registry, "farmland").to_crs(4547)
    path = zip_shapefile(source, tmp_path, "农田", "GBK")
    assert "GBK" in zipfile.ZipFile(path).read("data/农田.cpg").decode()
    report = import_file(store, registry.get("farmland"), path, ImportOptions(file_name="农田.zip", source="县农业局"))
    assert report.status == "applied", report.problems
    assert (report.file_format, report.crs, report.crs_source) == ("shapefile", "EPSG:4547", "file")
    assert report.mapping["名称"] == "name" and report.mapping["计划完成日"] == "due_date"
    assert report.unchanged + report.updated == len(farmland) and report.added == report.removed == 0
    stored, orig = by_id(store.read("farmland")), by_id(farmland)
    assert max_offset_m(stored.geometry, orig.geometry) < 0.1
    assert (stored["name"] == orig["name"]).all() and stored["name"].str.contains("高标准农田").all()
    assert stored["due_date"].tolist() == orig["due_date"].tolist()
    assert not stored["is_demo"].any() and (stored["source"] == "县农业局").all()
    assert np.allclose(stored["area_mu"], orig["area_mu"])


def test_geojson_in_gcj02_is_converted_on_request(store, originals, registry, tmp_path):
    reservoirs = originals["reservoirs"]
    gcj = reservoirs.copy()
    gcj["geometry"] = convert_geometry(np.asarray(reservoirs.geometry.array), "wgs84", "gcj02")
    path = tmp_path / "reservoirs.geojson"
    write_file(gcj, path, driver="GeoJSON", engine="pyogrio")
    layer = registry.get("reservoirs")

    report = import_file(store, layer, path, ImportOptions(coordsys="gcj02", file_name="r.geojson"))
    assert report.status == "applied" and report.coordsys == "gcj02"
    stored, orig = by_id(store.read("reservoirs")), by_id(reservoirs)
    assert max_offset_m(stored.geometry, orig.geometry) < 0.1

    report = import_file(store, layer, path, ImportOptions(file_name="r.geojson"))
    assert report.status == "applied" and report.updated == len(reservoirs)
    shifted = by_id(store.read("reservoirs"))
    offsets = geodesic_distance_m(shifted.geometry.x, shifted.geometry.y, orig.geometry.x, orig.geometry.y)
    assert 550 < np.min(offsets) and np.max(offsets) < 750


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    json_text(frame).to_csv(path, index=False, encoding=encoding)
    return path


def lonlat_table(frame):
    table = pd.DataFrame(frame.drop(columns="geometry"))
    table["经度"], table["纬度"] = frame.geometry.x.round(8), frame.geometry.y.round(8)
    return table


def test_csv_with_swapped_lat_lon_rows_is_repaired(store, originals, registry, tmp_path):
    junctions = originals["road-junctions"]
    table = lonlat_table(junctions)
    swapped = [2, 7]
    table.loc[swapped, ["经度", "纬度"]] = table.loc[swapped, ["纬度", "经度"]].to_numpy()
    path = write_csv(table, tmp_path / "junctions.csv", "gb18030")
    report = import_file(store, registry.get("road-junctions"), path, ImportOptions(file_name="j.csv"))
    assert report.status == "applied", report.problems
    assert report.crs_source == "inferred" and report.crs == "OGC:CRS84"
    assert any("declares no CRS" in w for w in report.warnings)
    assert [(r.row, r.id) for r in report.repairs] == [(3, junctions["id"][2]), (8, junctions["id"][7])]
    assert all("swapped" in r.problem for r in report.repairs)
    assert max_offset_m(by_id(store.read("road-junctions")).geometry, by_id(junctions).geometry) < 0.1


def test_flatgeobuf_in_web_mercator_gets_geodesic_length(store, originals, registry, tmp_path):
    links = originals["transport-links"].drop(columns=["length_km", "milestones"])
    path = tmp_path / "links.fgb"
    write_file(links.to_crs(3857), path, driver="FlatGeobuf", engine="pyogrio")
    report = import_file(store, registry.get("transport-links"), path, ImportOptions(file_name="links.fgb"))
    assert report.status == "applied" and (report.file_format, report.crs) == ("fgb", "EPSG:3857")
    stored = by_id(store.read("transport-links"))
    expected = np.round(geodesic_length_m(by_id(links).geometry) / 1000, 3)
    assert np.allclose(stored["length_km"], expected) and stored["length_km"].min() > 1
    assert max_offset_m(stored.geometry, by_id(links).geometry) < 0.1
    assert stored["milestones"].notna().all(), "fields the file lacks keep their stored values"


BOW_TIE = Polygon([(112.90, 27.80), (112.91, 27.81), (112.91, 27.80), (112.90, 27.81)])


def gpkg_with_bow_tie(frame, path: Path, row: int) -> Path:
    frame = frame.copy()
    frame.loc[row, "geometry"] = MultiPolygon([BOW_TIE])
    write_file(frame, path, layer="farmland", driver="GPKG", engine="pyogrio")
    return path


def test_geopackage_bow_tie_is_repaired_as_multipolygon(store, originals, registry, tmp_path):
    farmland = originals["farmland"].drop(columns=["area_mu"])
    path = gpkg_with_bow_tie(farmland, tmp_path / "farmland.gpkg", 4)
    report = import_file(store, registry.get("farmland"), path, ImportOptions(file_name="f.gpkg"))
    assert report.status == "applied"
    assert [(r.row, r.id, r.column) for r in report.repairs] == [(5, farmland["id"][4], "geometry")]
    assert "Self-intersection" in report.repairs[0].problem
    repaired = store.get("farmland", farmland["id"][4])
    geom = repaired.geometry.iloc[0]
    assert geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2 and geom.is_valid
    assert repaired["area_mu"].iloc[0] == pytest.approx(float(np.round(area_mu(geom), 2)))


def test_invalid_geometry_rejected_when_repair_is_off(store, originals, registry, tmp_path):
    path = gpkg_with_bow_tie(originals["farmland"], tmp_path / "farmland.gpkg", 9)
    before = snapshot(store, "farmland")
    report = import_file(store, registry.get("farmland"), path, ImportOptions(repair=False))
    assert report.status == "rejected"
    assert [(p.row, p.id, p.column) for p in report.problems] == [(10, originals["farmland"]["id"][9], "geometry")]
    assert "invalid geometry" in report.problems[0].problem
    assert_unchanged(store, "farmland", before)


def test_points_outside_xiangtan_reject_the_file(store, originals, registry, tmp_path):
    stations = originals["emergency-stations"].copy()
    stations.loc[3, "geometry"] = Point(112.98, 28.20)  # Changsha, north of Xiangtan
    path = tmp_path / "stations.geojson"
    write_file(stations, path, driver="GeoJSON", engine="pyogrio")
    before = snapshot(store, "emergency-stations")
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(file_name="s.geojson"))
    assert report.status == "rejected" and report.problems_total == 1
    problem = report.problems[0]
    assert (problem.row, problem.id, problem.column) == (4, stations["id"][3], "geometry")
    assert "outside Xiangtan" in problem.problem
    assert_unchanged(store, "emergency-stations", before)


def test_bad_values_are_named_by_row_id_and_column(store, originals, registry, tmp_path):
    table = lonlat_table(originals["emergency-stations"]).astype(object)
    table.loc[1, "start_date"] = "2025年13月40日"
    table.loc[2, "staff"] = "twelve"
    table.loc[3, "status"] = "finished"
    table.loc[5, "id"] = table.loc[4, "id"]
    path = write_csv(table, tmp_path / "bad.csv")
    before = snapshot(store, "emergency-stations")
    report = import_file(store, registry.get("emergency-stations"), path)
    assert report.status == "rejected"
    found = {(p.row, p.column): p for p in report.problems}
    assert set(found) == {(2, "start_date"), (3, "staff"), (4, "status"), (6, "id")}
    assert found[(2, "start_date")].id == table["id"][1] and "2025年13月40日" in found[(2, "start_date")].problem
    assert "duplicate id" in found[(6, "id")].problem and "row 5" in found[(6, "id")].problem
    assert_unchanged(store, "emergency-stations", before)


def test_common_date_formats_labels_and_an_explicit_mapping(store, originals, registry, tmp_path):
    stations = originals["emergency-stations"]
    table = lonlat_table(stations)[["id", "name", "status", "staff", "经度", "纬度"]]
    table = table.rename(columns={"id": "站点编号", "staff": "人数"})
    table["完工"] = ["2025年6月30日", "2025/6/30", "2025.6.30", "20250630", "2025-06-30", "", "", "", "", ""]
    table["status"] = ["已建成"] * 5 + ["在建"] * 5
    table["区县"] = "湘潭县"
    path = write_csv(table, tmp_path / "stations.csv")
    mapping = {"站点编号": "id", "人数": "staff", "完工": "completed_date", "区县": "county"}
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping=mapping))
    assert report.status == "applied", report.problems
    stored = by_id(store.read("emergency-stations"))
    assert stored["completed_date"].dropna().unique().tolist() == ["2025-06-30"]
    assert stored["status"].value_counts().to_dict() == {"completed": 5, "in_progress": 5}
    assert (stored["county"] == "430321").all() and (stored["county_name"] == "湘潭县").all()
    assert any("another county" in w for w in report.warnings)


def test_counties_assigned_when_missing(store, originals, registry, tmp_path):
    communities = originals["old-communities"].drop(columns=["county", "county_name"])
    path = tmp_path / "communities.gpkg"
    write_file(communities, path, driver="GPKG", engine="pyogrio")
    report = import_file(store, registry.get("old-communities"), path)
    assert report.status == "applied"
    stored, orig = by_id(store.read("old-communities")), by_id(originals["old-communities"])
    assert (stored["county"] == orig["county"]).mean() > 0.95
    assert stored["county_name"].notna().all()


def test_bad_mapping_rejects_the_file(store, originals, registry, tmp_path):
    path = write_csv(lonlat_table(originals["emergency-stations"]), tmp_path / "s.csv")
    report = import_file(store, registry.get("emergency-stations"), path, ImportOptions(mapping={"staff": "crew"}))
    assert report.status == "rejected" and "not a field" in report.problems[0].problem
