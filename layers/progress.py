"""Progress against the plan's targets, from current attributes or by replaying the history to a date.

How a feature counts towards a selection:

* by attribute (``county=``, ``status=``, CQL2 …): wholly, when it matches;
* inside an area (a polygon or a bbox): a polygon feature of a ``sum`` target (farmland mu) counts by
  the share of its geodesic area that lies inside the area (area-weighted, so the parts of a parcel
  split between two areas add up to the parcel); every other feature counts wholly when its
  representative point (``shapely.point_on_surface``) lies in the area, and not at all otherwise.

Partial credit: ``done`` adds only features whose status is done; ``done_weighted`` adds every feature's
value × its progress percent / 100 (done features count 100 %).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd

import shapely
from shapely.geometry.base import BaseGeometry

from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers import progress_sql
from layers.areas import area_weights
from layers.models import Layer
from layers.plan_scope import whole_plan
from layers.progress_model import Progress, SecondarySum, done_statuses, initial_status

__all__ = [
    "Progress",
    "SecondarySum",
    "done_statuses",
    "feature_frame",
    "initial_status",
    "layer_progress",
    "replay",
    "status_as_of",
    "summarise",
    "with_state",
]


def replay(history: pd.DataFrame, ids: pd.Series, as_of: date, layer: Layer) -> tuple[pd.Series, pd.Series]:
    """Return each feature's status and reported percent on ``as_of`` from history rows.

    Parameters
    ----------
    history : rows of ``FeatureStore.history`` (oldest first), for this layer; later rows may be included.
    ids : the feature ids, as a Series (its index is kept).
    as_of : the day; a feature's state is its latest report dated on or before it.
    layer : the layer, for the status of features without any report (:func:`initial_status`).

    Returns
    -------
    tuple of pandas.Series
        Statuses (``initial_status`` without a report) and percents (NaN without a report or percent).
    """
    rows = history[history["date"] <= as_of.isoformat()]
    latest = rows.drop_duplicates("feature_id", keep="last").set_index("feature_id")
    status = ids.map(latest["status"]).astype(object).fillna(initial_status(layer))
    percent = ids.map(pd.to_numeric(latest["percent"], errors="coerce")).astype(float)
    return status, percent


def status_as_of(store: FeatureStore, layer: Layer, ids: pd.Series, as_of: date) -> pd.Series:
    """Return each feature's status on ``as_of`` (its latest report dated on or before that day)."""
    return replay(store.history(layer.id, until=as_of), ids, as_of, layer)[0]


def _value_columns(layer: Layer) -> list[str]:
    names = ["id", "county", "county_name", "status", "progress_pct", "due_date"]
    if layer.target:
        names += [layer.target.field] if layer.target.field else []
        names += list(layer.target.secondary)
    return [c for c in dict.fromkeys(names) if c in layer.field_names]


def _as_area(area: BaseGeometry | BBox | None) -> BaseGeometry | None:
    if area is None or isinstance(area, BaseGeometry):
        return area
    return shapely.box(*area)


def feature_frame(
    store: FeatureStore, layer: Layer, where: Filter | None = None, area: BaseGeometry | BBox | None = None
) -> pd.DataFrame:
    """Read what progress needs of each selected feature: current state, value and weight.

    Columns: the layer's id, county, status, progress_pct, due_date, target field and secondary fields
    that exist, plus ``value`` (the target field, or 1 for count targets) and ``weight`` (1, or the
    feature's share inside ``area``). Features with weight 0 are dropped.
    """
    polygon = _as_area(area)
    if polygon is not None:
        base = where or Filter()
        inside = polygon if base.intersects is None else shapely.intersection(base.intersects, polygon)
        where = dataclasses.replace(base, intersects=inside)
    frame = store.read(layer.id, where, columns=_value_columns(layer))
    field = layer.target.field if layer.target and layer.target.measure == "sum" else None
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    out["value"] = pd.to_numeric(out[field], errors="coerce").fillna(0.0) if field else 1.0
    out["weight"] = 1.0 if polygon is None else area_weights(layer, frame.geometry, polygon)
    return out[out["weight"] > 0].reset_index(drop=True)


def with_state(frame: pd.DataFrame, layer: Layer, history: pd.DataFrame | None, as_of: date | None) -> pd.DataFrame:
    """Return ``frame`` with ``state`` (status) and ``percent`` (0-100, done = 100) as of a day.

    Without ``as_of`` the current ``status`` and ``progress_pct`` attributes are used; with it, the
    ``history`` rows are replayed (:func:`replay`).
    """
    out = frame.copy()
    if as_of is None or history is None:
        out["state"] = out["status"] if "status" in out else initial_status(layer)
        percent = pd.to_numeric(out.get("progress_pct"), errors="coerce") if "progress_pct" in out else np.nan
    else:
        out["state"], percent = replay(history, out["id"], as_of, layer)
    done = out["state"].isin(done_statuses(layer))
    out["done"] = done
    out["percent"] = np.where(done, 100.0, np.clip(pd.Series(percent, index=out.index).fillna(0.0), 0.0, 100.0))
    return out


def summarise(
    layer: Layer, frame: pd.DataFrame, as_of: date | None, scope: str = "city", scope_name: str | None = None
) -> Progress:
    """Aggregate a frame from :func:`with_state` into a :class:`Progress`."""
    weighted = frame["value"] * frame["weight"]
    done = frame["done"].to_numpy(dtype=bool)
    overdue = 0
    if "due_date" in frame:
        today = (as_of or date.today()).isoformat()
        overdue = int((frame["due_date"].notna() & (frame["due_date"] < today) & ~frame["done"]).sum())
    secondary = {}
    for name, label in layer.target.secondary.items() if layer.target else ():
        if name in frame:
            values = pd.to_numeric(frame[name], errors="coerce").fillna(0.0) * frame["weight"]
            secondary[name] = SecondarySum(label_zh=label, done=float(values[done].sum()), total=float(values.sum()))
    return Progress(
        layer=layer.id,
        title_zh=layer.title_zh,
        target=layer.target.value if layer.target else None,
        unit_zh=layer.target.unit_zh if layer.target else "",
        done=float(weighted[done].sum()),
        done_weighted=float((weighted * frame["percent"] / 100.0).sum()),
        planned=float(weighted.sum()),
        done_features=int(done.sum()),
        features=len(frame),
        by_status={str(k): int(v) for k, v in frame["state"].value_counts().sort_index().items()},
        overdue=overdue,
        as_of=as_of,
        secondary=secondary,
        scope=scope,
        scope_name=scope_name,
    )


def layer_progress(
    store: FeatureStore,
    layer: Layer,
    as_of: date | None = None,
    where: Filter | None = None,
    area: BaseGeometry | BBox | None = None,
) -> Progress:
    """Return the layer's progress; with ``as_of`` the history is replayed to that day.

    Parameters
    ----------
    store, layer : where to read and what.
    as_of : replay the history to this day; None uses the features' current attributes (and overdue
        counts against today).
    where : an attribute/spatial filter; matching features count wholly.
    area : a CRS84 polygon or bbox; features count by the module's area rule (area-weighted farmland).

    Returns
    -------
    Progress
    """
    scope = "area" if area is not None else ("city" if whole_plan(where) else "selection")
    if progress_sql.uses_aggregates(layer, as_of, area):
        return progress_sql.summarise_groups(layer, progress_sql.grouped_state(store, layer, where), scope=scope)
    frame = feature_frame(store, layer, where, area)
    history = store.history(layer.id, until=as_of) if as_of else None
    return summarise(layer, with_state(frame, layer, history, as_of), as_of, scope=scope)
