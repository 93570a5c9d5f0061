"""The built demo GeoPackage is a plain GeoPackage that GDAL (and so QGIS) opens with every layer indexed."""

import shutil
import subprocess


def test_ogrinfo_lists_every_layer_with_its_spatial_index(demo_gpkg, registry, require):
    require(shutil.which("ogrinfo") is not None, "GDAL ogrinfo")
    listing = subprocess.run(["ogrinfo", "-ro", "-q", str(demo_gpkg)], capture_output=True, text=True, check=True)
    for layer in registry:
        assert f": {layer.id} (" in listing.stdout, layer.id
        out = subprocess.run(
            ["ogrinfo", "-ro", "-q", str(demo_gpkg), "-sql", f"SELECT HasSpatialIndex('{layer.id}', 'geom')"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "HasSpatialIndex (Integer) = 1" in out.stdout, layer.id


def test_ogrinfo_reads_chinese_attributes_and_counts(demo_gpkg, require):
    require(shutil.which("ogrinfo") is not None, "GDAL ogrinfo")
    summary = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(demo_gpkg), "reservoirs"], capture_output=True, text=True, check=True
    )
    assert "Feature Count: 25" in summary.stdout and "size_class: String" in summary.stdout
    one = subprocess.run(
        ["ogrinfo", "-ro", "-q", str(demo_gpkg), "-sql", "SELECT name, county_name FROM reservoirs LIMIT 1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "county_name (String) = " in one.stdout and any("\u4e00" <= ch <= "\u9fff" for ch in one.stdout)
