import shutil
import subprocess
from datetime import date
from io import BytesIO

import mapbox_vector_tile
import numpy as np
import pytest

import shapely
from rasterio.io import MemoryFile

from geo.storage.base import Filter, HistoryEntry
from geo.tms import get_tms, tile_grid

MVT = "application/vnd.mapbox-vector-tile"


def decode(content):
    return mapbox_vector_tile.decode(content, default_options={"y_coord_down": True})


def store_of(client):
    return client.app.state.store


def tile_of_feature(client, layer_id, z, tms_id="WebMercatorQuad", where=None):
    """Return (feature, tile) for the first feature of a layer, the tile under its representative point."""
    frame = store_of(client).read(layer_id, where, limit=1)
    point = shapely.point_on_surface(frame.geometry.iloc[0])
    return frame.iloc[0], get_tms(tms_id).tile(point.x, point.y, z)


def test_layer_tile_decodes_with_properties_and_geometry_in_extent(client):
    feature, tile = tile_of_feature(client, "farmland", 14)
    response = client.get(f"/collections/farmland/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}?lights=true")
    assert response.status_code == 200
    assert response.headers["content-type"] == MVT
    layer = decode(response.content)["farmland"]
    assert layer["extent"] == 4096
    by_id = {f["properties"]["id"]: f for f in layer["features"]}
    assert feature["id"] in by_id
    props = by_id[feature["id"]]["properties"]
    assert set(props) <= {"id", "name", "status", "progress_pct", "county", "light", "lag_pts", "elapsed_pct"}
    assert props["light"] in ("green", "yellow", "red")
    assert props["status"] == feature["status"] and props["county"] == feature["county"]
    coords = np.array(shapely.get_coordinates(shapely.from_geojson(_geojson(by_id[feature["id"]]))))
    assert coords.min() >= -64 and coords.max() <= 4096 + 64


def _geojson(feature):
    import json

    return json.dumps(feature["geometry"])


