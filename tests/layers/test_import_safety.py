"""Imports that must not lose data or hang: empty files, mass removals, zip bombs, linked CRSs, limits, text."""

from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

import geopandas as gpd
import shapely

from geo.complexity import ReadLimits
from geo.errors import FileTooComplex, FileTooLarge
from geo.storage.gpkg import GeoPackageStore
from layers.importer import ImportOptions, import_file
from tests.frames import write_file
from tests.layers.store_state import assert_unchanged, snapshot

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


@pytest.fixture
def store(writable_store):
    return writable_store  # a private copy of the demo, on each store kind


EMPTY_COLLECTION = b'{"type": "FeatureCollection", "features": []}'


@pytest.fixture(scope="module")
def whitespace_bomb(tmp_path_factory):
    """A 1 MB zip holding an empty FeatureCollection padded to 1 GiB with spaces."""
    path = tmp_path_factory.mktemp("bomb") / "reservoirs.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("r.geojson", "w") as member:
        member.write(EMPTY_COLLECTION[:-2])
        block = b" " * (1 << 20)
        for _ in range(1024):
            member.write(block)
        member.write(b"]}")
    return path


def test_empty_feature_collection_is_refused(store, registry, tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_bytes(EMPTY_COLLECTION)
    before = snapshot(store, "reservoirs")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(file_name="empty.geojson"))
    assert report.status == "rejected" and report.removed == 0
    assert "empty.geojson holds no features" in report.problems[0].problem
    assert_unchanged(store, "reservoirs", before)


def test_empty_geopackage_layer_is_refused(store, registry, tmp_path):
    path = tmp_path / "empty.gpkg"
    write_file(store.read("reservoirs").iloc[:0], path, layer="reservoirs", driver="GPKG", engine="pyogrio")
    before = snapshot(store, "reservoirs")
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(file_name="empty.gpkg"))
    assert report.status == "rejected" and "holds no features" in report.problems[0].problem
    assert_unchanged(store, "reservoirs", before)


def test_zip_inflating_to_a_gigabyte_is_refused_fast(store, registry, whitespace_bomb):
    assert whitespace_bomb.stat().st_size < 2 * 1024**2
    before = snapshot(store, "reservoirs")
    started = time.perf_counter()
    with pytest.raises(FileTooLarge, match="times its packed size"):
        import_file(store, registry.get("reservoirs"), whitespace_bomb)
    assert time.perf_counter() - started < 1.0
    assert_unchanged(store, "reservoirs", before)


def reservoirs_without(store, tmp_path, dropped: int):
    frame = store.read("reservoirs")
    path = tmp_path / "reservoirs.gpkg"
    write_file(frame.iloc[dropped:], path, layer="reservoirs", driver="GPKG", engine="pyogrio")
    return path, sorted(frame["id"][:dropped])


def test_removing_many_features_needs_confirmation(store, registry, tmp_path):
    layer = registry.get("reservoirs")
    stored = len(store.read("reservoirs"))
    path, removed = reservoirs_without(store, tmp_path, 5)  # 5 of 25: more than 10 %
    before = snapshot(store, "reservoirs")

    dry = import_file(store, layer, path, ImportOptions(dry_run=True))
    assert dry.status == "dry_run" and dry.removed == 5 and dry.ids["removed"] == removed
    assert any(f"would remove 5 of the {stored} stored features" in w for w in dry.warnings), dry.warnings
    assert any("allow_remove=5" in w for w in dry.warnings)

    refused = import_file(store, layer, path)
    assert refused.status == "rejected" and "allow_remove=5" in refused.problems[0].problem
    assert_unchanged(store, "reservoirs", before)

    assert import_file(store, layer, path, ImportOptions(allow_remove=4)).status == "rejected"
    applied = import_file(store, layer, path, ImportOptions(allow_remove=5))
    assert applied.status == "applied" and applied.removed == 5
    assert sorted(set(before[1]["id"]) - set(store.read("reservoirs")["id"])) == removed


def test_removing_a_few_features_is_reported_but_allowed(store, registry, tmp_path):
    path, removed = reservoirs_without(store, tmp_path, 2)  # 2 of 25
    report = import_file(store, registry.get("reservoirs"), path)
    assert report.status == "applied" and report.removed == 2
    assert any("removes 2 feature(s)" in w and removed[0] in w for w in report.warnings), report.warnings


def test_upsert_never_removes(store, registry, tmp_path):
    path, _ = reservoirs_without(store, tmp_path, 20)
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert report.status == "applied" and report.removed == 0
    assert len(store.read("reservoirs")) == 25


