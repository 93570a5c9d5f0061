"""The plan dashboard's figures on one day: target cards, counties against quotas, the red list, investment
and every scheduled project's light and place (what the dashboard's time slider replays month by month).
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

import shapely

from geo.storage.base import FeatureStore
from layers.boundaries import county_name
from layers.lights import LightRules, has_lights
from layers.lights_report import all_rows, count_lights, summarise_investment, year_time_pct
from layers.models import Layer
from layers.plan_model import COUNTY_CODES
from layers.plan_scope import plan_filter
from layers.progress import layer_progress
from layers.progress_counties import county_progress
from layers.registry import LayerRegistry

RED_LIST_MAX = 50
"""Red projects listed (most behind first); the count says how many there are."""


def month_ends(year: int) -> list[date]:
    """Return the last day of each month of ``year`` (the slider's steps)."""
    return [date(year, m, calendar.monthrange(year, m)[1]) for m in range(1, 13)]


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else round(float(value), digits)


def _cards(
    store: FeatureStore, layers: list[Layer], rows: pd.DataFrame, year: int, as_of: date
) -> list[dict[str, Any]]:
    cards = []
    for layer in layers:
        assert layer.target is not None
        p = layer_progress(store, layer, as_of, plan_filter(layer, year))
        lit = rows[rows["layer"] == layer.id]
        cards.append(
            {
                "layer": layer.id,
                "title_zh": layer.title_zh,
                "quote_zh": layer.target.quote_zh,
                "done": _round(p.done, 2),
                "target": _round(p.target, 2),
                "unit_zh": p.unit_zh,
                "pct": _round(p.pct),
                "features": p.features,
                "done_features": p.done_features,
                "lights": count_lights(lit).model_dump() if has_lights(layer) else None,
            }
        )
    return cards


def _counties(store: FeatureStore, layers: list[Layer], rows: pd.DataFrame, year: int, as_of: date) -> list[dict]:
    quotas: dict[str, dict[str, Any]] = {code: {} for code in COUNTY_CODES}
    for layer in layers:
        for row in county_progress(store, layer, as_of, plan_filter(layer, year)).counties:
            if row.scope in quotas:
                quotas[row.scope][layer.id] = {
                    "done": _round(row.done, 2),
                    "quota": _round(row.quota, 2),
                    "pct_quota": _round(row.pct_quota),
                }
    return [
        {
            "county": code,
            "name": county_name(code),
            "targets": quotas[code],
            "lights": count_lights(rows[rows["county"] == code]).model_dump(),
        }
        for code in COUNTY_CODES
    ]


def _red_list(rows: pd.DataFrame, titles: dict[str, str]) -> list[dict[str, Any]]:
    red = rows[rows["light"] == "red"].sort_values(["lag_pts", "layer", "id"], ascending=[False, True, True])
    return [
        {
            "layer": r.layer,
            "layer_title": titles[r.layer],
            "id": r.id,
            "name": r.name,
            "county_name": county_name(r.county) if r.county in COUNTY_CODES else r.county,
            "owner": r.owner,
            "lag_pts": _round(r.lag_pts),
            "progress_pct": _round(r.progress_pct),
            "elapsed_pct": _round(r.elapsed_pct),
            "due_date": str(r.due_date) if r.due_date is not None else None,
            "reason": r.reason,
        }
        for r in red.head(RED_LIST_MAX).itertuples(index=False)
    ]


def _points(rows: Any) -> list[list[Any]]:
    """Return each project as [layer, id, name, light, lon, lat] (its representative point, 6 decimals)."""
    points = shapely.point_on_surface(np.asarray(rows.geometry.array))
    lons, lats = np.round(shapely.get_x(points), 6), np.round(shapely.get_y(points), 6)
    return [
        [layer, fid, name, light, float(lon), float(lat)]
        for layer, fid, name, light, lon, lat in zip(
            rows["layer"], rows["id"], rows["name"], rows["light"], lons, lats, strict=True
        )
    ]


def dashboard(
    store: FeatureStore,
    registry: LayerRegistry,
    year: int,
    rules: LightRules,
    as_of: date,
    *,
    investment: bool = False,
) -> dict[str, Any]:
    """Return the dashboard's figures for plan ``year`` on ``as_of``.

    ``registry`` carries the plan's targets (``LayerRegistry.with_plan``): one card per target. Lights,
    the red list and the map points cover the plan's scheduled projects; investment figures are included
    only with ``investment`` (they are not public).
    """
    layers = [layer for layer in registry.projects() if layer.target]
    lit = [layer for layer in layers if has_lights(layer)]
    rows = all_rows(store, lit, year, as_of, rules, investment)
    titles = {layer.id: layer.title_zh for layer in layers}
    red = rows[rows["light"] == "red"]
    return {
        "plan": year,
        "as_of": as_of.isoformat(),
        "time_pct": year_time_pct(year, as_of),
        "months": [d.isoformat() for d in month_ends(year)],
        "cards": _cards(store, layers, rows, year, as_of),
        "lights": count_lights(rows).model_dump(),
        "counties": _counties(store, layers, rows, year, as_of),
        "red": {"count": len(red), "projects": _red_list(rows, titles)},
        "investment": summarise_investment(rows, year, as_of).model_dump() if investment else None,
        "points": _points(rows),
        "layers": titles,
    }
