import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import rasterio
import shapely
from rasterio.io import MemoryFile

from geo.tms import get_tms
from layers.boundaries import load_boundaries
from layers.raster_demo import build_cadmium_cog
from layers.rasters import raster_spec
from tests.images import png_rgba

CITY = (112.9454, 27.8313)


@pytest.fixture(scope="module")
def cog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rasters")
    return build_cadmium_cog(folder / "soil-cadmium.tif", load_boundaries(), seed=2025)


@pytest.fixture(scope="module")
def raster_client(tmp_path_factory, demo_gpkg, cog, app_factory):
    from fastapi.testclient import TestClient

    folder = tmp_path_factory.mktemp("served")
    gpkg = folder / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, gpkg)
    target = folder / raster_spec("soil-cadmium").filename
    target.parent.mkdir(parents=True)
    shutil.copyfile(cog, target)
    with TestClient(app_factory(gpkg)) as client:
        yield client


def test_demo_cog_is_deterministic_tagged_and_has_overviews(cog, tmp_path):
    again = build_cadmium_cog(tmp_path / "again.tif", load_boundaries(), seed=2025)
    with rasterio.open(cog) as a, rasterio.open(again) as b:
        assert np.array_equal(a.read(1), b.read(1))
        assert a.tags()["DEMO"] == "true" and a.overviews(1) and a.crs.to_epsg() == 4326
        assert a.profile["blockxsize"] == 512 and a.profile["compress"] == "deflate"
        values = a.read(1, masked=True)
        assert 0.1 < values.min() < values.max() < 3.0 and values.mask.any()


def test_raster_listing_and_info(raster_client):
    listed = raster_client.get("/rasters").json()["rasters"]
    assert [r["id"] for r in listed] == ["soil-cadmium"] and listed[0]["is_demo"]
    info = raster_client.get("/rasters/soil-cadmium").json()
    assert info["crs"] == "EPSG:4326" and info["tags"]["DEMO"] == "true" and info["overviews"]
    assert raster_client.get("/rasters/../../etc/passwd").status_code == 404
    assert raster_client.get("/rasters/elevation").json()["code"] == "UnknownRaster"


