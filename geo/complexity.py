"""Limits on how much geometry a data file may bring: features, vertices per feature and vertices in all."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import shapely

from geo.errors import FileTooComplex

_JSON_FEATURE = re.compile(rb'"type"\s*:\s*"Feature"')
_JSON_POSITION = re.compile(rb"\[\s*[-+]?[\d.]")


@dataclass(frozen=True)
class ReadLimits:
    """The most features a file may hold, vertices one feature may have, and vertices in all."""

    max_features: int = 200_000
    max_feature_vertices: int = 100_000
    max_vertices: int = 2_000_000

    def check_features(self, count: int) -> None:
        """Raise ``FileTooComplex`` when ``count`` features are too many."""
        if count > self.max_features:
            raise FileTooComplex(
                f"the file has {count} features; at most {self.max_features} features are imported at once"
            )

    def check_vertices(self, total: int, largest: int, row: int | None = None) -> None:
        """Raise ``FileTooComplex`` when a feature or the whole file has too many vertices."""
        if largest > self.max_feature_vertices:
            where = f" (record {row + 1})" if row is not None else ""
            raise FileTooComplex(
                f"a feature{where} has {largest} vertices; at most {self.max_feature_vertices} vertices per feature"
                " are accepted: simplify it first"
            )
        if total > self.max_vertices:
            raise FileTooComplex(
                f"the file has {total} vertices; at most {self.max_vertices} vertices in all are imported at once"
            )


def check_geometries(geoms: npt.ArrayLike, limits: ReadLimits) -> None:
    """Check read geometries (missing ones count 0) against ``limits``.

    Examples
    --------
    >>> from shapely import Point
    >>> check_geometries([Point(0, 0), None], ReadLimits(max_features=2))
    """
    array = np.asarray(geoms, dtype=object)
    limits.check_features(len(array))
    counts = shapely.get_num_coordinates(array)
    if len(counts):
        largest = int(np.argmax(counts))
        limits.check_vertices(int(counts.sum()), int(counts[largest]), largest)


def prescan_json(data: bytes, limits: ReadLimits) -> None:
    """Check GeoJSON text by counting ``"type": "Feature"`` members and positions, before GDAL parses it.

    The counts are an upper bound on the first vertex check's input (bbox arrays count as positions too);
    the exact check runs on the geometries once read.
    """
    limits.check_features(sum(1 for _ in _JSON_FEATURE.finditer(data)))
    positions = sum(1 for _ in _JSON_POSITION.finditer(data))
    if positions > limits.max_vertices:
        limits.check_vertices(positions, 0)
