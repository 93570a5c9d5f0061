"""Nearest features for the GeoPackage store: an in-memory geodesic index per layer, kept until it changes.

SQLite has no distance functions and no KNN index, so the store keeps the geometries of each layer of
up to ``INDEX_MAX_FEATURES`` features in a ``geo.spatial_index.SpatialIndex`` (built once per data
version, shared by the server's threads) and answers every ``nearest`` from it: a field team's query then
costs a millisecond or two. Larger layers are never indexed whole (at 1M parcels the index took 2.4 GiB
and 13 s to build on the first request): their queries read the search box through the R-tree instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely
from geopandas.array import GeometryArray

from geo.spatial_index import SpatialIndex, envelope_distance_lower_m


@dataclass(frozen=True)
class _Entry:
    version: str
    columns: dict[str, np.ndarray]
    geometry: np.ndarray
    crs: Any
    index: SpatialIndex

    def rows(self, positions: np.ndarray, geometry: bool, **extra: np.ndarray) -> pd.DataFrame:
        """Return the rows at ``positions`` with ``extra`` columns (a GeoDataFrame when ``geometry``).

        A frame of a few dozen rows costs more to assemble than the search itself, and a GeoDataFrame
        more than a plain one: the geometry is added only when asked for.
        """
        data: dict[str, Any] = {name: values[positions] for name, values in self.columns.items()}
        if not geometry:
            return pd.DataFrame(data | extra, copy=False)
        frame = pd.DataFrame(data, copy=False)
        frame["geometry"] = GeometryArray(self.geometry[positions], crs=self.crs)
        for name, values in extra.items():
            frame[name] = values
        return gpd.GeoDataFrame(frame, geometry="geometry", copy=False)


def nearest_in_window(
    geoms: np.ndarray,
    columns: dict[str, np.ndarray],
    crs: Any,
    point: tuple[float, float],
    radius_m: float,
    limit: int | None,
    geometry: bool,
) -> pd.DataFrame:
    """Measure the features read from a search box (in id order) as the whole-layer index would.

    Envelopes farther than the radius are dropped before anything is projected, then the rest is
    measured with a ``SpatialIndex`` of its own; only the hits are assembled into a frame.
    """
    lon, lat = point
    near = np.flatnonzero(envelope_distance_lower_m(lon, lat, shapely.bounds(geoms), radius_m) <= radius_m)
    entry = _Entry(
        "", {name: values[near] for name, values in columns.items()}, geoms[near], crs, SpatialIndex(geoms[near])
    )
    hits = entry.index.within(lon, lat, radius_m, limit)
    positions = np.asarray(hits.index, dtype=np.int64)
    return entry.rows(positions, geometry, distance_m=hits.distance_m, bearing_deg=hits.bearing_deg)


REFINE_BATCH = 256
"""Candidates measured at a time when only the nearest few are wanted."""
TIE_SLACK_M = 0.05
"""Candidates this close to the last one kept stay in the final measurement (planes differ by millimetres)."""


def nearest_fids(
    fids: np.ndarray,
    bounds: np.ndarray,
    point: tuple[float, float],
    radius_m: float,
    limit: int | None,
    read_geoms: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Return, ascending, the feature ids among the R-tree's candidates that can be among the ``limit`` nearest.

    Envelopes give a lower bound of each distance. Candidates are measured in batches, closest bound first,
    until the next bound lies beyond the ``limit``-th distance found: with a thousand parcels in the search
    box, a few hundred geometries are read instead of all of them (and none of their columns). Every
    candidate within ``TIE_SLACK_M`` of that distance is kept, for the final measurement to order.
    """
    lon, lat = point
    lower = envelope_distance_lower_m(lon, lat, bounds, radius_m) if len(fids) else np.zeros(0)
    inside = np.flatnonzero(lower <= radius_m)
    if limit is None or inside.size <= limit:
        return np.sort(fids[inside])
    order = inside[np.lexsort((fids[inside], lower[inside]))]
    found_d, found_f = np.zeros(0), np.zeros(0, dtype=fids.dtype)
    start = 0
    while start < order.size:
        batch = order[start : start + REFINE_BATCH]
        start += batch.size
        geoms = read_geoms(fids[batch])
        dist, _ = SpatialIndex(geoms).distances(lon, lat, np.arange(batch.size))
        found_d = np.concatenate([found_d, np.nan_to_num(dist, nan=np.inf)])
        found_f = np.concatenate([found_f, fids[batch]])
        keep = found_d <= radius_m
        found_d, found_f = found_d[keep], found_f[keep]
        if found_d.size >= limit:
            bound = np.partition(found_d, limit - 1)[limit - 1] + TIE_SLACK_M
            keep = found_d <= bound
            found_d, found_f = found_d[keep], found_f[keep]
            if start >= order.size or lower[order[start]] > bound:
                break
    return np.sort(found_f)


INDEX_MAX_FEATURES = 200_000
"""Layers up to this size get a whole-layer index; larger ones are searched through the R-tree per query."""


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
        self._sizes: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def indexed(self, layer: str, count: Callable[[], int]) -> bool:
        """Return whether ``layer`` is small enough for a whole-layer index (``count`` is asked once per version)."""
        version = self._version(layer)
        known = self._sizes.get(layer)
        if known is None or known[0] != version:
            known = self._sizes[layer] = (version, count())
        return known[1] <= INDEX_MAX_FEATURES

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
                names = [c for c in frame.columns if c != frame.geometry.name]
                arrays = {c: frame[c].to_numpy() for c in names}
                entry = _Entry(version, arrays, frame.geometry.to_numpy(), frame.crs, SpatialIndex(frame.geometry))
                self._cache[key] = entry
        return entry

    def nearest(
        self,
        layer: str,
        lon: float,
        lat: float,
        radius_m: float,
        limit: int | None,
        columns: Sequence[str] | None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """Return the features within ``radius_m`` of a WGS84 point, nearest first, ties by id.

        Rows are held in id order, so the index's tie-break by position is the tie-break by id.
        """
        entry = self._entry(layer, columns)
        hits = entry.index.within(lon, lat, radius_m, limit)
        positions = np.asarray(hits.index, dtype=np.int64)
        return entry.rows(positions, geometry, distance_m=hits.distance_m, bearing_deg=hits.bearing_deg)

    def clear(self) -> None:
        """Drop every index (the store is closing)."""
        with self._lock:
            self._cache.clear()
            self._sizes.clear()
