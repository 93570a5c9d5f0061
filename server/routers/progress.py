"""Spatial progress: targets vs done by city, county, polygon or bbox, over time, deadlines and water compliance."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from geo.textlists import split_list
from layers.deadlines import DeadlineReport, deadlines
from layers.nearby import resolve_layers
from layers.plan_scope import plan_filter
from layers.progress import Progress, layer_progress
from layers.progress_counties import CountyProgress, counties_geojson, county_progress
from layers.progress_scope import ProgressScope, progress_scope
from layers.timeline import Timeline, layer_timeline
from layers.water_status import WaterCompliance, water_compliance
from server.deps import PlanDep, PlanFeatureQueryDep, PlanRegistryDep, StoreDep
from server.responses import ERROR_RESPONSES, GeoJSONResponse

router = APIRouter(prefix="/progress", tags=["Progress"], responses=ERROR_RESPONSES)

AsOf = Annotated[date | None, Query(description="Replay the progress history to this day (YYYY-MM-DD)")]
_POLYGON_EXAMPLE = {
    "type": "Feature",
    "properties": {"name": "易俗河北片"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[112.90, 27.74], [113.00, 27.74], [113.00, 27.82], [112.90, 27.82], [112.90, 27.74]]],
    },
}


def scope_param(query: PlanFeatureQueryDep, store: StoreDep) -> ProgressScope:
    """Resolve the shared selection for progress (a bbox is an area features count in by share)."""
    return progress_scope(store, query.layer, query.selection)


ScopeDep = Annotated[ProgressScope, Depends(scope_param)]


@router.get("", operation_id="getProgress", summary="Progress of every project layer, citywide")
def all_progress(store: StoreDep, registry: PlanRegistryDep, plan: PlanDep, as_of: AsOf = None) -> list[Progress]:
    """Return the progress of each layer with a target in the plan (`plan=`, default the current plan)."""
    year = plan.plan.year if plan else None
    return [layer_progress(store, x, as_of, plan_filter(x, year)) for x in registry.projects() if x.target]


@router.get("/deadlines", operation_id="getDeadlines", summary="Overdue, late and at-risk deadlines")
def get_deadlines(
    store: StoreDep,
    registry: PlanRegistryDep,
    plan: PlanDep,
    as_of: Annotated[date | None, Query(description="Day to assess (default today), YYYY-MM-DD")] = None,
    layer: Annotated[str | None, Query(description="Layer id(s), comma-separated (default all projects)")] = None,
    within_days: Annotated[int, Query(ge=0, le=366, description="At risk: due within this many days")] = 30,
    threshold_pct: Annotated[
        float, Query(ge=0, le=100, description="At risk: progress below this percent (or status planned)")
    ] = 80.0,
) -> DeadlineReport:
    """Return features and milestones overdue, done late, or due soon and behind, as of a day."""
    layers = resolve_layers(registry, split_list(layer))
    year = plan.plan.year if plan else None
    return deadlines(store, layers, as_of or date.today(), within_days, threshold_pct, year)


@router.get(
    "/water-sections/compliance", operation_id="getWaterCompliance", summary="Water sections meeting their class"
)
def get_water_compliance(store: StoreDep, registry: PlanRegistryDep, as_of: AsOf = None) -> WaterCompliance:
    """Return each section's latest class against its target, and how many comply."""
    return water_compliance(store, registry.get("water-sections"), as_of)


@router.get("/{collectionId}", operation_id="getLayerProgress", summary="A layer's progress in a selection")
def get_layer_progress(query: PlanFeatureQueryDep, scope: ScopeDep, store: StoreDep) -> Progress:
    """Return the layer's progress: citywide, per `county`, filtered, or inside a `bbox` (area-weighted)."""
    return layer_progress(store, query.layer, query.selection.as_of, scope.where, scope.area)


@router.post("/{collectionId}/within", operation_id="postLayerProgressWithin", summary="Progress inside a polygon")
def post_progress_within(
    query: PlanFeatureQueryDep,
    scope: ScopeDep,
    store: StoreDep,
    area: Annotated[
        dict[str, Any],
        Body(description="GeoJSON Polygon/MultiPolygon or a Feature of one, CRS84", examples=[_POLYGON_EXAMPLE]),
    ],
) -> Progress:
    """Return the layer's progress inside a posted polygon (farmland by area share, others by point)."""
    within = scope.within(area)
    return layer_progress(store, query.layer, query.selection.as_of, within.where, within.area)


@router.get("/{collectionId}/counties", operation_id="getLayerProgressByCounty", summary="Progress per county")
def get_county_progress(query: PlanFeatureQueryDep, scope: ScopeDep, store: StoreDep) -> CountyProgress:
    """Return one progress row per county and the total."""
    return county_progress(store, query.layer, query.selection.as_of, scope.where, scope.area)


@router.get(
    "/{collectionId}/counties.geojson",
    operation_id="getLayerProgressCountiesGeoJSON",
    summary="Counties with progress properties (choropleth)",
    response_class=GeoJSONResponse,
    responses={200: {"content": {"application/geo+json": {}}, "description": "FeatureCollection of counties"}},
)
def get_counties_geojson(query: PlanFeatureQueryDep, scope: ScopeDep, store: StoreDep) -> GeoJSONResponse:
    """Return the counties as GeoJSON with the layer's progress in their properties."""
    return GeoJSONResponse(counties_geojson(store, query.layer, query.selection.as_of, scope.where))


@router.get("/{collectionId}/timeline", operation_id="getLayerTimeline", summary="Monthly burn-up vs the plan line")
def get_timeline(query: PlanFeatureQueryDep, scope: ScopeDep, store: StoreDep) -> Timeline:
    """Return cumulative done at each month end of the plan year, with the linear plan line."""
    return layer_timeline(store, query.layer, scope.where, scope.area)
