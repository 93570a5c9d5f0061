"""序时进度 lights: projects against the time elapsed on their schedules, and the plan year's investment rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from geo import geojson
from layers.lights_report import LightsReport, light_layers, lights_frame, lights_report
from server.auth import PrincipalDep
from server.deps import PlanYearDep, RegistryDep, StoreDep
from server.responses import ERROR_RESPONSES, GeoJSONResponse

router = APIRouter(tags=["Progress"], responses=ERROR_RESPONSES)


@dataclass(frozen=True)
class LightsQuery:
    """What a lights request asks for: the plan year and rules, the day, the layers and the county."""

    plan: PlanYearDep
    as_of: Annotated[date | None, Query(description="Day the lights are for (default today), YYYY-MM-DD")] = None
    layer: Annotated[str | None, Query(description="One layer id (default every scheduled project layer)")] = None
    county: Annotated[str | None, Query(description="One county adcode, e.g. `430321`")] = None


def _investment(principal: PrincipalDep) -> bool:
    """Return whether the caller may see investment figures (planners and admins)."""
    return principal is not None and principal.at_least("planner")


LightsDep = Annotated[LightsQuery, Depends()]
InvestmentDep = Annotated[bool, Depends(_investment)]


@router.get("/lights", operation_id="getLights", summary="序时进度 lights by layer and county, with investment")
def get_lights(query: LightsDep, store: StoreDep, registry: RegistryDep, investment: InvestmentDep) -> LightsReport:
    """Return the lights of the plan's projects on a day; investment figures for planners only."""
    layers = light_layers(registry, query.layer)
    day = query.as_of or date.today()
    return lights_report(
        store, layers, query.plan.year, day, query.plan.rules, county=query.county, investment=investment
    )


@router.get(
    "/lights.geojson",
    operation_id="getLightsGeoJSON",
    summary="序时进度 lights of each project as GeoJSON (for maps)",
    response_class=GeoJSONResponse,
)
def get_lights_geojson(
    request: Request, query: LightsDep, store: StoreDep, registry: RegistryDep, investment: InvestmentDep
) -> GeoJSONResponse:
    """Return every project of the plan with its light, lag and reason as a GeoJSON FeatureCollection."""
    layers = light_layers(registry, query.layer)
    day = query.as_of or date.today()
    rows = lights_frame(
        store, layers, query.plan.year, day, query.plan.rules, county=query.county, investment=investment
    )
    doc = {"type": "FeatureCollection", "numberReturned": len(rows), "features": geojson.features(rows)}
    return GeoJSONResponse(doc)
