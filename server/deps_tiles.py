"""Dependency bundles of the tile, basemap and raster routes: tile addresses, filters, styling and context."""

# No ``from __future__ import annotations`` here: FastAPI reads these dataclasses' field annotations at
# runtime, and a class (unlike a function) carries no globals to resolve string annotations against.

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from geo import raster
from geo.textlists import split_list
from geo.tms import TMS_IDS, TileGrid, tile_grid
from layers.query import Selection
from layers.tiles import TileSpec
from server.deps import SettingsDep, StoreDep
from server.tilecache import TileCache, get_tile_cache, tile_spec

WEB_MERCATOR = "WebMercatorQuad"

TmsId = Annotated[str, Path(description=f"Tile matrix set: one of {', '.join(TMS_IDS)}", examples=[WEB_MERCATOR])]
Z = Annotated[int, Path(description="Zoom level (tile matrix id)", examples=[12])]
X = Annotated[int, Path(description="Tile column", examples=[3333])]
Y = Annotated[int, Path(description="Tile row", examples=[1718])]
CacheDep = Annotated[TileCache, Depends(get_tile_cache)]


@dataclass(frozen=True)
class XYZParams:
    """A WebMercatorQuad tile address from the path of the XYZ routes (``/{z}/{x}/{y}.mvt``)."""

    z: Z
    x: X
    y: Y

    @property
    def tms_id(self) -> str:
        """Return the tile matrix set of XYZ routes (always WebMercatorQuad)."""
        return WEB_MERCATOR

    def grid(self) -> TileGrid:
        """Return the tile's grid; raises ``TileOutsideBounds`` outside the matrix."""
        return tile_grid(self.tms_id, self.z, self.x, self.y)


@dataclass(frozen=True)
class TileParams:
    """An OGC API - Tiles address from the path: tile matrix set, zoom, column and row."""

    tileMatrixSetId: TmsId
    z: Z
    x: X
    y: Y

    @property
    def tms_id(self) -> str:
        """Return the tile matrix set id."""
        return self.tileMatrixSetId

    def grid(self) -> TileGrid:
        """Return the tile's grid; raises ``UnknownTileMatrixSet`` or ``TileOutsideBounds``."""
        return tile_grid(self.tms_id, self.z, self.x, self.y)


TileAddress = XYZParams | TileParams
XYZDep = Annotated[XYZParams, Depends()]
TileDep = Annotated[TileParams, Depends()]


@dataclass(frozen=True)
class TileContext:
    """What every tile route works with: the request (for its cache key), the store, settings and tile cache."""

    request: Request
    store: StoreDep
    settings: SettingsDep
    cache: CacheDep

    def spec(self) -> TileSpec:
        """Return how tiles are cut, from the tile settings."""
        return tile_spec(self.settings.tiles)


TileContextDep = Annotated[TileContext, Depends()]


@dataclass(frozen=True)
class StatusCountyParams:
    """Status and county filters shared by the composite plan tiles and raster zonal statistics."""

    status: Annotated[str | None, Query(description="Status value(s), comma-separated")] = None
    county: Annotated[str | None, Query(description="County adcode(s), comma-separated")] = None

    def selection(self) -> Selection:
        """Return the selection these filters make."""
        return Selection(status=tuple(split_list(self.status)), county=tuple(split_list(self.county)))


@dataclass(frozen=True)
class PlanTileParams(StatusCountyParams):
    """Filters of the composite plan tiles: status and county, optionally as of a past day."""

    as_of: Annotated[date | None, Query(description="Status as of this date (history replay)")] = None

    def selection(self) -> Selection:
        """Return the selection these filters make (status replayed to ``as_of`` when given)."""
        return dataclasses.replace(super().selection(), as_of=self.as_of)


StatusCountyDep = Annotated[StatusCountyParams, Depends()]
PlanTileDep = Annotated[PlanTileParams, Depends()]


@dataclass(frozen=True)
class RasterStyleParams:
    """How a raster is coloured: a named ramp and the value range stretched over it."""

    colormap: Annotated[str | None, Query(description=f"Colour ramp: {', '.join(raster.COLORMAPS)}")] = None
    rescale: Annotated[str | None, Query(description="Value range `min,max` stretched over the ramp")] = None


RasterStyleDep = Annotated[RasterStyleParams, Depends()]
