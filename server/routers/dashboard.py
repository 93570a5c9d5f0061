"""The plan dashboard: target cards, counties against quotas, the red list and a map replayed month by month."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from layers.dashboard import dashboard
from layers.lights_report import check_query
from server.auth import PrincipalDep
from server.deps import PlanDep, PlanRegistryDep, PlanYearDep, StoreDep
from server.maps.dashboard import dashboard_page, default_day
from server.maps.i18n import parse_lang
from server.responses import ERROR_RESPONSES, NaNSafeJSONResponse

router = APIRouter(tags=["Maps"], responses=ERROR_RESPONSES)

AsOf = Annotated[date | None, Query(description="Day shown (default: today, kept within the plan year)")]


@router.get("/dashboard/data", operation_id="getDashboardData", summary="The dashboard's figures on one day")
def dashboard_data(
    store: StoreDep,
    registry: PlanRegistryDep,
    plan: PlanYearDep,
    principal: PrincipalDep,
    as_of: AsOf = None,
) -> NaNSafeJSONResponse:
    """Return target cards, county quotas, lights, the red list and project points; investment for planners."""
    day = as_of or default_day(plan.year)
    check_query([], day, None)
    investment = principal is not None and principal.at_least("planner")
    doc: dict[str, Any] = dashboard(store, registry, plan.year, plan.rules, day, investment=investment)
    return NaNSafeJSONResponse(doc, headers={"Cache-Control": "no-store" if investment else "no-cache"})


@router.get("/dashboard", response_class=HTMLResponse, operation_id="getDashboard", summary="The plan dashboard")
def dashboard_html(
    request: Request,
    store: StoreDep,
    stored: PlanDep,
    plan: PlanYearDep,
    as_of: AsOf = None,
    lang: Annotated[str | None, Query(description="UI language: zh (default) or en")] = None,
) -> str:
    """Show the plan year's dashboard with a time slider that replays it month by month."""
    day = as_of or default_day(plan.year)
    check_query([], day, None)
    title = stored.plan.title_zh if stored else f"{plan.year}年计划"
    return dashboard_page(store, plan.year, title, day, plan.rules, parse_lang(lang), here=str(request.url.path))
