"""What a progress query counts: which features (a filter) and where they count by share (an area)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry

from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers.areas import clip_area, parse_area
from layers.models import Layer
from layers.query import Selection, to_filter


@dataclass(frozen=True)
class ProgressScope:
    """A progress selection: features matching ``where`` count, weighted by how much of each lies in ``area``.

    ``area`` None counts matching features wholly; otherwise see :func:`layers.areas.area_weights`
    (polygons of a ``sum`` target by area share, other features by their representative point).
    """

    where: Filter
    area: BBox | BaseGeometry | None = None

    def within(self, body: Mapping[str, Any]) -> ProgressScope:
        """Return the scope narrowed to a posted GeoJSON polygon (clipped to the scope's bbox, if any).

        Raises
        ------
        InvalidGeometry
            When the body is not a valid CRS84 (Multi)Polygon or does not overlap the bbox.
        """
        bbox = self.area if isinstance(self.area, tuple) else None
        return ProgressScope(self.where, clip_area(parse_area(body), bbox))


def progress_scope(store: FeatureStore, layer: Layer, selection: Selection) -> ProgressScope:
    """Split a selection for progress: its bbox becomes an area features count in by share, the rest a filter.

    A bbox on the items or tiles endpoints keeps whole features that touch it; for progress it is a
    study area instead, so a farmland parcel half inside counts half of its mu.

    Raises
    ------
    UnknownCounty, InvalidFilter
        As :func:`layers.query.to_filter`.

    """
    where = to_filter(dataclasses.replace(selection, bbox=None), layer, store)
    return ProgressScope(where=where, area=selection.bbox)
