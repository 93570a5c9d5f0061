"""Export endpoints and ``planmap export``: real HTTP on the demo GeoPackage, every file read back and checked."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import geopandas as gpd
import pyogrio
import pyproj
import shapely

from geo.crs import transform_geometry
from geo.storage.base import Filter
from layers.progress import status_as_of

AS_OF = date(2025, 6, 30)


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


@pytest.fixture(scope="module")
def farmland(store):
    return store.read("farmland").set_index("id")


def _read_back(content: bytes, ext: str, tmp_path: Path) -> gpd.GeoDataFrame:
    path = tmp_path / f"export.{ext}"
    path.write_bytes(content)
    if ext == "parquet":
        return gpd.read_parquet(path)
    if ext == "zip":
        return pyogrio.read_dataframe(f"/vsizip/{path}/farmland.shp")
    return pyogrio.read_dataframe(path)


def _assert_same_geometries(back: gpd.GeoDataFrame, farmland: gpd.GeoDataFrame, epsg: int | None, tol: float):
    expected = farmland.geometry
    if epsg is not None:
        expected = gpd.GeoSeries(
            transform_geometry(np.asarray(expected.array, dtype=object), 4326, epsg), index=farmland.index
        )
    for fid, geom in zip(back["id"], back.geometry, strict=True):
        want = expected[fid]
        # shapefiles read back single-part polygons; compare as areas and vertex distance
        assert shapely.hausdorff_distance(geom, want) < tol, fid
        # moving each vertex by at most tol changes the area by at most about perimeter * tol
        assert abs(geom.area - want.area) <= max(want.area * 1e-6, want.length * tol), fid


@pytest.mark.parametrize(
    ("fmt", "ext", "crs", "epsg"),
    [
        ("geojson", "geojson", None, None),
        ("geojson", "geojson", "EPSG:4547", 4547),
        ("gpkg", "gpkg", "EPSG:4490", 4490),
        ("gpkg", "gpkg", "http://www.opengis.net/def/crs/EPSG/0/3857", 3857),
        ("fgb", "fgb", "EPSG:4546", 4546),
        ("shp", "zip", "EPSG:4547", 4547),
        ("parquet", "parquet", "EPSG:4490", 4490),
        ("parquet", "parquet", None, None),
    ],
)
def test_every_format_reads_back_equal_to_the_store(client, farmland, store, fmt, ext, crs, epsg, tmp_path):
    params = {"format": fmt, **({"crs": crs} if crs else {})}
    response = client.get("/collections/farmland/export", params=params)
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="farmland_') and f'.{ext}"' in disposition
    assert response.headers["ogc-numbermatched"] == str(store.count("farmland"))
    back = _read_back(response.content, ext, tmp_path)
    assert len(back) == store.count("farmland") == len(farmland)
    assert sorted(back["id"]) == sorted(farmland.index)
    if epsg is None:
        assert back.crs.equals(pyproj.CRS("OGC:CRS84")) or back.crs.to_epsg() == 4326
    else:
        assert back.crs.to_epsg() == epsg
    tol = 1e-7 if epsg in (None, 4490) else 1e-2
    _assert_same_geometries(back, farmland, epsg, tol)
    names = dict(zip(back["id"], back["name"], strict=True))
    assert all(names[i] == farmland.loc[i, "name"] for i in farmland.index)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in names[farmland.index[0]])  # 名称 is Chinese, intact


def test_geojson_is_rfc7946_by_default(client, farmland):
    response = client.get("/collections/farmland/export")
    assert response.headers["content-type"].startswith("application/geo+json")
    doc = response.json()
    assert "crs" not in doc and doc["name"] == "farmland"
    feature = doc["features"][0]
    assert feature["properties"]["name"] == farmland.loc[feature["id"], "name"]
    lon, lat = shapely.geometry.shape(feature["geometry"]).centroid.coords[0]
    assert 112 < lon < 114 and 27 < lat < 29


def test_geojson_other_crs_names_it(client):
    doc = client.get("/collections/farmland/export", params={"crs": "EPSG:4547"}).json()
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4547"
    x, _ = shapely.geometry.shape(doc["features"][0]["geometry"]).centroid.coords[0]
    assert 3e5 < x < 5e5


def test_csv_has_bom_parses_and_zh_headers(client, farmland):
    response = client.get("/collections/farmland/export", params={"format": "csv", "headers": "zh"})
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig", dtype=str)
    assert "名称" in frame.columns and "编号" in frame.columns and "几何(WKT)" in frame.columns
    assert len(frame) == len(farmland)
    row = frame.set_index("编号").loc[farmland.index[0]]
    assert row["名称"] == farmland.iloc[0]["name"]
    geom = shapely.from_wkt(row["几何(WKT)"])
    assert shapely.hausdorff_distance(geom, farmland.iloc[0].geometry) < 1e-8


def test_csv_lonlat_for_points(client, store):
    response = client.get("/collections/reservoirs/export", params={"format": "csv", "geometry": "lonlat"})
    frame = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig")
    assert list(frame.columns[-2:]) == ["lon", "lat"] and len(frame) == store.count("reservoirs")
    reservoirs = store.read("reservoirs").set_index("id")
    first = frame.iloc[0]
    assert abs(first["lon"] - reservoirs.loc[first["id"]].geometry.x) < 1e-9


def test_shapefile_zip_contents(client, tmp_path):
    response = client.get("/export/farmland.zip", params={"crs": "EPSG:4547"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {f"farmland.{e}" for e in ("shp", "shx", "dbf", "prj", "cpg")} <= names
    assert archive.read("farmland.cpg").decode().strip().upper().replace("-", "") == "UTF8"
    mapping = pd.read_csv(io.BytesIO(archive.read("farmland_fields.csv")), encoding="utf-8-sig")
    short = dict(zip(mapping["name"], mapping["shp_field"], strict=True))
    assert short["pumping_stations"] == "pumping_st" and all(len(s) <= 10 for s in short.values())
    assert mapping.set_index("name").loc["name", "label"] == "名称 Name"
    back = _read_back(response.content, "zip", tmp_path)
    assert "pumping_st" in back.columns


def test_geoparquet_has_geo_metadata(client, tmp_path):
    response = client.get("/export/farmland.parquet", params={"crs": "EPSG:4547"})
    path = tmp_path / "f.parquet"
    path.write_bytes(response.content)
    geo = json.loads(pq.read_metadata(path).metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert pyproj.CRS.from_json_dict(geo["columns"]["geometry"]["crs"]).to_epsg() == 4547


def test_filtered_export_has_exactly_the_matching_ids(client, store, registry, farmland, tmp_path):
    counties = sorted(farmland["county"].unique())[:2]
    params = {
        "format": "gpkg",
        "county": ",".join(counties),
        "filter": "area_mu > 50",
        "status": "completed,in_progress",
        "as_of": AS_OF.isoformat(),
    }
    response = client.get("/collections/farmland/export", params=params)
    assert response.status_code == 200, response.text
    status = status_as_of(store, registry.get("farmland"), farmland.index.to_series(), AS_OF)
    mask = farmland["county"].isin(counties) & (farmland["area_mu"] > 50)
    mask &= status.isin(["completed", "in_progress"]).to_numpy()
    expected = sorted(farmland.index[mask])
    assert expected, "the demo data should hold matching parcels"
    back = _read_back(response.content, "gpkg", tmp_path)
    assert sorted(back["id"]) == expected
    assert response.headers["ogc-numbermatched"] == str(len(expected))
    # the exported status is the replayed one, as of the asked date
    assert dict(zip(back["id"], back["status"], strict=True)) == {i: status[i] for i in expected}
    name = unquote(response.headers["content-disposition"].split('filename="')[1].split('"')[0])
    assert f"county-{counties[0]}-{counties[1]}" in name and "asof-2025-06-30" in name and "cql-" in name
    assert name.endswith(f"_{date.today():%Y%m%d}.gpkg")


def test_filename_star_carries_the_chinese_title(client):
    disposition = client.get("/export/farmland.csv", params={"county": "430321"}).headers["content-disposition"]
    utf8 = unquote(disposition.split("filename*=UTF-8''")[1])
    assert utf8.startswith("高标准农田建设_county-430321_") and utf8.endswith(".csv")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"format": "kml"}, 400, "InvalidFormat"),
        ({"crs": "EPSG:32650"}, 400, "InvalidCRS"),
        ({"filter": "area_mu >> 3"}, 400, "InvalidFilter"),
        ({"filter": "secret = 1"}, 400, "InvalidFilter"),
        ({"nonexistent": "x"}, 400, "InvalidFilter"),
        ({"format": "csv", "geometry": "lonlat"}, 400, "InvalidFormat"),
        ({"geometry": "svg"}, 400, "InvalidParameterValue"),
        ({"as_of": "30/06/2025"}, 400, "InvalidParameterValue"),
        ({"county": "999999"}, 404, "UnknownCounty"),
    ],
)
def test_bad_requests_answer_json_errors(client, params, status, code):
    response = client.get("/collections/farmland/export", params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["description"]


def test_unknown_layer_and_extension(client):
    assert client.get("/export/nope.geojson").json()["code"] == "UnknownLayer"
    assert client.get("/export/farmland.exe").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/export/..%2F..%2Fetc%2Fpasswd.geojson",
        "/export/%2e%2e.geojson",
        "/collections/..%2Ffarmland/export",
        "/export/farmland.%2e%2e%2fsecret",
    ],
)
def test_path_traversal_in_names_is_harmless(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert response.json()["status"] == response.status_code


def test_hostile_filter_values_never_reach_the_file_name(client):
    response = client.get("/export/farmland.geojson", params={"name": "../../etc/passwd", "status": "..\\x"})
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    ascii_name = disposition.split('filename="')[1].split('"')[0]
    assert "/" not in ascii_name and "\\" not in ascii_name and ".." not in ascii_name
    assert ascii_name.isascii() and len(ascii_name) <= 130
    assert "/" not in unquote(disposition.split("filename*=UTF-8''")[1])
    assert response.json()["features"] == []


def test_binary_export_temp_files_are_removed(client):
    before = set(Path(tempfile.gettempdir()).glob("planmap-export-*"))
    assert client.get("/export/farmland.gpkg").status_code == 200
    assert client.get("/export/farmland.zip").status_code == 200
    assert set(Path(tempfile.gettempdir()).glob("planmap-export-*")) == before


def test_cli_export_matches_http(demo_gpkg, monkeypatch, tmp_path, client, store, capsys):
    from server.cli import main

    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(demo_gpkg))
    out = tmp_path / "farmland.gpkg"
    argv = ["export", "farmland", "--format", "gpkg", "--out", str(out), "--filter", "area_mu > 50"]
    assert main([*argv, "--as-of", AS_OF.isoformat(), "--status", "completed", "--crs", "EPSG:4547"]) == 0
    assert "features" in capsys.readouterr().out
    back = pyogrio.read_dataframe(out)
    assert back.crs.to_epsg() == 4547
    params = {"format": "gpkg", "filter": "area_mu > 50", "as_of": AS_OF.isoformat(), "status": "completed"}
    http = _read_back(client.get("/collections/farmland/export", params=params).content, "gpkg", tmp_path)
    assert sorted(back["id"]) == sorted(http["id"]) and len(back) > 0
    assert main(["export", "farmland", "--county", "430321", "--out", str(tmp_path)]) == 0
    named = list(tmp_path.glob("farmland_county-430321_*.geojson"))
    assert len(named) == 1
    features = json.loads(named[0].read_text("utf-8"))["features"]
    assert {f["properties"]["county"] for f in features} == {"430321"}
    assert len(features) == store.count("farmland", Filter(equals={"county": ["430321"]}))


def test_cli_export_bad_input_exits_2(demo_gpkg, monkeypatch, tmp_path, capsys):
    from server.cli import main

    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(demo_gpkg))
    assert main(["export", "farmland", "--crs", "EPSG:1234", "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "unsupported crs" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
