"""What a demo-layer builder returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd

from geo.storage.base import HistoryEntry


@dataclass(frozen=True)
class LayerData:
    """One generated layer: its features (catalogue schema, WGS84) and their progress history."""

    frame: gpd.GeoDataFrame
    history: list[HistoryEntry] = field(default_factory=list)
