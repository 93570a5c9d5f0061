"""FastAPI dependencies: the store, the catalogue and the layer named in the path."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from geo.bbox import parse_bbox
from geo.errors import InvalidFilter
from geo.storage.base import FeatureStore, Filter
from geo.textlists import split_list
from layers.errors import UnknownPlan
from layers.lights import LightRules, rules_of
from layers.models import Layer
from layers.plan_model import SEED_YEAR, StoredPlan
from layers.plans import resolve_plan
from layers.query import Selection, to_filter
from layers.registry import LayerRegistry
from server.settings import Settings


def get_store(request: Request) -> FeatureStore:
    """Return the store opened at startup."""
    store: FeatureStore = request.app.state.store
    return store


def get_registry(request: Request) -> LayerRegistry:
    """Return the plan catalogue as the caller may see it (token holders also see non-public fields)."""
    registry: LayerRegistry = getattr(request.state, "registry", None) or request.app.state.registry
    return registry


def get_settings(request: Request) -> Settings:
    """Return the application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def layer_param(
    request: Request,
    collectionId: Annotated[str, Path(description="Layer (collection) id, e.g. `farmland`", examples=["farmland"])],
) -> Layer:
    """Look the path's collection id up in the catalogue; unknown ids raise ``UnknownLayer`` (404)."""
    return get_registry(request).get(collectionId)


StoreDep = Annotated[FeatureStore, Depends(get_store)]
RegistryDep = Annotated[LayerRegistry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LayerDep = Annotated[Layer, Depends(layer_param)]


RESERVED_PARAMS = frozenset(
    {
        "f",
        "limit",
        "offset",
        "bbox",
        "bbox-crs",
        "crs",
        "datetime",
        "properties",
        "sortby",
        "filter",
        "filter-lang",
        "filter-crs",
        "county",
        "status",
        "as_of",
        "lang",
        "format",
        "precision",
        "tms",
        "colormap",
        "rescale",
        "geometry",
        "headers",
        "sheets",
        "plan",
        "lights",
    }
)
"""Query parameters with their own meaning; any other parameter filters by a queryable of that name."""


@dataclass(frozen=True)
class FeatureQuery:
    """The selection parameters shared by items, tiles, exports and progress endpoints."""

    layer: Layer
    selection: Selection

    def to_filter(self, store: FeatureStore) -> Filter:
        """Resolve into a store filter (history replay for ``status`` with ``as_of``)."""
        return to_filter(self.selection, self.layer, store)


def feature_query(
    request: Request,
    layer: LayerDep,
    bbox: Annotated[
        str | None,
        Query(description="Bounding box `minx,miny,maxx,maxy` (lon/lat in CRS84 unless `bbox-crs` says otherwise)"),
    ] = None,
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS of `bbox` (OGC URI), e.g. EPSG:4490 or EPSG:4547")
    ] = None,
    county: Annotated[str | None, Query(description="County adcode(s), comma-separated, e.g. `430321,430381`")] = None,
    status: Annotated[
        str | None, Query(description="Status value(s), comma-separated, e.g. `completed` or `planned,in_progress`")
    ] = None,
    filter: Annotated[
        str | None, Query(description="CQL2 text filter, e.g. `area_mu > 1000 AND county = '430321'`")
    ] = None,
    filter_lang: Annotated[
        str | None, Query(alias="filter-lang", description="Filter language; only `cql2-text` is accepted")
    ] = None,
    as_of: Annotated[
        date | None, Query(description="Replay the progress history to this date (YYYY-MM-DD) for `status`")
    ] = None,
    plan: Annotated[
        int | None,
        Query(ge=2000, le=2100, description="Only the projects of this plan year (carry-overs count in two)"),
    ] = None,
) -> FeatureQuery:
    """Collect the selection parameters; any other queryable name in the query string filters by equality."""
    if filter_lang not in (None, "cql2-text"):
        raise InvalidFilter(f"filter-lang {filter_lang!r} is not supported; use cql2-text")
    attributes = {
        name: split_list(value) if "," in value else value
        for name, value in request.query_params.items()
        if name not in RESERVED_PARAMS
    }
    selection = Selection(
        bbox=parse_bbox(bbox, bbox_crs) if bbox is not None else None,
        county=tuple(split_list(county)),
        status=tuple(split_list(status)),
        attributes=attributes,
        cql=filter,
        as_of=as_of,
        plan_year=plan,
    )
    return FeatureQuery(layer=layer, selection=selection)


FeatureQueryDep = Annotated[FeatureQuery, Depends(feature_query)]


def plan_param(
    store: StoreDep,
    plan: Annotated[
        int | None, Query(ge=2000, le=2100, description="Plan year, e.g. 2025 (default: the current plan)")
    ] = None,
) -> StoredPlan | None:
    """Resolve ``plan`` to a stored plan (404 naming the years there are), or the current plan."""
    return resolve_plan(store, plan)


PlanDep = Annotated[StoredPlan | None, Depends(plan_param)]


def plan_registry(request: Request, plan: PlanDep) -> LayerRegistry:
    """Return the catalogue with the targets and quotas of the request's plan."""
    return get_registry(request).with_plan(plan.plan if plan else None)


PlanRegistryDep = Annotated[LayerRegistry, Depends(plan_registry)]


def plan_feature_query(query: FeatureQueryDep, registry: PlanRegistryDep, plan: PlanDep) -> FeatureQuery:
    """Return the selection limited to the plan's projects, its layer carrying the plan's target."""
    year = plan.plan.year if plan else query.selection.plan_year
    selection = dataclasses.replace(query.selection, plan_year=year)
    return FeatureQuery(layer=registry.get(query.layer.id), selection=selection)


PlanFeatureQueryDep = Annotated[FeatureQuery, Depends(plan_feature_query)]


@dataclass(frozen=True)
class PlanYear:
    """The plan year a lights request means and the light thresholds that plan sets."""

    year: int
    rules: LightRules


def plan_year_param(plan: PlanDep) -> PlanYear:
    """Resolve ``plan`` to its year and light rules (the current plan's, else the seed year with default rules)."""
    if plan is None:
        return PlanYear(SEED_YEAR, LightRules())
    return PlanYear(plan.plan.year, rules_of(plan.plan))


PlanYearDep = Annotated[PlanYear, Depends(plan_year_param)]


def feature_plan_year(
    store: StoreDep,
    plan: Annotated[
        int | None, Query(ge=2000, le=2100, description="Plan year, e.g. 2025 (default: the current plan)")
    ] = None,
) -> PlanYear:
    """Resolve ``plan`` for the lights items and tiles carry: a year without a stored plan gets the default rules
    (``plan`` there selects projects by their plan years, which need not have a stored plan)."""
    try:
        return plan_year_param(resolve_plan(store, plan))
    except UnknownPlan:
        return PlanYear(plan or SEED_YEAR, LightRules())


FeaturePlanYearDep = Annotated[PlanYear, Depends(feature_plan_year)]


def tile_lights(
    store: StoreDep,
    lights: Annotated[
        bool,
        Query(
            description="Give project features their 序时进度 `light`, `lag_pts` and `elapsed_pct` (reads the history)"
        ),
    ] = False,
    plan: Annotated[int | None, Query(ge=2000, le=2100, description="Plan year whose light thresholds apply")] = None,
) -> PlanYear | None:
    """Resolve the lights a tile carries: none unless ``lights=true`` (tiles stay on the stores' fast path)."""
    return feature_plan_year(store, plan) if lights else None


TileLightsDep = Annotated[PlanYear | None, Depends(tile_lights)]
