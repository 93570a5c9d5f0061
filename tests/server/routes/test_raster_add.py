"""``planmap raster add``: a user's non-COG GeoTIFF becomes a served COG raster, on both stores; bad files refused."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from rio_cogeo.cogeo import cog_validate

import rasterio
from rasterio.transform import from_origin

from layers.errors import InvalidRaster
from layers.raster_add import add_raster
from tests.conftest import make_app
from tests.images import png_rgba


def stripped_tiff(path, crs="EPSG:4490"):
    """A plain (striped, no overviews) GeoTIFF over Xiangtan: values rise west to east, 0..99.9, nodata -9999."""
    data = np.tile(np.arange(1200, dtype="float32") / 12, (900, 1))
    data[:10, :10] = -9999
    profile = {"driver": "GTiff", "width": 1200, "height": 900, "count": 1, "dtype": "float32", "nodata": -9999}
    with rasterio.open(path, "w", **profile, crs=crs, transform=from_origin(112.3, 28.2, 0.001, 0.001)) as dst:
        dst.write(data, 1)
    return path


def box_geojson(minx, miny, maxx, maxy):
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_registered_raster_is_a_cog_served_like_the_built_in_one(writable_store_url, tmp_path):
    source = stripped_tiff(tmp_path / "elevation.tif")
    assert not cog_validate(str(source), quiet=True)[0]
    with writable_store_url.open() as store:
        spec = add_raster(store, writable_store_url.data_dir, "elevation", source, colormap="YlOrRd", unit="m")
    stored = writable_store_url.data_dir / spec.filename
    assert cog_validate(str(stored), quiet=True)[0] and spec.rescale == pytest.approx((0.0, 99.9166), abs=1e-3)
    with rasterio.open(stored) as cog:
        assert cog.overviews(1) and cog.crs.to_epsg() == 4490
    with TestClient(make_app(writable_store_url)) as client:
        listed = {r["id"]: r for r in client.get("/rasters").json()["rasters"]}
        assert {"soil-cadmium", "elevation"} <= set(listed) and listed["elevation"]["colormap"] == "ylorrd"
        point = client.get("/rasters/elevation/point", params={"lon": 112.3 + 0.001 * 600.5, "lat": 28.0}).json()
        assert point["value"] == pytest.approx(50.0) and point["unit"] == "m"
        legend = client.get("/rasters/elevation/legend").json()
        assert legend["stops"][0]["color"] == "#ffffcc"
        assert legend["stops"][-1]["value"] == pytest.approx(99.9166, abs=1e-3)
        tile = client.get("/rasters/elevation/tiles/WebMercatorQuad/8/208/107.png", params={"rescale": "0,50"})
        assert tile.status_code == 200
        rgba = png_rgba(tile.content)
        assert rgba.shape == (4, 256, 256) and rgba[3].any()
        zones = client.post("/rasters/elevation/zonal", json=box_geojson(112.8, 27.9, 113.0, 28.1))
        zone = zones.json()["zones"][0]
        assert zone["count"] == pytest.approx(200 * 200, rel=0.02) and zone["mean"] == pytest.approx(50.0, abs=0.1)
        assert client.get("/rasters/elevation/legend", params={"colormap": "nosuch"}).status_code in (400, 422)


def test_rasters_without_crs_or_unreadable_and_bad_names_are_refused(writable_store, tmp_path):
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "uint8"}
    with rasterio.open(tmp_path / "nocrs.tif", "w", **profile) as dst:
        dst.write(np.zeros((8, 8), "uint8"), 1)
    with pytest.raises(InvalidRaster, match="no CRS"):
        add_raster(writable_store, tmp_path, "nocrs", tmp_path / "nocrs.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(InvalidRaster, match="cannot read"):
        add_raster(writable_store, tmp_path, "junk", tmp_path / "junk.tif")
    good = stripped_tiff(tmp_path / "g.tif")
    for name in ("../evil", "<b>x</b>", "soil-cadmium", "UPPER"):
        with pytest.raises(InvalidRaster):
            add_raster(writable_store, tmp_path, name, good)
    assert writable_store.records("raster") == []
    assert not (tmp_path / "rasters").exists() or not any((tmp_path / "rasters").rglob("*.tif"))


def test_cli_raster_add_and_list(writable_gpkg, tmp_path, monkeypatch, capsys):
    from server.cli import main

    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(writable_gpkg))
    monkeypatch.setenv("PLANMAP_DATA_DIR", str(tmp_path))
    source = stripped_tiff(tmp_path / "dem.tif", crs="EPSG:4326")
    argv = ["raster", "add", "dem", str(source), "--colormap", "viridis", "--rescale", "10,90", "--title", "高程"]
    assert main(argv) == 0 and "registered raster dem" in capsys.readouterr().out
    assert (tmp_path / "rasters/user/dem.tif").exists()
    assert main(["raster", "list"]) == 0 and "高程" in capsys.readouterr().out
    assert main(["raster", "add", "dem2", str(source), "--rescale", "9,1"]) == 2
    assert "rescale" in capsys.readouterr().err
