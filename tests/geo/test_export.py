"""Streaming export writers: every format read back with pyogrio/geopandas/pandas and compared with the store."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import geopandas as gpd
import pyogrio
import pyproj
import shapely

from geo.crs import parse_crs, transform_geometry
from geo.errors import InvalidFormat
from geo.storage.gpkg import GeoPackageStore
from geo.writers import (
    UTF8_BOM,
    ExportSchema,
    conform_all,
    csv_chunks,
    geojson_chunks,
    iter_frames,
    parse_format,
    shapefile_field_names,
    write_file,
)
from geo.writers.frames import promote

N = 23
COLUMNS = {
    "id": "str",
    "name": "str",
    "area_mu": "float",
    "households": "int",
    "is_demo": "bool",
    "start_date": "date",
    "milestones": "json",
    "investment_wan": "float",
}


def _parcels(n: int = N) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(112.5, 113.0, n), rng.uniform(27.7, 28.0, n)
    polys = [shapely.MultiPolygon([shapely.box(x, y, x + 0.003, y + 0.002)]) for x, y in zip(lon, lat, strict=True)]
    polys[3] = shapely.box(lon[3], lat[3], lon[3] + 0.001, lat[3] + 0.001)  # a single Polygon to be promoted
    return gpd.GeoDataFrame(
        {
            "id": [f"p-{i:03d}" for i in range(n)],
            "name": [f"湘潭县高标准农田项目区{i}" for i in range(n)],
            "area_mu": np.where(np.arange(n) == 5, np.nan, rng.uniform(5, 200, n)),
            "households": np.arange(n) * 10,
            "is_demo": np.arange(n) % 2 == 0,
            "start_date": [f"2025-0{1 + i % 9}-15" for i in range(n)],
            "milestones": [[{"name": "开工", "due": "2025-03-01"}] for _ in range(n)],
            "investment_wan": rng.uniform(10, 500, n),
        },
        geometry=polys,
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "store.gpkg"
    with GeoPackageStore(path) as s:
        s.write_layer("parcels", _parcels())
        yield s


def _schema(crs: str, geometry_type: str = "MultiPolygon") -> ExportSchema:
    return ExportSchema("parcels", COLUMNS, geometry_type, parse_crs(crs), {"name": "名称 Name"})


def _pages(store, schema, chunk_size=5):
    return conform_all(iter_frames(store, "parcels", chunk_size=chunk_size), schema, {})


def _expected(store, crs: str) -> gpd.GeoSeries:
    frame = store.read("parcels")
    geoms = transform_geometry(np.asarray(frame.geometry.array, dtype=object), "EPSG:4326", parse_crs(crs))
    return pd.Series(geoms, index=frame["id"])


def _assert_geoms(ids, geoms, expected, tol):
    # shapefiles have no Polygon/MultiPolygon distinction: compare as multi-parts
    got = pd.Series(list(promote(np.asarray(list(geoms), dtype=object), "MultiPolygon")), index=list(ids))
    assert sorted(got.index) == sorted(expected.index)
    for fid, geom in got.items():
        assert shapely.equals_exact(shapely.normalize(geom), shapely.normalize(expected[fid]), tolerance=tol), fid


def test_iter_frames_pages_cover_every_feature_once(store):
    pages = list(iter_frames(store, "parcels", chunk_size=5))
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    ids = pd.concat([p["id"] for p in pages])
    assert ids.is_unique and len(ids) == N and list(ids) == sorted(ids)


def test_iter_frames_exact_multiple_and_empty(store):
    assert [len(p) for p in iter_frames(store, "parcels", chunk_size=N)] == [N]
    from geo.storage.base import Filter

    assert list(iter_frames(store, "parcels", Filter(ids=["nope"]))) == []


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4547"])
def test_geojson_roundtrip(store, crs, tmp_path):
    data = b"".join(geojson_chunks(_pages(store, _schema(crs)), _schema(crs)))
    doc = json.loads(data)
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == N
    first = doc["features"][0]
    assert first["id"] == "p-000" and first["properties"]["name"] == "湘潭县高标准农田项目区0"
    assert first["properties"]["milestones"] == [{"name": "开工", "due": "2025-03-01"}]
    assert doc["features"][5]["properties"]["area_mu"] is None  # NaN -> null, never the invalid NaN token
    assert ("crs" in doc) == (crs != "CRS84")
    path = tmp_path / "out.geojson"
    path.write_bytes(data)
    back = pyogrio.read_dataframe(path)
    assert back.crs.to_epsg() == (4326 if crs == "CRS84" else 4547)
    # 7 decimals of a degree, 3 of a metre: each axis off by half the last decimal, so a vertex by 0.71 of it
    tol = 0.71e-7 if crs == "CRS84" else 0.71e-3
    _assert_geoms(back["id"], back.geometry, _expected(store, crs), tol)
    assert set(back.geom_type) == {"MultiPolygon"}


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4490", "EPSG:4546", "EPSG:4547", "EPSG:3857"])
@pytest.mark.parametrize("fmt", ["gpkg", "fgb", "shp", "parquet"])
def test_file_formats_roundtrip(store, fmt, crs, tmp_path):
    schema = _schema(crs)
    export = parse_format(fmt)
    path = write_file(_pages(store, schema), schema, export, tmp_path / f"out.{export.ext}")
    if fmt == "parquet":
        back = gpd.read_parquet(path)
    else:
        back = pyogrio.read_dataframe(f"/vsizip/{path}/parcels.shp" if fmt == "shp" else path)
    expected_crs = pyproj.CRS("OGC:CRS84") if crs == "CRS84" else pyproj.CRS(crs)
    assert back.crs.equals(expected_crs) or back.crs.to_epsg() == expected_crs.to_epsg() != None  # noqa: E711
    assert len(back) == N
    id_col = "id"
    name_col = "name"
    tol = 1e-9 if expected_crs.is_geographic else 1e-5
    _assert_geoms(back[id_col], back.geometry, _expected(store, crs), tol)
    row = back.set_index(id_col).loc["p-007"]
    assert row[name_col] == "湘潭县高标准农田项目区7"
    assert row["households"] == 70


def test_crs84_file_crs_is_lonlat(store, tmp_path):
    schema = _schema("CRS84")
    path = write_file(_pages(store, schema), schema, parse_format("gpkg"), tmp_path / "o.gpkg")
    crs = pyogrio.read_info(path)["crs"]
    assert pyproj.CRS(crs).equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True)


def test_gpkg_types_and_nulls(store, tmp_path):
    schema = _schema("EPSG:4490")
    path = write_file(_pages(store, schema), schema, parse_format("gpkg"), tmp_path / "o.gpkg")
    info = pyogrio.read_info(path)
    fields = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert fields["start_date"].startswith("datetime")  # a real Date field, not text
    assert fields["households"] == "int64" and fields["area_mu"] == "float64"
    back = pyogrio.read_dataframe(path).set_index("id")
    assert np.isnan(back.loc["p-005", "area_mu"])
    assert json.loads(back.loc["p-001", "milestones"]) == [{"name": "开工", "due": "2025-03-01"}]
    assert bool(back.loc["p-000", "is_demo"]) is True and bool(back.loc["p-001", "is_demo"]) is False
    assert pyogrio.read_info(path)["geometry_type"] == "MultiPolygon"


def test_shapefile_zip_members_encoding_and_mapping(store, tmp_path):
    schema = _schema("EPSG:4547")
    path = write_file(_pages(store, schema), schema, parse_format("shp"), tmp_path / "o.zip")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {f"parcels.{e}" for e in ("shp", "shx", "dbf", "prj", "cpg")} <= names
        assert archive.read("parcels.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
        assert "Gauss_Kruger" in archive.read("parcels.prj").decode() or "4547" in archive.read("parcels.prj").decode()
        mapping = pd.read_csv(io.BytesIO(archive.read("parcels_fields.csv")), encoding="utf-8-sig")
    assert dict(zip(mapping["name"], mapping["shp_field"], strict=True))["investment_wan"] == "investment"
    assert mapping.set_index("name").loc["name", "label"] == "名称 Name"
    back = pyogrio.read_dataframe(f"/vsizip/{path}/parcels.shp")
    assert all(len(c) <= 10 for c in back.columns)
    assert "investment" in back.columns and back["name"].str.startswith("湘潭县").all()
    assert tmp_path.joinpath("o.shp").exists() is False  # sidecars removed once zipped


def test_geoparquet_metadata(store, tmp_path):
    schema = _schema("EPSG:4547")
    path = write_file(_pages(store, schema), schema, parse_format("parquet"), tmp_path / "o.parquet")
    assert b"geo" in pq.read_schema(path).metadata
    meta = json.loads(pq.read_metadata(path).metadata[b"geo"])
    column = meta["columns"]["geometry"]
    assert meta["primary_column"] == "geometry" and column["encoding"] == "WKB"
    assert column["geometry_types"] == ["MultiPolygon"]
    assert pyproj.CRS.from_json_dict(column["crs"]).to_epsg() == 4547
    back = gpd.read_parquet(path)
    assert np.allclose(column["bbox"], back.total_bounds)
    assert pq.ParquetFile(path).num_row_groups == 5  # one per page: written page by page


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4547"])
def test_csv_wkt_with_bom_parses(store, crs):
    data = b"".join(csv_chunks(_pages(store, _schema(crs)), _schema(crs), "wkt", {"name": "名称"}))
    assert data.startswith(UTF8_BOM)
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype={"id": str})
    assert len(frame) == N and frame.columns[1] == "名称" and frame.columns[-1] == "wkt"
    assert frame["名称"].iloc[2] == "湘潭县高标准农田项目区2"
    assert np.isnan(frame.set_index("id").loc["p-005", "area_mu"])
    geoms = shapely.from_wkt(frame["wkt"].to_numpy())
    _assert_geoms(frame["id"], geoms, _expected(store, crs), 1e-8 if crs == "CRS84" else 1e-3)
    assert json.loads(frame["milestones"].iloc[0])[0]["name"] == "开工"


def test_csv_lonlat_points(tmp_path):
    pts = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": ["一力物流园", "九华"]},
        geometry=[shapely.Point(112.9, 27.8), shapely.Point(113.0, 27.9)],
        crs="EPSG:4326",
    )
    path = tmp_path / "pts.gpkg"
    with GeoPackageStore(path) as s:
        s.write_layer("pts", pts)
        schema = ExportSchema("pts", {"id": "str", "name": "str"}, "Point", parse_crs("EPSG:4547"))
        pages = conform_all(iter_frames(s, "pts"), schema, {})
        frame = pd.read_csv(io.BytesIO(b"".join(csv_chunks(pages, schema, "lonlat"))), encoding="utf-8-sig")
    assert list(frame.columns) == ["id", "name", "x", "y"]
    assert frame["x"].between(3.0e5, 5.0e5).all() and frame["name"].iloc[0] == "一力物流园"


def test_csv_lonlat_refused_for_polygons_before_streaming(store):
    with pytest.raises(InvalidFormat, match="Point"):
        csv_chunks(iter([]), _schema("CRS84"), "lonlat")


def test_parse_format_errors_and_aliases():
    assert parse_format("GeoPackage").name == "gpkg" and parse_format(".zip").name == "shp"
    with pytest.raises(InvalidFormat, match="unsupported format"):
        parse_format("kml")


def test_shapefile_field_names_deterministic_unique():
    names = ["id", "investment_wan", "investment_total", "investment_tax", "completed_date", "名称"]
    first = shapefile_field_names(names)
    assert first == shapefile_field_names(names)
    assert len({v.lower() for v in first.values()}) == len(names)
    assert all(len(v) <= 10 and v.isascii() for v in first.values())


def test_geojson_pages_with_json_attributes_equal_the_per_feature_encoder(store):
    from geo import geojson

    schema = _schema("CRS84")
    frames = list(conform_all(iter_frames(store, "parcels", chunk_size=5), schema, {}))
    body = b"".join(geojson_chunks(frames, schema)).partition(b',"features":[\n')[2].removesuffix(b"\n]}\n")
    expected = []
    for frame in frames:
        names = [c for c in frame.columns if c != frame.geometry.name]
        geoms = np.asarray(frame.geometry.array, dtype=object)
        feats = geojson.encode_features(frame, geoms, id_column="id", properties=names, decimals=7)
        expected.append(b",\n".join(geojson.dumps(f) for f in feats))
    assert body == b",\n".join(expected)
    assert any(f["properties"]["milestones"] for f in json.loads(body.join([b"[", b"]"])))