def linked_crs_documents(url: str) -> dict[str, str]:
    """GeoJSON texts whose CRS GDAL would fetch from ``url`` (each variant was seen to make it connect)."""
    point = {"type": "Point", "coordinates": [112.9, 27.8]}
    feature = {"type": "Feature", "properties": {"id": "RS-001"}, "geometry": point}
    link = {"type": "link", "properties": {"href": url, "type": "ogcwkt"}}
    return {
        "link": json.dumps({"type": "FeatureCollection", "crs": link, "features": [feature]}),
        "url": json.dumps(
            {"type": "FeatureCollection", "crs": {"type": "url", "properties": {"url": url}}, "features": [feature]}
        ),
        "upper case": json.dumps({"type": "FeatureCollection", "CRS": {**link, "type": "LINK"}, "features": [feature]}),
        "escaped key": json.dumps({"type": "FeatureCollection", "features": [feature]})[:-1]
        + ', "\\u0063rs": '
        + json.dumps(link)
        + "}",
        "on the geometry": json.dumps(
            {"type": "FeatureCollection", "features": [{**feature, "geometry": {**point, "crs": link}}]}
        ),
        "single feature": json.dumps({**feature, "crs": link}),
    }


@pytest.fixture
def gpkg_store(writable_gpkg):
    """A writable demo GeoPackage (for checks made before any store is touched, one store kind is enough)."""
    with GeoPackageStore(writable_gpkg) as opened:
        yield opened


LINKED = [("link", True), ("link", False), ("url", False), ("upper case", False), ("escaped key", False)]
LINKED += [("on the geometry", False), ("single feature", True)]


@pytest.mark.parametrize(("variant", "dry_run"), LINKED)
def test_linked_crs_is_refused_without_a_connection(gpkg_store, registry, tmp_path, listener, variant, dry_run):
    store = gpkg_store
    path = tmp_path / "r.geojson"
    path.write_text(linked_crs_documents(listener.url)[variant], encoding="utf-8")
    before = snapshot(store, "reservoirs")
    started = time.perf_counter()
    report = import_file(store, registry.get("reservoirs"), path, ImportOptions(dry_run=dry_run, mode="upsert"))
    assert time.perf_counter() - started < 2.0
    assert report.status == "rejected"
    assert "links its CRS to" in report.problems[0].problem and listener.url in report.problems[0].problem
    assert listener.connections == []
    assert_unchanged(store, "reservoirs", before)


def test_linked_crs_in_a_zipped_geojson_is_refused(gpkg_store, registry, tmp_path, listener):
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/r.json", linked_crs_documents(listener.url)["link"])
    report = import_file(gpkg_store, registry.get("reservoirs"), path, ImportOptions(mode="upsert"))
    assert report.status == "rejected" and "links its CRS to" in report.problems[0].problem
    assert listener.connections == []


def test_named_crs_is_still_read(store, registry, tmp_path, listener):
    frame = store.read("reservoirs").to_crs(4547)
    path = tmp_path / "r.geojson"
    write_file(frame, path, driver="GeoJSON", engine="pyogrio")
    assert '"urn:ogc:def:crs:EPSG::4547"' in path.read_text(encoding="utf-8")
    report = import_file(store, registry.get("reservoirs"), path)
    assert report.status == "applied" and report.crs == "EPSG:4547"
    assert listener.connections == []


def test_zip_member_must_be_what_its_name_says(gpkg_store, registry, tmp_path):
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("r.gpkg", b'<?xml version="1.0"?><gml:FeatureCollection/>')
    report = import_file(gpkg_store, registry.get("reservoirs"), path)
    assert report.status == "rejected" and "is not a GeoPackage" in report.problems[0].problem


NAMES = ["湘潭县易俗河水库", "韶山市青年水库", "湘乡市东郊水库"]


def zipped_shapefile(frame, directory, encoding, cpg=None):
    """Write ``frame`` as a shapefile in ``encoding``; replace its .cpg by ``cpg`` (None: no .cpg, as ArcGIS)."""
    write_file(frame, directory / "r.shp", engine="pyogrio", encoding=encoding)
    (directory / "r.cpg").unlink()
    if cpg is not None:
        (directory / "r.cpg").write_text(cpg)
    path = directory / "r.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part in sorted(directory.glob("r.*")):
            if part.suffix != ".zip":
                archive.write(part, part.name)
    return path


@pytest.fixture
def named_reservoirs(store):
    frame = store.read("reservoirs")[["id", "name", "status", "geometry"]].copy()
    frame.loc[:2, "name"] = NAMES
    return frame


