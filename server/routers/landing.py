"""OGC API landing page and conformance declaration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from server.deps import RegistryDep, SettingsDep
from server.ogc import CONFORMANCE, landing_links
from server.responses import ERROR_RESPONSES, NaNSafeJSONResponse, OutputFormat, choose_format, html_response

router = APIRouter(tags=["OGC API - Features"], responses=ERROR_RESPONSES)

FormatParam = Annotated[
    OutputFormat | None,
    Query(description="Output format: `json` or `html`; overrides the Accept header", examples=["html"]),
]

_HTML_OK: dict[str, Any] = {"content": {"application/json": {}, "text/html": {}}}


@router.get(
    "/",
    operation_id="getLandingPage",
    name="getLandingPage",
    summary="Landing page",
    response_class=NaNSafeJSONResponse,
    responses={200: {**_HTML_OK, "description": "Links to the API definition, conformance and collections"}},
)
def landing(request: Request, settings: SettingsDep, registry: RegistryDep, f: FormatParam = None) -> Response:
    """Return the landing page: links to the API definition, conformance and the collections."""
    doc = {
        "title": f"湘潭市2025年重点项目空间进度 · {settings.api.title}",
        "description": "湘潭市2025年政府工作报告可落图目标的空间进度服务 · "
        "Spatial progress of Xiangtan's 2025 work-plan targets (OGC API - Features)",
        "links": landing_links(request),
    }
    if choose_format(request, f) == OutputFormat.html:
        return html_response(request, "landing.html", {"doc": doc, "layers": registry.all()})
    return NaNSafeJSONResponse(doc)


@router.get(
    "/conformance",
    operation_id="getConformanceDeclaration",
    name="getConformanceDeclaration",
    summary="Conformance classes implemented",
    response_class=NaNSafeJSONResponse,
    responses={200: {**_HTML_OK, "description": "The conformance classes this API implements"}},
)
def conformance(request: Request, f: FormatParam = None) -> Response:
    """Return the OGC conformance classes this API implements."""
    doc = {"conformsTo": CONFORMANCE}
    if choose_format(request, f) == OutputFormat.html:
        return html_response(request, "conformance.html", {"doc": doc})
    return NaNSafeJSONResponse(doc)
