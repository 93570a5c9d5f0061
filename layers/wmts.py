"""What planmap offers as map tiles (WMTS): every held vector layer drawn by status, every built raster.

Vector layers and rasters share one namespace of WMTS layer identifiers; should a registered raster take
a layer's id, the vector layer wins and the raster stays reachable under ``/rasters``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from geo import raster, render
from geo.storage.base import FeatureStore
from geo.tms import TileGrid
from geo.types import BBox
from layers.errors import DataNotBuilt, UnknownLayer, UnknownStyle
from layers.models import Layer
from layers.query import Selection, to_filter
from layers.rasters import RasterSpec, list_rasters, raster_png, raster_style, raster_version
from layers.registry import LayerRegistry
from layers.tiles import TileSpec, held_layers, raster_tile

DEFAULT_STYLE = "default"
"""The one style every layer is drawn in: project layers by status colour, rasters by their own ramp."""

TILE_SIZE = 256


@dataclass(frozen=True)
class TiledLayer:
    """A layer offered as PNG map tiles: a plan layer from the store, or a raster file."""

    id: str
    title_zh: str
    title_en: str
    abstract: str
    bbox: BBox | None
    layer: Layer | None = None
    raster: RasterSpec | None = None
    path: Path | None = None

    @property
    def kind(self) -> str:
        """Return ``vector`` for a plan layer, ``raster`` for a raster."""
        return "vector" if self.layer is not None else "raster"

    def version(self, store: FeatureStore) -> str:
        """Return the data version the layer's tiles are cached under."""
        if self.raster is not None and self.path is not None:
            return raster_version(self.raster, self.path)
        return f"{self.id}={store.version(self.id)}"


def _vector(layer: Layer, store: FeatureStore) -> TiledLayer:
    abstract = f"{layer.description_zh} · {layer.description_en}"
    return TiledLayer(layer.id, layer.title_zh, layer.title_en, abstract, store.bounds(layer.id), layer=layer)


def _raster_file(spec: RasterSpec, data_dir: Path) -> Path | None:
    path = Path(data_dir) / spec.filename
    return path if path.exists() else None


def _raster(spec: RasterSpec, path: Path) -> TiledLayer:
    abstract = f"{spec.description} [{spec.unit}]" if spec.unit else spec.description
    bbox = raster.lonlat_bounds(path)
    return TiledLayer(spec.id, spec.title_zh, spec.title_en, abstract, bbox, raster=spec, path=path)


def tiled_layers(store: FeatureStore, registry: LayerRegistry, data_dir: Path) -> list[TiledLayer]:
    """Return the layers offered as map tiles: held plan layers in catalogue order, then built rasters."""
    vectors = [_vector(layer, store) for layer in held_layers(store, registry.all())]
    taken = {t.id for t in vectors}
    rasters = []
    for spec in list_rasters(store):
        path = _raster_file(spec, data_dir)
        if path is not None and spec.id not in taken:
            rasters.append(_raster(spec, path))
    return vectors + rasters


def tiled_layer(layer_id: str, store: FeatureStore, registry: LayerRegistry, data_dir: Path) -> TiledLayer:
    """Return one offered layer; raise ``UnknownLayer`` naming the offered ids (a raster not built is unknown).

    Raises
    ------
    UnknownLayer
        When ``layer_id`` is neither a held plan layer nor a built raster.
    """
    if layer_id in registry.ids() and layer_id in store.layers():
        return _vector(registry.get(layer_id), store)
    for spec in list_rasters(store):
        path = _raster_file(spec, data_dir)
        if spec.id == layer_id and path is not None:
            return _raster(spec, path)
    known = ", ".join(t.id for t in tiled_layers(store, registry, data_dir))
    raise UnknownLayer(f"no map layer {layer_id!r}; layers are {known}")


def check_style(style: str) -> None:
    """Raise ``UnknownStyle`` unless ``style`` is the one offered style."""
    if style != DEFAULT_STYLE:
        raise UnknownStyle(f"no style {style!r}; the only style is {DEFAULT_STYLE!r}")


@lru_cache(maxsize=4)
def blank_png(size: int = TILE_SIZE) -> bytes:
    """Return a fully transparent RGBA PNG tile."""
    return render.to_png(np.zeros((4, size, size), dtype=np.uint8))


def draw_tile(store: FeatureStore, tiled: TiledLayer, grid: TileGrid, spec: TileSpec) -> bytes:
    """Draw one tile of an offered layer as PNG, transparent where it holds nothing.

    WMTS clients expect an image for every tile inside the matrix, so an empty tile is a blank PNG,
    not the ``204 No Content`` of the XYZ routes.
    """
    if tiled.layer is not None:
        where = to_filter(Selection(), tiled.layer, store)
        data = raster_tile(store, tiled.layer, where, grid, spec, size=TILE_SIZE)
    elif tiled.raster is not None and tiled.path is not None:
        data = raster_png(tiled.path, grid, raster_style(tiled.raster, None, None))
    else:
        raise DataNotBuilt(f"layer {tiled.id!r} has no data to draw")
    return data or blank_png()