@pytest.mark.parametrize(
    ("encoding", "cpg", "expected", "warned"),
    [
        ("GBK", None, "gb18030", "has no .cpg"),
        ("UTF-8", "GBK", "utf-8", "'GBK'"),
        ("UTF-8", "LATIN1", "utf-8", "'LATIN1'"),
    ],
)
def test_shapefile_text_encoding_is_detected(
    store, registry, tmp_path, named_reservoirs, encoding, cpg, expected, warned
):
    path = zipped_shapefile(named_reservoirs, tmp_path, encoding, cpg)
    dry = import_file(store, registry.get("reservoirs"), path, ImportOptions(dry_run=True))
    assert dry.status == "dry_run" and dry.encoding == expected
    assert any(warned in w and ("GB18030" in w or "UTF-8" in w) for w in dry.warnings), dry.warnings
    report = import_file(store, registry.get("reservoirs"), path)
    assert report.status == "applied", report.problems
    stored = store.read("reservoirs").set_index("id")
    assert stored.loc[named_reservoirs["id"][:3], "name"].tolist() == NAMES
    assert stored["name"].str.contains("水库").all()


def test_dropped_z_and_m_values_are_named(store, registry, tmp_path, named_reservoirs):
    with_z = named_reservoirs.copy()
    with_z["geometry"] = shapely.force_3d(with_z.geometry.array, 50.0)
    report = import_file(store, registry.get("reservoirs"), zipped_shapefile(with_z, tmp_path, "UTF-8", "UTF-8"))
    assert report.status == "applied"
    assert f"{len(with_z)} feature(s) have Z (height) values; they were dropped" in " ".join(report.warnings)
    table = pd.DataFrame(named_reservoirs.drop(columns="geometry"))
    table["wkt"] = [f"POINT M ({p.x} {p.y} 7)" for p in named_reservoirs.geometry]
    csv = tmp_path / "m.csv"
    table.to_csv(csv, index=False)
    report = import_file(store, registry.get("reservoirs"), csv, ImportOptions(dry_run=True))
    assert f"{len(table)} feature(s) have M (measure) values; they were dropped" in " ".join(report.warnings)


def million_vertex_polygon(path):
    """A GeoJSON reservoir outline with 1,000,000 vertices around the demo's first reservoir."""
    angles = np.linspace(0, 2 * np.pi, 1_000_000)
    ring = np.column_stack([112.9 + 0.01 * np.cos(angles), 27.8 + 0.01 * np.sin(angles)]).round(7)
    ring[-1] = ring[0]
    coordinates = ",".join(f"[{x},{y}]" for x, y in ring)
    geometry = f'{{"type":"Polygon","coordinates":[[{coordinates}]]}}'
    path.write_text(
        f'{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"id":"RS-001"}},'
        f'"geometry":{geometry}}}]}}'
    )
    return path


def many_points(path, count=875_000):
    """A CSV of ``count`` reservoir points in Xiangtan."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"id": [f"RS-{n:06d}" for n in range(count)], "name": "水库"})
    table["lon"], table["lat"] = rng.uniform(112.8, 113.0, count).round(6), rng.uniform(27.7, 27.9, count).round(6)
    table.to_csv(path, index=False)
    return path


def test_a_million_vertex_feature_is_refused_fast(gpkg_store, registry, tmp_path):
    path = million_vertex_polygon(tmp_path / "outline.geojson")
    before = snapshot(gpkg_store, "farmland")
    started = time.perf_counter()
    with pytest.raises(FileTooComplex, match="100000 vertices per feature"):
        import_file(gpkg_store, registry.get("farmland"), path)
    assert time.perf_counter() - started < 5
    assert_unchanged(gpkg_store, "farmland", before)


@pytest.mark.parametrize("suffix", ["csv", "geojson"])
def test_875k_points_are_refused_fast(gpkg_store, registry, tmp_path, suffix):
    path = many_points(tmp_path / "points.csv")
    if suffix == "geojson":
        table = pd.read_csv(path)
        frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326)
        path = tmp_path / "points.geojson"
        write_file(frame.drop(columns=["lon", "lat"]), path, driver="GeoJSON", engine="pyogrio")
    before = snapshot(gpkg_store, "reservoirs")
    started = time.perf_counter()
    with pytest.raises(FileTooComplex, match="875000 features; at most 200000 features"):
        import_file(gpkg_store, registry.get("reservoirs"), path)
    assert time.perf_counter() - started < 5
    assert_unchanged(gpkg_store, "reservoirs", before)


def test_complexity_limits_are_options(gpkg_store, registry, tmp_path):
    path = tmp_path / "r.csv"
    gpkg_store.read("reservoirs").assign(lon=lambda f: f.geometry.x, lat=lambda f: f.geometry.y).drop(
        columns="geometry"
    ).to_csv(path, index=False)
    with pytest.raises(FileTooComplex, match="at most 10 features"):
        import_file(
            gpkg_store, registry.get("reservoirs"), path, ImportOptions(read_limits=ReadLimits(max_features=10))
        )
    with pytest.raises(FileTooComplex, match="20 vertices in all"):
        import_file(
            gpkg_store, registry.get("reservoirs"), path, ImportOptions(read_limits=ReadLimits(max_vertices=20))
        )
