"""A project's stored state as plain values, and what an edit changes in it (for the history)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from geo.storage.base import FeatureStore
from layers.models import Layer


def plain(value: Any) -> Any:
    """Return a stored value as a plain Python value (numpy scalars unwrapped, NaN and NA as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def json_safe(value: Any) -> Any:
    """Return ``value`` with dates as ISO text, numpy scalars unwrapped and NaN as None, ready for JSON.

    Examples
    --------
    >>> json_safe({"d": date(2025, 6, 30), "x": float("nan"), "n": [np.int64(3)]})
    {'d': '2025-06-30', 'x': None, 'n': [3]}
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    value = plain(value)
    return value.isoformat() if isinstance(value, date) else value


def current_state(store: FeatureStore, layer: Layer, feature_id: str) -> tuple[dict[str, Any], BaseGeometry]:
    """Return the feature's attributes (plain values) and geometry; raise ``UnknownFeature`` when absent."""
    frame = store.get(layer.id, feature_id)
    row = frame.drop(columns=frame.geometry.name).iloc[0].to_dict()
    return {str(k): plain(v) for k, v in row.items()}, frame.geometry.iloc[0]


def _same(old: Any, new: Any) -> bool:
    return bool(json_safe(old) == json_safe(new))


def changes(
    layer: Layer,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_geom: BaseGeometry | None,
    new_geom: BaseGeometry,
) -> dict[str, Any]:
    """Return ``{field: [old, new]}`` for every field the edit changes, and the geometry's GeoJSON if it moved."""
    out: dict[str, Any] = {}
    for name in layer.field_names:
        before, after = old.get(name), new.get(name)
        if not _same(before, after):
            out[name] = [json_safe(before), json_safe(after)]
    if old_geom is None or not old_geom.equals_exact(new_geom, 1e-9):
        out["geometry"] = [None if old_geom is None else mapping(old_geom), mapping(new_geom)]
    return dict(json_safe(out))
