"""Nearest features for the GeoPackage store: an in-memory geodesic index per layer, kept until it changes.

SQLite has no distance functions and no KNN index, so the store keeps each layer's geometries in a
``geo.spatial_index.SpatialIndex`` (built once per data version, shared by the server's threads) and
answers every ``nearest`` from it: a field team's query then costs milliseconds even at 1M parcels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd

from geo.spatial_index import SpatialIndex


@dataclass(frozen=True)
class _Entry:
    version: str
    frame: gpd.GeoDataFrame
    index: SpatialIndex


class NearestIndexes:
    """Per (layer, columns) indexes of one store, rebuilt when the layer's data version changes.

    Parameters
    ----------
    version : returns a layer's current data version.
    read : reads a layer's features with the given columns (all rows, in id order).
    """

    def __init__(
        self, version: Callable[[str], str], read: Callable[[str, Sequence[str] | None], gpd.GeoDataFrame]
    ) -> None:
        self._version, self._read = version, read
        self._cache: dict[tuple[str, tuple[str, ...] | None], _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, layer: str, columns: Sequence[str] | None) -> _Entry:
        key = (layer, tuple(columns) if columns is not None else None)
        version = self._version(layer)
        entry = self._cache.get(key)
        if entry is not None and entry.version == version:
            return entry
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or entry.version != version:
                frame = self._read(layer, columns)
                entry = _Entry(version, frame, SpatialIndex(frame.geometry))
                self._cache[key] = entry
        return entry

    def nearest(
        self, layer: str, lon: float, lat: float, radius_m: float, limit: int | None, columns: Sequence[str] | None
    ) -> gpd.GeoDataFrame:
        """Return the features within ``radius_m`` of a WGS84 point, nearest first, ties by id.

        Rows are held in id order, so the index's tie-break by position is the tie-break by id.
        """
        entry = self._entry(layer, columns)
        hits = entry.index.within(lon, lat, radius_m, limit)
        out = entry.frame.iloc[hits.index].assign(distance_m=hits.distance_m, bearing_deg=hits.bearing_deg)
        return out.reset_index(drop=True)

    def clear(self) -> None:
        """Drop every index (the store is closing)."""
        with self._lock:
            self._cache.clear()