def test_tile_feature_count_matches_the_store_in_the_data_area(client):
    _, tile = tile_of_feature(client, "farmland", 15)
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    expected = set(store_of(client).read("farmland", Filter(bbox=grid.lonlat_bounds), columns=["id"])["id"])
    decoded = decode(client.get(f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt").content)["farmland"]
    ids = {f["properties"]["id"] for f in decoded["features"]}
    buffered = store_of(client).read("farmland", Filter(bbox=grid.lonlat_bbox(64 / 4096)), columns=["id"])
    assert expected and expected <= ids <= set(buffered["id"])


def test_xyz_alias_and_ogc_path_serve_the_same_tile(client):
    _, tile = tile_of_feature(client, "reservoirs", 10)
    a = client.get(f"/tiles/reservoirs/{tile.z}/{tile.x}/{tile.y}.mvt")
    b = client.get(f"/collections/reservoirs/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}")
    assert a.status_code == b.status_code == 200
    assert decode(a.content) == decode(b.content)
    assert all(f["geometry"]["type"] == "Point" for f in decode(a.content)["reservoirs"]["features"])


def test_filters_apply_to_tiles(client):
    _, tile = tile_of_feature(client, "farmland", 11, where=Filter(equals={"status": "completed"}))
    url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    done = decode(client.get(url, params={"status": "completed"}).content)["farmland"]["features"]
    assert done and {f["properties"]["status"] for f in done} == {"completed"}
    county = done[0]["properties"]["county"]
    same = client.get(url, params={"filter": f"county = '{county}'"})
    assert {f["properties"]["county"] for f in decode(same.content)["farmland"]["features"]} == {county}


def test_composite_tile_holds_several_project_layers(client):
    tile = get_tms("WebMercatorQuad").tile(112.9454, 27.8313, 9)
    response = client.get(f"/tiles/plan/{tile.z}/{tile.x}/{tile.y}.mvt")
    assert response.status_code == 200
    layers = decode(response.content)
    assert {"farmland", "reservoirs"} <= set(layers) and "counties" not in layers
    ogc = client.get(f"/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}")
    assert decode(ogc.content).keys() == layers.keys()


def test_cgcs2000_tiles_are_served(client):
    _, tile = tile_of_feature(client, "farmland", 12, tms_id="CGCS2000Quad")
    response = client.get(f"/collections/farmland/tiles/CGCS2000Quad/{tile.z}/{tile.x}/{tile.y}")
    assert response.status_code == 200 and decode(response.content)["farmland"]["features"]


def test_empty_tile_is_204_and_errors_are_4xx(client):
    empty = client.get("/tiles/farmland/10/0/0.mvt")
    assert empty.status_code == 204 and empty.content == b"" and empty.headers["etag"]
    assert client.get("/tiles/farmland/3/8/0.mvt").status_code == 404
    assert client.get("/tiles/farmland/40/0/0.mvt").status_code == 404
    assert client.get("/tiles/farmland/3/-1/0.mvt").status_code == 404
    assert client.get("/collections/farmland/tiles/NoSuchTMS/3/0/0").status_code == 404
    assert client.get("/tiles/no-such-layer/3/0/0.mvt").json()["code"] == "UnknownLayer"
    assert client.get("/tiles/farmland/3/0/0.mvt", params={"status": "x", "filter": "nope ="}).status_code == 400


def test_etag_revalidation_answers_304(client):
    _, tile = tile_of_feature(client, "farmland", 13)
    url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, params={"status": "completed"}).headers["etag"] != etag


def test_progress_update_changes_the_next_tile_and_its_etag(writable_client):
    store = store_of(writable_client)
    feature, tile = tile_of_feature(writable_client, "farmland", 14, where=Filter(equals={"status": "planned"}))
    url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    before = writable_client.get(url)
    status = {f["properties"]["id"]: f["properties"]["status"] for f in decode(before.content)["farmland"]["features"]}
    assert status[feature["id"]] == "planned"
    entry = HistoryEntry("farmland", feature["id"], date(2025, 6, 1), "completed", percent=100.0)
    store.record_progress(entry, {"status": "completed", "progress_pct": 100.0})
    after = writable_client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    props = {f["properties"]["id"]: f["properties"] for f in decode(after.content)["farmland"]["features"]}
    assert props[feature["id"]]["status"] == "completed" and props[feature["id"]]["progress_pct"] == 100.0


def test_png_tile_by_status_colour(client, registry):
    feature, tile = tile_of_feature(client, "farmland", 14)
    response = client.get(f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    with MemoryFile(response.content) as mem, mem.open() as src:
        assert (src.count, src.width, src.height, src.dtypes[0]) == (4, 256, 256, "uint8")
        rgba = src.read()
    grid = tile_grid("WebMercatorQuad", tile.z, tile.x, tile.y)
    point = shapely.point_on_surface(store_of(client).get("farmland", feature["id"]).geometry.iloc[0])
    col, row = shapely.get_coordinates(grid.to_pixels(np.array([point]), 256))[0].astype(int)
    assert rgba[3, row, col] > 0
    colours = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in registry.get("farmland").status_colors.values()}
    assert tuple(int(v) for v in rgba[:3, row, col]) in colours
    assert (rgba[3] == 0).any() or (rgba[3] > 0).all()
    ogc = client.get(f"/collections/farmland/map/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}")
    assert ogc.content == response.content


def test_tilejson_is_maplibre_compatible(client):
    tj = client.get("/collections/farmland/tiles/WebMercatorQuad/tilejson.json", params={"status": "completed"}).json()
    assert tj["tilejson"] == "3.0.0"
    assert (
        tj["tiles"][0].startswith("http") and "{z}/{x}/{y}" in tj["tiles"][0] and "status=completed" in tj["tiles"][0]
    )
    assert 0 <= tj["minzoom"] < tj["maxzoom"] <= 22
    west, south, east, north = tj["bounds"]
    assert 111.9 < west < east < 113.2 and 27.3 < south < north < 28.1
    layer = tj["vector_layers"][0]
    assert layer["id"] == "farmland" and {"id", "status", "progress_pct"} <= set(layer["fields"])
    path = tj["tiles"][0].split("testserver")[1].replace("{z}/{x}/{y}", "12/3333/1718")
    assert client.get(path).status_code in (200, 204)
    plan = client.get("/tiles/WebMercatorQuad/tilejson.json").json()
    assert {"farmland", "reservoirs"} <= {v["id"] for v in plan["vector_layers"]}


def test_maplibre_style_uses_status_colours(client, registry):
    style = client.get("/collections/farmland/styles/default").json()
    assert style["version"] == 8 and style["sources"]["farmland"]["url"].endswith("tilejson.json")
    fill = next(layer for layer in style["layers"] if layer["type"] == "fill")
    assert all(c in fill["paint"]["fill-color"] for c in registry.get("farmland").status_colors.values())


def test_tile_matrix_sets_endpoints(client):
    listed = client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]
    cgcs = client.get("/tileMatrixSets/CGCS2000Quad").json()
    assert "4490" in str(cgcs["crs"]) and cgcs["tileMatrices"][0]["id"] == "1"
    assert client.get("/tileMatrixSets/Nope").status_code == 404


