"""County field packages (GeoPackage + MBTiles/PMTiles basemap) and layer PMTiles, read back with real readers."""

from __future__ import annotations

import gzip
import io
import sqlite3
from collections import Counter

import mapbox_vector_tile
import numpy as np
import pytest
from PIL import Image
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

import pyogrio
import shapely

from geo.storage.gpkg import GeoPackageStore
from geo.tms import get_tms, tile_grid
from layers.basemap import BACKGROUND, FILLS
from layers.export import zh_headers
from layers.packaging import clip_to, package_county, package_layer_tiles
from layers.query import Selection, to_filter
from layers.tiles import TileSpec, vector_tile

COUNTY = "430321"
ZOOMS = (8, 11)


@pytest.fixture(scope="module")
def store(demo_gpkg):
    with GeoPackageStore(demo_gpkg) as opened:
        yield opened


@pytest.fixture(scope="module")
def package(store, registry, tmp_path_factory):
    return package_county(store, registry, COUNTY, tmp_path_factory.mktemp("pkg"), zooms=ZOOMS)


@pytest.fixture(scope="module")
def area(store):
    frame = store.read("counties", to_filter(Selection(county=(COUNTY,)), _layer("counties"), store))
    return frame.geometry.iloc[0]


def _layer(layer_id):
    from layers.registry import load_catalogue

    return load_catalogue().get(layer_id)


def _rgb(color):
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def test_gpkg_holds_the_county_features_of_every_layer(package, store, registry, area):
    layers = {name for name, _ in pyogrio.list_layers(package.gpkg)}
    held = set(store.layers())
    assert {layer.id for layer in registry.projects() if layer.id in held} | {"counties", "readme"} <= layers
    grown = shapely.buffer(area, 1e-9)
    for layer_id, written in package.counts.items():
        frame = pyogrio.read_dataframe(package.gpkg, layer=layer_id)
        expected = store.count(layer_id, to_filter(Selection(county=(COUNTY,)), registry.get(layer_id), store))
        assert len(frame) == written == expected, layer_id
        assert frame.crs.to_epsg() == 4326
        if len(frame):
            assert shapely.within(frame.geometry.to_numpy(), grown).all(), layer_id
            assert set(frame["county"] if "county" in frame else frame["id"]) == {COUNTY}
    assert package.counts["farmland"] > 10 and package.counts["counties"] == 1


def test_gpkg_carries_chinese_aliases_and_status_values(package):
    with sqlite3.connect(package.gpkg) as conn:
        aliases = dict(
            conn.execute("SELECT column_name, name FROM gpkg_data_columns WHERE table_name = 'farmland'").fetchall()
        )
        statuses = dict(
            conn.execute(
                "SELECT value, description FROM gpkg_data_column_constraints WHERE constraint_name = 'farmland_status'"
            ).fetchall()
        )
        extensions = {row[0] for row in conn.execute("SELECT extension_name FROM gpkg_extensions")}
    farmland = _layer("farmland")
    assert aliases["area_mu"] == zh_headers(farmland)["area_mu"] and aliases["name"] == "名称"
    assert set(statuses) == {s.value for s in farmland.statuses}
    assert any("已完成" in label or "完成" in label for label in statuses.values())
    assert "gpkg_schema" in extensions
    readme = pyogrio.read_dataframe(package.gpkg, layer="readme")
    row = readme[(readme["layer"] == "farmland") & (readme["field"] == "")]
    assert row["alias_zh"].iloc[0] == farmland.title_zh


def test_mbtiles_metadata_and_tile_counts(package, area):
    with sqlite3.connect(package.mbtiles) as conn:
        meta = dict(conn.execute("SELECT name, value FROM metadata").fetchall())
        per_zoom = dict(conn.execute("SELECT zoom_level, count(*) FROM tiles GROUP BY zoom_level").fetchall())
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    assert app_id == 0x4D504258
    assert meta["format"] == "png" and meta["name"] and "cnmaps" in meta["attribution"]
    assert (int(meta["minzoom"]), int(meta["maxzoom"])) == ZOOMS
    west, south, east, north = (float(v) for v in meta["bounds"].split(","))
    assert np.allclose((west, south, east, north), shapely.bounds(area), atol=1e-6)
    lon, lat, zoom = (float(v) for v in meta["center"].split(","))
    assert west < lon < east and south < lat < north and ZOOMS[0] <= zoom <= ZOOMS[1]
    tms = get_tms("WebMercatorQuad")
    for z in range(ZOOMS[0], ZOOMS[1] + 1):
        assert per_zoom[z] == len(list(tms.tiles(west, south, east, north, zooms=[z])))
    assert sum(per_zoom.values()) == package.basemap_tiles


def _pixels(image):
    return [tuple(p) for p in np.asarray(image.convert("RGB")).reshape(-1, 3).tolist()]


def _mbtile(path, z, x, y):
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
    return row[0]


