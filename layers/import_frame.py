"""Building the layer's frame from a file's rows: typed values, ids, county and derived measures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

import geopandas as gpd

from geo.measure import area_mu, geodesic_length_m
from layers.boundaries import county_name, county_of
from layers.import_columns import coerce_column, recoerce
from layers.import_fields import enum_aliases
from layers.import_mapping import FieldRule
from layers.models import FieldSpec, Layer

DERIVED_TOLERANCE = 0.05
"""A given area or length differing from the geodesic one by more than this share is warned about."""

GEOMETRY_DERIVED = frozenset({"area_mu", "length_km", "county", "county_name"})
"""Fields computed from the geometry when the file lacks them (never carried over from stored features)."""
_DTYPES = {"int": "Int64", "float": "float64"}
Issues = list[tuple[int, str, str]]


def coerce_columns(
    raw: pd.DataFrame, mapping: Mapping[str, str], layer: Layer, rules: Mapping[str, FieldRule] | None = None
) -> tuple[pd.DataFrame, Issues]:
    """Return the mapped columns renamed to their fields with typed values, and (row, column, problem)s.

    A field's rule translates its values first (value mapping, date format, area unit); a constant rule
    fills its field on every row.
    """
    aliases = enum_aliases(layer)
    rules = rules or {}
    out = pd.DataFrame(index=raw.index)
    problems: Issues = []
    for column, name in mapping.items():
        spec, rule = layer.field(name), rules.get(name)
        out[name], found = coerce_column(raw[column], spec, aliases.get(name), rule)
        problems += [(row, column, text) for row, text in found]
    for name, rule in rules.items():
        if rule.column is None:
            out[name] = pd.Series([rule.value] * len(raw), index=raw.index, dtype=object)
    return out, problems


def check_ids(frame: pd.DataFrame, id_column: str | None) -> Issues:
    """Return problems for missing and duplicate ids (the second and later rows of a duplicate are named)."""
    ids = frame["id"]
    problems: Issues = [(int(r), id_column or "id", "missing id") for r in np.flatnonzero(ids.isna().to_numpy())]
    duplicated = ids.notna() & ids.duplicated(keep="first")
    for row in np.flatnonzero(duplicated.to_numpy()):
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
        problems.append((int(row), id_column or "id", f"duplicate id {ids.iloc[row]!r} (first on row {first + 1})"))
    return problems


def carry_existing(frame: pd.DataFrame, existing: gpd.GeoDataFrame, provided: set[str], layer: Layer) -> pd.DataFrame:
    """Fill the fields the file did not provide from the stored features with the same ids.

    Fields derived from the geometry (``GEOMETRY_DERIVED``) are left empty, to be derived again.
    """
    if existing.empty:
        return frame
    stored = existing.set_index("id")
    for name in layer.field_names:
        if name not in provided and name not in GEOMETRY_DERIVED and name in stored.columns:
            frame[name] = frame["id"].map(stored[name]).astype(object)
    return frame


def assign_counties(frame: gpd.GeoDataFrame, counties: gpd.GeoDataFrame, layer: Layer) -> list[str]:
    """Fill missing ``county``/``county_name`` from the counties containing the features; warn on mismatches."""
    if "county" not in layer.field_names or frame.empty:
        return []
    located = pd.Series(county_of(frame.geometry.array, counties), index=frame.index).replace("", None)
    given = frame["county"] if "county" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    mismatch = given.notna() & located.notna() & (given != located)
    frame["county"] = given.where(given.notna(), located)
    if "county_name" in layer.field_names:
        names = frame["county"].map(lambda c: county_name(c) if isinstance(c, str) and c else None)
        current = frame["county_name"] if "county_name" in frame.columns else names
        frame["county_name"] = current.where(current.notna(), names)
    ids = frame.loc[mismatch, "id"].astype(str).tolist()
    return [f"{len(ids)} feature(s) lie in another county than given: {', '.join(ids[:20])}"] if ids else []


def derive_measures(frame: gpd.GeoDataFrame, layer: Layer) -> list[str]:
    """Fill ``area_mu`` (polygons) and ``length_km`` (lines) geodesically where missing; warn on large differences."""
    names = layer.field_names
    derived: dict[str, np.ndarray] = {}
    if "area_mu" in names and layer.geometry_type == "MultiPolygon":
        derived["area_mu"] = np.round(area_mu(frame.geometry), 2)
    if "length_km" in names and layer.geometry_type == "MultiLineString":
        derived["length_km"] = np.round(geodesic_length_m(frame.geometry) / 1000.0, 3)
    warnings = []
    for name, values in derived.items():
        given = pd.to_numeric(frame.get(name, pd.Series(np.nan, index=frame.index)), errors="coerce").astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            off = given.notna().to_numpy() & (np.abs(given.to_numpy() - values) > DERIVED_TOLERANCE * values)
        if off.any():
            ids = frame["id"].to_numpy()[off].astype(str).tolist()
            warnings.append(f"{name} differs from the geodesic value by more than 5% for: {', '.join(ids[:20])}")
        frame[name] = np.where(given.isna().to_numpy(), values, given.to_numpy())
    return warnings


def typed_column(values: pd.Series, spec: FieldSpec) -> pd.Series:
    """Return a column in the dtype the store infers the field's type from (nullable ints, date objects)."""
    converted = recoerce(values, spec)
    if spec.type in _DTYPES:
        return converted.astype(_DTYPES[spec.type])
    if spec.type == "bool":
        return converted.astype("boolean" if converted.isna().any() else bool)
    return converted.astype(object)


FINISH_BLOCK = 25_000
"""Rows typed at a time by :func:`finish_frame`: the per-cell copies of a million rows are not all made at once."""


def finish_frame(frame: gpd.GeoDataFrame, layer: Layer, initial: str | None) -> gpd.GeoDataFrame:
    """Return the frame with every layer field, in catalogue order, typed, and a default status where missing."""
    if len(frame) <= FINISH_BLOCK:
        return _finish_block(frame, layer, initial)
    blocks = [
        _finish_block(frame.iloc[i : i + FINISH_BLOCK], layer, initial) for i in range(0, len(frame), FINISH_BLOCK)
    ]
    return gpd.GeoDataFrame(pd.concat(blocks), geometry=frame.geometry.name, crs=frame.crs)


def _finish_block(frame: gpd.GeoDataFrame, layer: Layer, initial: str | None) -> gpd.GeoDataFrame:
    for name in layer.field_names:
        if name not in frame.columns:
            frame[name] = None
    if initial is not None and "status" in layer.field_names:
        frame["status"] = frame["status"].where(frame["status"].notna(), initial)
    extra = [c for c in frame.columns if c not in layer.field_names and c != frame.geometry.name]
    typed = {name: typed_column(frame[name], layer.field(name)) for name in layer.field_names}
    out = gpd.GeoDataFrame(typed, geometry=frame.geometry.array, crs=frame.crs, index=frame.index)
    for name in extra:
        out[name] = frame[name]
    return out