def test_openapi_documents_empty_tiles(client):
    spec = client.get("/openapi.json").json()
    assert "204" in spec["paths"]["/collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}"]["get"]["responses"]


def test_gdal_reads_a_served_tile(client, tmp_path, require):
    require(shutil.which("ogrinfo") is not None, "GDAL ogrinfo (apt gdal-bin)")
    _, tile = tile_of_feature(client, "farmland", 14)
    path = tmp_path / f"{tile.z}-{tile.x}-{tile.y}.mvt"
    path.write_bytes(client.get(f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt").content)
    out = subprocess.run(
        [
            "ogrinfo",
            "-ro",
            "-al",
            "-so",
            f"MVT:{path}",
            "-oo",
            f"Z={tile.z}",
            "-oo",
            f"X={tile.x}",
            "-oo",
            f"Y={tile.y}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Layer name: farmland" in out and "Feature Count:" in out
    count = int(out.split("Feature Count:")[1].split()[0])
    assert count == len(decode(path.read_bytes())["farmland"]["features"])


def test_basemap_tile_draws_the_counties(client):
    tile = get_tms("WebMercatorQuad").tile(112.9454, 27.8313, 10)
    response = client.get(f"/basemap/{tile.z}/{tile.x}/{tile.y}.png")
    assert response.status_code == 200
    with MemoryFile(BytesIO(response.content)) as mem, mem.open() as src:
        rgba = src.read()
    assert src.count == 4 and rgba.shape == (4, 256, 256)
    assert len({tuple(p) for p in rgba[:3].reshape(3, -1).T[::97]}) >= 3  # background, fills, outlines
    assert (
        client.get(
            f"/basemap/{tile.z}/{tile.x}/{tile.y}.png", headers={"If-None-Match": response.headers["etag"]}
        ).status_code
        == 304
    )


@pytest.mark.parametrize("url", ["/basemap/40/0/0.png", "/tiles/plan/2/9/0.mvt"])
def test_out_of_range_is_404_not_500(client, url):
    assert client.get(url).status_code == 404


def test_vector_tiles_are_served_gzip_compressed_once(client):
    import gzip

    _, tile = tile_of_feature(client, "farmland", 12)
    url = f"/tiles/farmland/{tile.z}/{tile.x}/{tile.y}.mvt"
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
        raw = b"".join(zipped.iter_raw())
        assert zipped.headers["content-encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["vary"]
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content and decode(plain.content)["farmland"]["features"]
    assert zipped.headers["etag"] != plain.headers["etag"]
