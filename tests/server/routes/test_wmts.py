"""WMTS 1.0.0 against a real uvicorn server: OWSLib reads the capabilities and tiles, GDAL's WMTS driver
draws windows over Xiangtan in WebMercatorQuad and CGCS2000Quad (lat/lon axis order), on both stores."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from fastapi.testclient import TestClient
from owslib.wmts import WebMapTileService
from PIL import Image

import pyproj
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.transform import from_bounds

from geo.storage.base import Filter
from geo.tms import get_tms
from layers.boundaries import load_boundaries
from layers.raster_demo import build_cadmium_cog
from layers.rasters import raster_spec
from tests.conftest import make_app

OWS = "{http://www.opengis.net/ows/1.1}"
CAPS = "/wmts/1.0.0/WMTSCapabilities.xml"
XIANGTAN = (112.80, 27.70, 113.00, 27.90)
"""A window over Xiangtan's farmland and the soil raster (lon/lat)."""


@pytest.fixture(scope="module")
def target(store_url, tmp_path_factory):
    """The demo store served with a data directory holding the demo soil-cadmium COG."""
    folder = tmp_path_factory.mktemp("wmts")
    tif = folder / raster_spec("soil-cadmium").filename
    tif.parent.mkdir(parents=True)
    build_cadmium_cog(tif, load_boundaries(), seed=2025)
    return dataclasses.replace(store_url, data_dir=folder)


@pytest.fixture(scope="module")
def server_url(target, serve):
    with serve(make_app(target)) as base:
        yield base


@pytest.fixture(scope="module")
def wmts(server_url):
    return WebMapTileService(f"{server_url}{CAPS}")


@pytest.fixture(scope="module")
def wmts_client(target):
    with TestClient(make_app(target)) as client:
        yield client


def rgba(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (256, 256)
    return np.asarray(image.convert("RGBA"))


def farmland_point(demo_store) -> tuple[float, float]:
    frame = demo_store.read("farmland")
    inside = frame[frame.intersects(shapely.box(*XIANGTAN))]
    largest = inside.geometry.to_crs(3857).area.idxmax()
    point = inside.geometry[largest].representative_point()
    return point.x, point.y


def test_capabilities_list_layers_matrix_sets_and_templates(wmts, server_url, demo_store, registry):
    held = [layer.id for layer in registry if layer.id in demo_store.layers()]
    assert list(wmts.contents) == [*held, "soil-cadmium"]
    assert list(wmts.tilematrixsets) == ["WebMercatorQuad", "CGCS2000Quad"]
    farmland = wmts.contents["farmland"]
    assert farmland.title.startswith(registry.get("farmland").title_zh)
    assert farmland.boundingBoxWGS84 == pytest.approx(demo_store.bounds("farmland"))
    assert farmland.formats == ["image/png"] and list(farmland.styles) == ["default"]
    assert farmland.styles["default"]["isDefault"]
    assert list(farmland.tilematrixsetlinks) == ["WebMercatorQuad", "CGCS2000Quad"]
    template = f"{server_url}/wmts/1.0.0/farmland/" + "{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png"
    assert farmland.resourceURLs == [{"format": "image/png", "resourceType": "tile", "template": template}]
    cadmium = wmts.contents["soil-cadmium"]
    west, _, east, _ = cadmium.boundingBoxWGS84
    assert cadmium.title.startswith("耕地土壤镉污染风险") and west < 113 < east


def test_tile_matrix_sets_follow_their_crs_axis_order(wmts):
    mercator, cgcs = wmts.tilematrixsets["WebMercatorQuad"], wmts.tilematrixsets["CGCS2000Quad"]
    assert mercator.crs == "urn:ogc:def:crs:EPSG::3857" and cgcs.crs == "urn:ogc:def:crs:EPSG::4490"
    zero = mercator.tilematrix["0"]
    assert zero.topleftcorner == pytest.approx((-20037508.3427892, 20037508.3427892))
    assert zero.scaledenominator == pytest.approx(559082264.0287178) and zero.matrixwidth == zero.matrixheight == 1
    assert len(mercator.tilematrix) == 25
    # EPSG:4490 is latitude first: the top-left corner is (90 N, 180 W) written as "90 -180".
    one = cgcs.tilematrix["1"]
    assert one.topleftcorner == (90.0, -180.0) and (one.matrixwidth, one.matrixheight) == (2, 1)
    assert one.scaledenominator == pytest.approx(279541132.0143589)
    assert list(cgcs.tilematrix)[0] == "1" and cgcs.tilematrix["12"].matrixwidth == 4096


def test_tile_matrix_set_limits_cover_the_layer(wmts):
    link = wmts.contents["farmland"].tilematrixsetlinks["WebMercatorQuad"]
    limits = link.tilematrixlimits["12"]
    tile = get_tms("WebMercatorQuad").tile(112.94, 27.83, 12)
    assert limits.mintilecol <= tile.x <= limits.maxtilecol and limits.mintilerow <= tile.y <= limits.maxtilerow
    assert limits.maxtilecol - limits.mintilecol < 20
    cgcs = wmts.contents["farmland"].tilematrixsetlinks["CGCS2000Quad"].tilematrixlimits["1"]
    assert (cgcs.mintilerow, cgcs.maxtilerow, cgcs.mintilecol, cgcs.maxtilecol) == (0, 0, 1, 1)


@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "CGCS2000Quad"])
def test_owslib_gettile_draws_farmland_over_xiangtan(wmts, demo_store, tms_id):
    tile = get_tms(tms_id).tile(*farmland_point(demo_store), 13)
    got = wmts.gettile(layer="farmland", tilematrixset=tms_id, tilematrix=str(tile.z), row=tile.y, column=tile.x)
    pixels = rgba(got.read())
    assert (pixels[..., 3] > 0).sum() > 200


