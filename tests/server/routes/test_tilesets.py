"""OGC API - Tiles tileset lists and metadata: every link resolves and every template gives a real tile."""

from __future__ import annotations

import io

import mapbox_vector_tile
import pytest
from PIL import Image

from geo.tms import TMS_IDS, get_tms

TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CITY = (112.9454, 27.8313)


def links(doc: dict, rel: str) -> list[dict]:
    return [link for link in doc["links"] if link["rel"] == rel]


def local(client, href: str) -> str:
    base = str(client.base_url).rstrip("/")
    assert href.startswith(base), href
    return href[len(base) :]


@pytest.fixture(scope="module")
def farm(demo_store) -> tuple[float, float]:
    """A point inside the largest farmland project."""
    frame = demo_store.read("farmland")
    point = frame.geometry[frame.geometry.to_crs(3857).area.idxmax()].representative_point()
    return point.x, point.y


def fill(template: str, tms_id: str, zoom: int, where: tuple[float, float] = CITY) -> str:
    """Fill a tile template with the tile over ``where`` at ``zoom`` (matrix ids are zoom levels)."""
    tile = get_tms(tms_id).tile(*where, zoom)
    return (
        template.replace("{tileMatrix}", str(tile.z))
        .replace("{tileRow}", str(tile.y))
        .replace("{tileCol}", str(tile.x))
    )


def test_conformance_declares_the_tiles_classes(client):
    classes = client.get("/conformance").json()["conformsTo"]
    for name in ("core", "tileset", "tilesets-list", "dataset-tilesets", "geodata-tilesets", "mvt", "png"):
        assert TILES + name in classes


def test_landing_and_collection_link_to_the_tilesets(client):
    landing = client.get("/").json()
    assert local(client, links(landing, REL + "tilesets-vector")[0]["href"]) == "/tiles"
    assert local(client, links(landing, REL + "tiling-schemes")[0]["href"]) == "/tileMatrixSets"
    collection = client.get("/collections/farmland").json()
    assert local(client, links(collection, REL + "tilesets-vector")[0]["href"]) == "/collections/farmland/tiles"
    assert local(client, links(collection, REL + "tilesets-map")[0]["href"]) == "/collections/farmland/map/tiles"


def test_dataset_tilesets_resolve_to_composite_vector_tiles(client, demo_store):
    doc = client.get("/tiles").json()
    assert local(client, links(doc, "self")[0]["href"]) == "/tiles"
    assert [t["dataType"] for t in doc["tilesets"]] == ["vector"] * len(TMS_IDS)
    for entry in doc["tilesets"]:
        tms_id = local(client, links(entry, "self")[0]["href"]).rsplit("/", 1)[1]
        assert entry["crs"] == str(get_tms(tms_id).crs.root)
        tiling = client.get(local(client, links(entry, REL + "tiling-scheme")[0]["href"])).json()
        assert tiling["id"] == tms_id
        meta = client.get(local(client, links(entry, "self")[0]["href"])).json()
        assert {layer["id"] for layer in meta["layers"]} >= {"farmland", "reservoirs"}
        item = links(meta, "item")[0]
        assert item["templated"] and item["type"] == "application/vnd.mapbox-vector-tile"
        tile = client.get(local(client, fill(item["href"], tms_id, 12)))
        assert tile.status_code == 200 and {"farmland", "old-communities"} & set(
            mapbox_vector_tile.decode(tile.content)
        )


def test_dataset_tileset_metadata_has_limits_and_box(client, demo_store):
    meta = client.get("/tiles/WebMercatorQuad").json()
    assert meta["tileMatrixSetURI"] == "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    west, south = meta["boundingBox"]["lowerLeft"]
    assert west <= CITY[0] <= meta["boundingBox"]["upperRight"][0] and south <= CITY[1]
    limits = {lim["tileMatrix"]: lim for lim in meta["tileMatrixSetLimits"]}
    tile = get_tms("WebMercatorQuad").tile(*CITY, 12)
    assert limits["12"]["minTileCol"] <= tile.x <= limits["12"]["maxTileCol"]
    assert limits["12"]["minTileRow"] <= tile.y <= limits["12"]["maxTileRow"]
    assert "tileMatrixSetURI" not in client.get("/tiles/CGCS2000Quad").json()  # planmap's own grid


@pytest.mark.parametrize("tms_id", TMS_IDS)
def test_collection_tilesets_resolve_to_mvt_and_png(client, tms_id, farm):
    doc = client.get("/collections/farmland/tiles").json()
    kinds = {(t["dataType"], local(client, links(t, "self")[0]["href"])) for t in doc["tilesets"]}
    vector, png = f"/collections/farmland/tiles/{tms_id}", f"/collections/farmland/map/tiles/{tms_id}"
    assert {("vector", vector), ("map", png)} <= kinds
    meta = client.get(vector).json()
    assert meta["dataType"] == "vector" and meta["layers"][0]["id"] == "farmland"
    assert meta["layers"][0]["geometryDimension"] == 2
    mvt = client.get(local(client, fill(links(meta, "item")[0]["href"], tms_id, 11, farm)))
    assert mvt.status_code == 200 and mapbox_vector_tile.decode(mvt.content)["farmland"]["features"]
    map_meta = client.get(png).json()
    assert map_meta["dataType"] == "map" and links(map_meta, "item")[0]["type"] == "image/png"
    drawn = client.get(local(client, fill(links(map_meta, "item")[0]["href"], tms_id, 11, farm)))
    image = Image.open(io.BytesIO(drawn.content)).convert("RGBA")
    assert drawn.status_code == 200 and image.getextrema()[3][1] > 0


def test_collection_map_tileset_list(client):
    doc = client.get("/collections/reservoirs/map/tiles").json()
    assert [t["dataType"] for t in doc["tilesets"]] == ["map"] * len(TMS_IDS)
    assert local(client, links(doc, "self")[0]["href"]) == "/collections/reservoirs/map/tiles"


def test_tileset_metadata_is_cached_by_etag(client):
    first = client.get("/collections/farmland/tiles/WebMercatorQuad")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/collections/farmland/tiles/WebMercatorQuad", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/collections/nope/tiles", "UnknownLayer"),
        ("/collections/nope/map/tiles", "UnknownLayer"),
        ("/collections/farmland/tiles/Nope", "UnknownTileMatrixSet"),
        ("/collections/farmland/map/tiles/Nope", "UnknownTileMatrixSet"),
        ("/tiles/Nope", "UnknownTileMatrixSet"),
    ],
)
def test_unknown_collection_or_matrix_set_is_404(client, url, code):
    response = client.get(url)
    assert response.status_code == 404 and response.json()["code"] == code
