"""Writing test frames to files as planmap's exports do: JSON attributes (dicts, lists) as JSON text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

import geopandas as gpd


def json_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` whose dict and list values are JSON text (as planmap's exports write them)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object and out[column].map(_is_json).any():
            out[column] = out[column].map(lambda v: json.dumps(v, ensure_ascii=False) if _is_json(v) else v)
    return out


def write_file(frame: gpd.GeoDataFrame, path: str | Path, **kwargs: Any) -> None:
    """Write ``frame`` with ``to_file(path, **kwargs)``, JSON-encoding dict and list values first.

    GDAL has no JSON field type in most formats; a dict would otherwise be written as Python's ``repr``.
    """
    json_text(frame).to_file(path, **kwargs)


def _is_json(value: Any) -> bool:
    return isinstance(value, dict | list)
