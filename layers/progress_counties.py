"""Progress per county (rows plus the city total) and as a county choropleth FeatureCollection."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geo import geojson
from geo.storage.base import FeatureStore, Filter
from geo.types import BBox
from layers import progress_sql
from layers.models import Layer
from layers.plan_scope import whole_plan
from layers.progress import Progress, feature_frame, summarise, with_state

COUNTIES_LAYER = "counties"


class CountyProgress(BaseModel):
    """A layer's progress in each county, and the total over the same selection."""

    model_config = ConfigDict(frozen=True)

    layer: str = Field(description="Layer id")
    as_of: date | None = Field(description="Replay date; None means current attributes")
    counties: list[Progress] = Field(
        description="One row per county (scope = adcode), in adcode order, each with its quota where the plan has one"
    )
    total: Progress = Field(description="The whole selection (the city unless filtered), against the city target")
    quota_sum: float | None = Field(default=None, description="Sum of the county quotas (None without quotas)")
    quota_gap: float | None = Field(
        default=None, description="City target minus the quota sum: quotas need not add up to the city target"
    )


def _with_quotas(layer: Layer, result: CountyProgress) -> CountyProgress:
    """Give each county row its quota from the layer's target and the result the quotas' sum and gap."""
    quotas = layer.target.quotas if layer.target else {}
    if not quotas:
        return result
    rows = [row.model_copy(update={"quota": quotas.get(row.scope)}) for row in result.counties]
    total = float(sum(quotas.values()))
    gap = None if layer.target is None else round(layer.target.value - total, 6)
    return result.model_copy(update={"counties": rows, "quota_sum": total, "quota_gap": gap})


def read_counties(store: FeatureStore) -> gpd.GeoDataFrame:
    """Return the county-level divisions (id = adcode, name, geometry), in adcode order."""
    frame = store.read(COUNTIES_LAYER, Filter(equals={"level": "county"}), columns=["id", "name"])
    return frame.sort_values("id").reset_index(drop=True)


def _state(
    store: FeatureStore, layer: Layer, as_of: date | None, where: Filter | None, area: BaseGeometry | BBox | None
) -> pd.DataFrame:
    frame = feature_frame(store, layer, where, area)
    history = store.history(layer.id, until=as_of) if as_of else None
    return with_state(frame, layer, history, as_of)


def county_progress(
    store: FeatureStore,
    layer: Layer,
    as_of: date | None = None,
    where: Filter | None = None,
    area: BaseGeometry | BBox | None = None,
) -> CountyProgress:
    """Return one :class:`Progress` row per county, by the features' ``county`` attribute, plus the total.

    Parameters are those of :func:`layers.progress.layer_progress`. A feature counts in the county its
    ``county`` code names (a feature never spans two counties' rows), so the rows add up to the total.
    Each county row carries its quota from the layer's target (``pct_quota`` compares with it); the total
    counts against the city target.
    """
    scope = "area" if area is not None else ("city" if whole_plan(where) else "selection")
    if progress_sql.uses_aggregates(layer, as_of, area) and "county" in layer.field_names:
        return _with_quotas(layer, _county_progress_sql(store, layer, where, scope))
    state = _state(store, layer, as_of, where, area)
    county = state["county"] if "county" in state else pd.Series("", index=state.index)
    rows = [
        summarise(layer, state[county == code], as_of, scope=str(code), scope_name=str(name))
        for code, name in read_counties(store)[["id", "name"]].itertuples(index=False)
    ]
    total = summarise(layer, state, as_of, scope)
    return _with_quotas(layer, CountyProgress(layer=layer.id, as_of=as_of, counties=rows, total=total))


def _county_progress_sql(store: FeatureStore, layer: Layer, where: Filter | None, scope: str) -> CountyProgress:
    """County rows and total from one GROUP BY county, status in the store (current state)."""
    groups = progress_sql.grouped_state(store, layer, where, by_county=True)
    rows = [
        progress_sql.summarise_groups(layer, groups[groups["county"] == code], scope=str(code), scope_name=str(name))
        for code, name in read_counties(store)[["id", "name"]].itertuples(index=False)
    ]
    total = progress_sql.summarise_groups(layer, groups, scope=scope)
    return CountyProgress(layer=layer.id, as_of=None, counties=rows, total=total)


def _properties(layer: Layer, row: Progress) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": row.scope,
        "name": row.scope_name,
        "layer": layer.id,
        "unit_zh": row.unit_zh,
        "as_of": row.as_of.isoformat() if row.as_of else None,
        "done": row.done,
        "done_weighted": row.done_weighted,
        "planned": row.planned,
        "target": row.target,
        "target_share_pct": row.pct,
        "quota": row.quota,
        "pct_quota": row.pct_quota,
        "target_share_weighted_pct": row.pct_weighted,
        "pct_planned": row.pct_planned,
        "features": row.features,
        "done_features": row.done_features,
        "overdue": row.overdue,
        "by_status": row.by_status,
    }
    for status in layer.statuses:
        props[f"features_{status.value}"] = row.by_status.get(status.value, 0)
    for name, extra in row.secondary.items():
        props[f"{name}_done"] = extra.done
    return props


def counties_geojson(
    store: FeatureStore, layer: Layer, as_of: date | None = None, where: Filter | None = None
) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of the counties with the layer's progress as properties.

    Each feature's properties: ``done``, ``done_weighted``, ``planned``, ``target_share_pct`` (done as a
    percent of the citywide target: the county's contribution), ``pct_planned`` (done / the county's
    planned value), ``features``, ``by_status`` and one flat ``features_<status>`` count per status,
    ready to colour a choropleth by. Geometries are CRS84 as the API writes them (see
    :func:`geo.geojson.prepare_geometries`).
    """
    rows = {row.scope: row for row in county_progress(store, layer, as_of, where).counties}
    counties = read_counties(store)
    counties = counties[counties["id"].isin(list(rows))]
    geometries = geojson.geometry_dicts(geojson.prepare_geometries(counties.geometry.array))
    features = [
        {"type": "Feature", "id": code, "geometry": geometry, "properties": _properties(layer, rows[code])}
        for code, geometry in zip(counties["id"], geometries, strict=True)
    ]
    return {"type": "FeatureCollection", "layer": layer.id, "features": features}