def test_mbtiles_png_shows_the_county_fill_and_boundaries(package, area):
    point = shapely.point_on_surface(area)
    inner = get_tms("WebMercatorQuad").tile(point.x, point.y, ZOOMS[1])
    image = Image.open(io.BytesIO(_mbtile(package.mbtiles, inner.z, inner.x, inner.y)))
    assert image.size == (256, 256) and image.mode == "RGBA"
    colours = Counter(_pixels(image))
    assert colours.most_common(1)[0][0] == _rgb(FILLS[int(COUNTY) % len(FILLS)])
    with sqlite3.connect(package.mbtiles) as conn:
        low = [row[0] for row in conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ?", (ZOOMS[0],))]
    seen = set()
    for data in low:
        seen |= set(_pixels(Image.open(io.BytesIO(data))))
    fills = {_rgb(c) for c in FILLS}
    assert len(seen & fills) >= 3  # neighbouring counties meet in the z8 tiles
    assert _rgb(BACKGROUND) in seen  # outside the city


def test_basemap_pmtiles_matches_mbtiles(package):
    with open(package.pmtiles, "rb") as f:
        source = MmapSource(f)
        reader = Reader(source)
        header = reader.header()
        assert header["tile_type"] == TileType.PNG and header["tile_compression"] == Compression.NONE
        assert (header["min_zoom"], header["max_zoom"]) == ZOOMS
        assert header["addressed_tiles_count"] == package.basemap_tiles
        tiles = list(all_tiles(source))
        (z, x, y), data = tiles[len(tiles) // 2]
        assert data == _mbtile(package.mbtiles, z, x, y)


@pytest.fixture(scope="module")
def farmland_pmtiles(store, tmp_path_factory):
    path = tmp_path_factory.mktemp("tiles") / "farmland.pmtiles"
    return path, package_layer_tiles(store, _layer("farmland"), path, zooms=(0, 14))


def test_layer_pmtiles_header_and_metadata(farmland_pmtiles, store):
    path, summary = farmland_pmtiles
    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))
        header, meta = reader.header(), reader.metadata()
        tiles = list(all_tiles(MmapSource(f)))
    assert header["tile_type"] == TileType.MVT and header["tile_compression"] == Compression.GZIP
    assert (header["min_zoom"], header["max_zoom"]) == (0, 14) == (summary.minzoom, summary.maxzoom)
    assert [layer["id"] for layer in meta["vector_layers"]] == ["farmland"]
    assert "status" in meta["vector_layers"][0]["fields"]
    assert meta["planmap:data_version"] == store.version("farmland") and meta["planmap:generated"].endswith("Z")
    assert len(tiles) == summary.tiles and all(len(gzip.decompress(data)) > 0 for _, data in tiles)
    assert Counter(z for (z, _, _), _ in tiles)[0] == 1


def test_layer_pmtiles_holds_every_feature_at_z14(farmland_pmtiles, store):
    path, _ = farmland_pmtiles
    frame = store.read("farmland", columns=["id"])
    tms = get_tms("WebMercatorQuad")
    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))
        for fid, geom in list(zip(frame["id"], frame.geometry, strict=True))[::10]:
            point = shapely.point_on_surface(geom)
            tile = tms.tile(point.x, point.y, 14)
            data = gzip.decompress(reader.get(14, tile.x, tile.y))
            decoded = mapbox_vector_tile.decode(data)
            ids = {feat["properties"]["id"] for feat in decoded["farmland"]["features"]}
            assert fid in ids
            live, _ = vector_tile(
                store,
                [(_layer("farmland"), to_filter(Selection(), _layer("farmland"), store))],
                tile_grid("WebMercatorQuad", 14, tile.x, tile.y),
                TileSpec(),
            )
            assert data == live


def test_clip_keeps_the_part_inside_with_its_dimension(store):
    import geopandas as gpd

    square = shapely.box(0, 0, 1, 1)
    frame = gpd.GeoDataFrame(
        {"id": ["in", "cross", "out"]},
        geometry=[shapely.Point(0.5, 0.5), shapely.LineString([(0.5, 0.5), (2, 0.5)]), shapely.Point(3, 3)],
        crs="EPSG:4326",
    )
    clipped = clip_to(frame, square)
    assert clipped["id"].tolist() == ["in", "cross"]
    line = clipped.geometry.iloc[1]
    assert line.geom_type == "MultiLineString" and line.length == pytest.approx(0.5)


def test_cli_package_commands(demo_gpkg, tmp_path, monkeypatch, capsys):
    from server.cli import main

    monkeypatch.setenv("PLANMAP_GPKG_PATH", str(demo_gpkg))
    assert main(["package", "county", COUNTY, "--out", str(tmp_path), "--minzoom", "9", "--maxzoom", "9"]) == 0
    assert (tmp_path / f"{COUNTY}.gpkg").exists() and (tmp_path / f"{COUNTY}-basemap.pmtiles").exists()
    out = tmp_path / "farmland.pmtiles"
    assert main(["package", "tiles", "farmland", "--out", str(out), "--minzoom", "6", "--maxzoom", "9"]) == 0
    with open(out, "rb") as f:
        assert Reader(MmapSource(f)).header()["min_zoom"] == 6
    assert "farmland" in capsys.readouterr().out
    assert main(["package", "county", "999999", "--out", str(tmp_path)]) == 2
    assert main(["package", "tiles", "nope", "--out", str(out)]) == 2
    assert main(["package", "tiles", "farmland", "--out", str(out), "--minzoom", "9", "--maxzoom", "3"]) == 2
    assert "unknown county" in capsys.readouterr().err
