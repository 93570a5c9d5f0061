"""Reading data files of every supported format, zip safety checks and CRS guessing."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import geopandas as gpd
import shapely
from shapely.geometry import Point

from geo.crsguess import guess_crs
from geo.errors import FileTooLarge, InvalidDataFile
from geo.readers import detect_format, read_source
from geo.zipsafe import ZipLimits, check_zip

XIANGTAN = (111.9, 27.3, 113.2, 28.2)


@pytest.fixture
def points():
    return gpd.GeoDataFrame(
        {"id": ["a", "b"], "名称": ["雨湖", "岳塘"]}, geometry=[Point(112.9, 27.85), Point(112.95, 27.83)], crs=4326
    )


@pytest.mark.parametrize(
    ("driver", "suffix", "fmt"),
    [("GPKG", "gpkg", "gpkg"), ("GeoJSON", "geojson", "geojson"), ("FlatGeobuf", "fgb", "fgb")],
)
def test_formats_are_detected_from_content(points, tmp_path, driver, suffix, fmt):
    path = tmp_path / f"data.{suffix}"
    points.to_file(path, driver=driver, engine="pyogrio")
    renamed = path.rename(tmp_path / "upload")  # no extension: detection must not rely on it
    assert detect_format(renamed) == fmt
    source = read_source(renamed)
    assert source.format == fmt and source.crs.to_epsg() == 4326
    frame = source.frame.sort_values("id").reset_index(drop=True)  # FlatGeobuf stores features in index order
    assert frame["名称"].tolist() == ["雨湖", "岳塘"]
    assert shapely.equals(frame.geometry.array, points.geometry.array).all()


def test_csv_in_gbk_with_chinese_lon_lat_headers(tmp_path):
    path = tmp_path / "points.csv"
    path.write_bytes("编号,名称,经度,纬度\na,雨湖,112.9,27.85\nb,岳塘,,\nc,x,abc,27.8\n".encode("gbk"))
    source = read_source(path)
    assert source.encoding == "gb18030" and source.crs is None
    assert source.frame["名称"].tolist()[:2] == ["雨湖", "岳塘"]
    assert source.frame.geometry.iloc[0].equals(Point(112.9, 27.85)) and source.frame.geometry.iloc[1] is None
    assert [(p.row, p.column) for p in source.problems] == [(2, "经度")]


def test_csv_without_geometry_columns_is_refused(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidDataFile, match="lon/lat"):
        read_source(path)


def test_bare_shp_and_binary_junk_are_refused(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(InvalidDataFile, match="binary"):
        detect_format(junk)
    with pytest.raises(InvalidDataFile, match="zip"):
        detect_format(junk, "roads.shp")


def test_zip_with_traversing_member_is_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../etc/evil.shp", b"x")
    with pytest.raises(InvalidDataFile, match="unsafe path"):
        check_zip(path)


def test_zip_bomb_is_stopped_by_real_unpacked_size(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.shp", b"\x00" * 5_000_000)
    assert path.stat().st_size < 20_000
    with pytest.raises(FileTooLarge):
        check_zip(path, ZipLimits(max_unpacked_bytes=1_000_000))
    # a central directory that under-reports the size is caught by counting the bytes really unpacked
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).infolist()[0]
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    raw[info.header_offset + 22 : info.header_offset + 26] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises((FileTooLarge, InvalidDataFile)):
        check_zip(path, ZipLimits(max_unpacked_bytes=1_000_000))


def test_zip_member_count_is_limited(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(5):
            archive.writestr(f"f{n}.txt", b"x")
    assert len(check_zip(path)) == 5
    with pytest.raises(FileTooLarge, match="members"):
        check_zip(path, ZipLimits(max_members=4))


def test_zipped_shapefile_needs_its_sidecars(points, tmp_path):
    points.to_file(tmp_path / "p.shp", engine="pyogrio")
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(tmp_path / "p.shp", "p.shp")
    with pytest.raises(InvalidDataFile, match=r"\.shx"):
        read_source(path)


def test_guess_crs_from_coordinate_ranges():
    lonlat = [Point(112.9, 27.85)]
    assert guess_crs(lonlat, ["OGC:CRS84", 4547, 3857], XIANGTAN).to_string() == "OGC:CRS84"
    swapped = [Point(27.85, 112.9), Point(112.9, 27.85)]
    assert guess_crs(swapped, ["OGC:CRS84", 4547], XIANGTAN).to_string() == "OGC:CRS84"
    mercator = [Point(12_568_000, 3_228_000)]
    assert guess_crs(mercator, ["OGC:CRS84", 4547, 4546, 3857], XIANGTAN).to_epsg() == 3857
    assert guess_crs([Point(1.0, 1.0)], ["OGC:CRS84", 4547], XIANGTAN) is None
    assert guess_crs(np.array([None, Point(38_396_103, 3_080_193)]), [4547, 4526], XIANGTAN).to_epsg() == 4526


def test_zip_with_a_huge_compression_ratio_is_refused_before_reading(tmp_path):
    path = tmp_path / "whitespace.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.geojson", b'{"type":"FeatureCollection","features":[]' + b" " * 40_000_000 + b"}")
    assert path.stat().st_size < 100_000
    with pytest.raises(FileTooLarge, match="times its packed size"):
        check_zip(path)
    check_zip(path, ZipLimits(max_ratio=5000))  # the ratio is a limit of its own, not the size limit


def test_zip_entry_count_is_read_from_the_end_record_before_the_directory(tmp_path):
    path = tmp_path / "dirs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(30):
            archive.writestr(f"d{n}/", b"")
        archive.writestr("a.txt", b"x")
    with pytest.raises(FileTooLarge, match="31 entries"):
        check_zip(path, ZipLimits(max_entries=30))
    raw = bytearray(path.read_bytes())
    raw[raw.rfind(b"PK\x01\x02") :] = b"\x00" * (len(raw) - raw.rfind(b"PK\x01\x02"))  # no directory to parse
    raw[-22:] = b"PK\x05\x06" + b"\x00" * 4 + (5000).to_bytes(2, "little") * 2 + b"\x00" * 10
    path.write_bytes(bytes(raw))
    with pytest.raises(FileTooLarge, match="5000 entries"):
        check_zip(path)


def test_gdal_fetches_that_slip_through_go_to_a_closed_port(tmp_path, listener, monkeypatch):
    """The backstop under check_json_crs: GDAL's own HTTP client is pointed at a closed local proxy."""
    import pyogrio

    from geo.offline import gdal_offline

    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    gdal_offline()
    path = tmp_path / "linked.geojson"
    link = f'{{"type":"link","properties":{{"href":"{listener.url}","type":"ogcwkt"}}}}'
    point = '{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[1,2]}}'
    path.write_text(f'{{"type":"FeatureCollection","crs":{link},"features":[{point}]}}')
    assert len(pyogrio.read_dataframe(path)) == 1  # read directly, past check_json_crs
    assert listener.connections == []
