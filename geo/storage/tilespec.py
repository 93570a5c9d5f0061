"""What a store needs to make one vector-tile layer itself (``FeatureStore.mvt_layer``)."""

from __future__ import annotations

from dataclasses import dataclass

from geo.types import BBox


@dataclass(frozen=True)
class MvtTile:
    """One vector-tile layer to make in the store (``FeatureStore.mvt_layer``).

    Attributes
    ----------
    name : the MVT layer name.
    bbox : the buffered tile box in CRS84: candidates are the features whose envelope meets it.
    xy_bounds : the tile's bounds in the tile matrix set's CRS, EPSG code ``srid``.
    properties : the columns written as feature properties (NULLs left out).
    cell, limit : thinning grid cell (degrees) and feature cap, as for ``read_tile_candidates``.
    extent, buffer : tile units per side and kept outside each edge.
    """

    name: str
    bbox: BBox
    xy_bounds: BBox
    srid: int | None
    properties: tuple[str, ...]
    cell: float | None = None
    limit: int | None = None
    extent: int = 4096
    buffer: int = 64