def test_owslib_gettile_of_the_raster(wmts):
    tile = get_tms("CGCS2000Quad").tile(112.94, 27.83, 10)
    got = wmts.gettile(layer="soil-cadmium", tilematrixset="CGCS2000Quad", tilematrix="10", row=tile.y, column=tile.x)
    assert (rgba(got.read())[..., 3] == 255).sum() > 1000


def test_empty_tile_is_a_transparent_png_with_cache_headers(wmts_client):
    response = wmts_client.get("/wmts/1.0.0/farmland/default/WebMercatorQuad/12/0/0.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert not rgba(response.content)[..., 3].any()
    etag = response.headers["etag"]
    assert response.headers["cache-control"] == "no-cache"
    again = wmts_client.get("/wmts/1.0.0/farmland/default/WebMercatorQuad/12/0/0.png", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_capabilities_etag_and_root_path(wmts_client, target):
    first = wmts_client.get(CAPS)
    assert first.headers["content-type"].startswith("application/xml") and first.headers["etag"]
    assert wmts_client.get(CAPS, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    with TestClient(make_app(target), root_path="/planmap") as proxied:
        text = proxied.get(CAPS).text
    assert 'template="http://testserver/planmap/wmts/1.0.0/farmland/{Style}/' in text


@pytest.mark.parametrize(
    ("path", "status", "code", "locator"),
    [
        ("nope/default/WebMercatorQuad/12/1718/3333", 404, "InvalidParameterValue", "layer"),
        ("farmland/fancy/WebMercatorQuad/12/1718/3333", 404, "InvalidParameterValue", "style"),
        ("farmland/default/WorldCRS84Quad/12/1718/3333", 404, "InvalidParameterValue", "TileMatrixSet"),
        ("farmland/default/Nope/12/1718/3333", 404, "InvalidParameterValue", "TileMatrixSet"),
        ("farmland/default/WebMercatorQuad/25/0/0", 404, "TileOutOfRange", "TileMatrix"),
        ("farmland/default/CGCS2000Quad/0/0/0", 404, "TileOutOfRange", "TileMatrix"),
        ("farmland/default/WebMercatorQuad/x/0/0", 404, "TileOutOfRange", "TileMatrix"),
        ("farmland/default/WebMercatorQuad/12/4096/0", 404, "TileOutOfRange", "TileRow"),
        ("farmland/default/CGCS2000Quad/1/0/2", 404, "TileOutOfRange", "TileCol"),
        ("farmland/default/WebMercatorQuad/12/-1/0", 404, "TileOutOfRange", "TileRow"),
        ("farmland/default/WebMercatorQuad/12/1718/abc", 400, "InvalidParameterValue", "TileCol"),
        ("soil-cadmium/default/CGCS2000Quad/1/9/0", 404, "TileOutOfRange", "TileRow"),
    ],
)
def test_bad_tile_requests_answer_an_ows_exception_report(wmts_client, path, status, code, locator):
    response = wmts_client.get(f"/wmts/1.0.0/{path}.png")
    assert response.status_code == status and response.headers["content-type"].startswith("application/xml")
    report = ET.fromstring(response.content)
    assert report.tag == f"{OWS}ExceptionReport"
    exception = report.find(f"{OWS}Exception")
    assert exception.get("exceptionCode") == code and exception.get("locator") == locator
    assert exception.find(f"{OWS}ExceptionText").text


def test_registered_rasters_are_layers_with_escaped_titles(writable_store_url, tmp_path, serve, registry):
    from layers.raster_add import add_raster
    from tests.server.routes.test_raster_add import stripped_tiff

    target = dataclasses.replace(writable_store_url, data_dir=tmp_path)
    title = "高程 <DEM> & 'x' \"y\""
    with target.open() as store:
        add_raster(store, tmp_path, "dem", stripped_tiff(tmp_path / "dem.tif"), title=title, unit="m")
        add_raster(store, tmp_path, "farmland", stripped_tiff(tmp_path / "f.tif"), title="同名栅格")
    with serve(make_app(target)) as base:
        wmts = WebMapTileService(f"{base}{CAPS}")
        assert wmts.contents["dem"].title == title
        # a raster named like a plan layer does not shadow it (it stays under /rasters)
        assert list(wmts.contents).count("farmland") == 1
        assert wmts.contents["farmland"].title.startswith(registry.get("farmland").title_zh)
        tile = get_tms("WebMercatorQuad").tile(112.9, 27.9, 11)
        got = wmts.gettile(layer="dem", tilematrixset="WebMercatorQuad", tilematrix="11", row=tile.y, column=tile.x)
        assert (rgba(got.read())[..., 3] == 255).sum() > 1000


@pytest.fixture
def gdal(require):
    require(shutil.which("gdalinfo") is not None and shutil.which("gdal_translate") is not None, "GDAL")


def gdal_run(*args: str, cwd) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def gdal_window(server_url, layer: str, tms_id: str, tmp_path) -> tuple[np.ndarray, tuple[float, ...], str]:
    """Draw ``XIANGTAN`` at 256 x 256 through GDAL; return the RGBA pixels, the window in the TMS CRS, and the CRS."""
    crs = "EPSG:3857" if tms_id == "WebMercatorQuad" else "EPSG:4490"
    to_crs = pyproj.Transformer.from_crs("OGC:CRS84", crs, always_xy=True)
    west, south, east, north = to_crs.transform_bounds(*XIANGTAN)
    out = tmp_path / f"{layer}-{tms_id}.tif"
    source = f"WMTS:{server_url}{CAPS},layer={layer},tilematrixset={tms_id}"
    window = [str(v) for v in (west, north, east, south)]
    args = ["gdal_translate", "-q", "-of", "GTiff", "-projwin", *window, "-outsize", "256", "256", source, str(out)]
    gdal_run(*args, cwd=tmp_path)
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == int(crs.split(":")[1]) and src.count == 4
        return np.moveaxis(src.read(), 0, -1), (west, south, east, north), crs


def test_gdalinfo_reads_the_layer(gdal, server_url, demo_store, tmp_path):
    out = gdal_run("gdalinfo", f"WMTS:{server_url}{CAPS},layer=farmland,tilematrixset=CGCS2000Quad", cwd=tmp_path)
    assert "Driver: WMTS/OGC Web Map Tile Service" in out and "TITLE=高标准农田建设" in out
    west, south, east, north = demo_store.bounds("farmland")
    upper_left = out.split("Upper Left  (")[1].split(")")[0]
    x, y = (float(v) for v in upper_left.split(","))
    assert x == pytest.approx(west, abs=1e-3) and y == pytest.approx(north, abs=1e-3)


@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "CGCS2000Quad"])
def test_gdal_translate_draws_farmland_where_it_is(gdal, server_url, demo_store, tms_id, tmp_path):
    pixels, window, crs = gdal_window(server_url, "farmland", tms_id, tmp_path)
    drawn = pixels[..., 3] > 0
    assert drawn.sum() > 500
    frame = demo_store.read("farmland", Filter(bbox=XIANGTAN)).to_crs(crs)
    truth = rasterize(frame.geometry.buffer(0), out_shape=(256, 256), transform=from_bounds(*window, 256, 256))
    near = truth.astype(bool)
    for _ in range(2):  # allow the outline's width and thinning of tiny parcels
        near = near | np.roll(near, 1, 0) | np.roll(near, -1, 0) | np.roll(near, 1, 1) | np.roll(near, -1, 1)
    assert (drawn & near).sum() / drawn.sum() > 0.9  # a swapped axis or shifted grid would put them elsewhere


def test_gdal_translate_draws_the_raster_in_cgcs2000(gdal, server_url, tmp_path):
    pixels, _, _ = gdal_window(server_url, "soil-cadmium", "CGCS2000Quad", tmp_path)
    opaque = pixels[..., 3] == 255
    assert opaque.sum() > 256 * 256 // 2
    assert len(np.unique(pixels[opaque][:, :3], axis=0)) > 5