def test_raster_tile_png_with_colormap(raster_client):
    tile = get_tms("WebMercatorQuad").tile(*CITY, 11)
    url = f"/rasters/soil-cadmium/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
    response = raster_client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = png_rgba(response.content)
    assert rgba.shape == (4, 256, 256)
    assert (rgba[3] == 255).sum() > 1000
    grey = raster_client.get(url, params={"colormap": "greys", "rescale": "0,2"})
    g = png_rgba(grey.content)
    opaque = g[3] == 255
    assert np.array_equal(g[0][opaque], g[1][opaque]) and np.array_equal(g[1][opaque], g[2][opaque])
    assert raster_client.get(url, params={"colormap": "nope"}).status_code == 400
    assert raster_client.get(url, params={"rescale": "2,1"}).status_code == 400
    assert raster_client.get(url, headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_raster_tiles_outside_data_and_range(raster_client):
    assert raster_client.get("/rasters/soil-cadmium/tiles/WebMercatorQuad/10/0/0.png").status_code == 204
    assert raster_client.get("/rasters/soil-cadmium/tiles/WebMercatorQuad/2/9/0.png").status_code == 404
    tile = get_tms("CGCS2000Quad").tile(*CITY, 10)
    cg = raster_client.get(f"/rasters/soil-cadmium/tiles/CGCS2000Quad/{tile.z}/{tile.x}/{tile.y}.png")
    assert cg.status_code == 200


def test_legend_json_and_png(raster_client):
    legend = raster_client.get("/rasters/soil-cadmium/legend", params={"rescale": "0,1"}).json()
    assert legend["unit"] == "mg/kg" and legend["stops"][0]["value"] == 0 and legend["stops"][-1]["value"] == 1
    assert all(s["color"].startswith("#") and len(s["color"]) == 7 for s in legend["stops"])
    png = raster_client.get("/rasters/soil-cadmium/legend.png")
    with MemoryFile(png.content) as mem, mem.open() as src:
        strip = src.read()
    left, right = tuple(strip[:3, 10, 0]), tuple(strip[:3, 10, -1])
    assert left != right and "#{:02x}{:02x}{:02x}".format(*left) == legend["stops"][0]["color"]


def test_value_at_point_matches_the_file(raster_client, cog):
    body = raster_client.get("/rasters/soil-cadmium/point", params={"lon": CITY[0], "lat": CITY[1]}).json()
    with rasterio.open(cog) as src:
        expected = next(src.sample([CITY]))[0]
    assert body["value"] == pytest.approx(float(expected))
    outside = raster_client.get("/rasters/soil-cadmium/point", params={"lon": 100, "lat": 20}).json()
    assert outside["value"] is None
    assert raster_client.get("/rasters/soil-cadmium/point", params={"lon": 200, "lat": 20}).status_code == 400


def test_zonal_statistics_per_farmland_project(raster_client):
    body = raster_client.get("/rasters/soil-cadmium/zonal", params={"collectionId": "farmland"}).json()
    zones = body["zones"]
    store = raster_client.app.state.store
    assert len(zones) == store.count("farmland")
    counted = [z for z in zones if z["count"]]
    assert counted and all(z["min"] <= z["mean"] <= z["max"] for z in counted)
    done = raster_client.get("/rasters/soil-cadmium/zonal", params={"collectionId": "farmland", "status": "completed"})
    assert len(done.json()["zones"]) < len(zones)
    assert raster_client.get("/rasters/soil-cadmium/zonal", params={"collectionId": "nope"}).status_code == 404


def test_zonal_statistics_of_posted_geojson(raster_client, cog):
    square = shapely.box(CITY[0] - 0.01, CITY[1] - 0.01, CITY[0] + 0.01, CITY[1] + 0.01)
    feature = {"type": "Feature", "id": "sq", "properties": {}, "geometry": shapely.geometry.mapping(square)}
    body = raster_client.post("/rasters/soil-cadmium/zonal", json={"type": "FeatureCollection", "features": [feature]})
    zone = body.json()["zones"][0]
    with rasterio.open(cog) as src:
        window = rasterio.windows.from_bounds(*square.bounds, transform=src.transform)
        data = src.read(1, window=window.round_offsets().round_lengths(), masked=True)
    assert zone["id"] == "sq" and zone["count"] == pytest.approx(data.count(), rel=0.1)
    assert zone["mean"] == pytest.approx(float(data.mean()), rel=0.05)
    bad = raster_client.post("/rasters/soil-cadmium/zonal", json={"type": "Polygon", "coordinates": "x"})
    assert bad.status_code == 400


def test_gdal_block_cache_is_bounded_by_the_setting(tmp_path, demo_gpkg, cog, app_factory, monkeypatch):
    from fastapi.testclient import TestClient

    from geo import raster
    from server.settings import TileSettings

    monkeypatch.delenv("PLANMAP_GDAL_CACHEMAX", raising=False)
    assert TileSettings().gdal_cachemax == 256
    gpkg = tmp_path / "planmap.gpkg"
    shutil.copyfile(demo_gpkg, gpkg)
    target = tmp_path / raster_spec("soil-cadmium").filename
    target.parent.mkdir(parents=True)
    shutil.copyfile(cog, target)
    monkeypatch.setenv("PLANMAP_GDAL_CACHEMAX", "64")
    try:
        with TestClient(app_factory(gpkg)) as client:
            assert raster.gdal_cache_mb() == 64
            tile = get_tms("WebMercatorQuad").tile(*CITY, 11)
            png = client.get(f"/rasters/soil-cadmium/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png")
            assert (png_rgba(png.content)[3] == 255).sum() > 1000
        assert raster.gdal_cache_mb() == 64
    finally:
        raster.configure_gdal(256)
    assert raster.gdal_cache_mb() == 256


def test_cached_raster_tiles_are_answered_before_routing(raster_client):
    state = raster_client.app.state
    tile = get_tms("WebMercatorQuad").tile(*CITY, 12)
    url = f"/rasters/soil-cadmium/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png?colormap=greys"
    before = getattr(state, "fast_tile_answers", 0)
    first = raster_client.get(url)
    assert first.status_code == 200 and getattr(state, "fast_tile_answers", 0) == before
    second = raster_client.get(url)
    assert state.fast_tile_answers == before + 1
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"] == "image/png" and second.headers["x-frame-options"] == "DENY"
    revalidated = raster_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and state.fast_tile_answers == before + 2
    assert raster_client.get(url.replace("soil-cadmium", "nosuch")).status_code == 404
    served = Path(state.settings.store.data_dir) / raster_spec("soil-cadmium").filename
    os.utime(served, ns=(1, 1))  # a replaced file: its tiles are drawn again, under a new ETag
    changed = raster_client.get(url)
    assert changed.status_code == 200 and state.fast_tile_answers == before + 2
    assert changed.headers["etag"] != first.headers["etag"]
