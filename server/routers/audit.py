"""The planners' audit view: every progress report across layers, filtered and paged, as JSON or HTML."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from layers.audit import AuditQuery, audit
from layers.plans import plan_changes
from layers.review import review_changes
from server.auth import PlannerDep
from server.caching import NO_STORE
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.ogc import page_links
from server.responses import (
    AUTH_RESPONSES,
    ERROR_RESPONSES,
    MediaType,
    NaNSafeJSONResponse,
    OutputFormat,
    choose_format,
    clamp_limit,
    html_response,
)
from server.routers.features import MAX_OFFSET

router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)


def audit_query(
    registry: RegistryDep,
    settings: SettingsDep,
    layer: Annotated[str | None, Query(description="Layer id, e.g. `farmland`")] = None,
    author: Annotated[str | None, Query(description="Reports by this user (token user name, or `demo`)")] = None,
    feature: Annotated[str | None, Query(description="Reports on this feature id, e.g. `FL-001`")] = None,
    from_: Annotated[date | None, Query(alias="from", description="Reports dated on or after (YYYY-MM-DD)")] = None,
    to: Annotated[date | None, Query(description="Reports dated on or before (YYYY-MM-DD)")] = None,
    demo: Annotated[bool | None, Query(description="`true`: demo entries only; `false`: real reports only")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Entries per page")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Entries to skip")] = 0,
) -> AuditQuery:
    """Collect the audit filters (an unknown layer id is a 404)."""
    if layer is not None:
        registry.get(layer)
    size, _ = clamp_limit(limit, settings.api.default_limit, settings.api.max_limit)
    return AuditQuery(layer, author, feature, from_, to, demo, size, offset)


@router.get(
    "/audit",
    operation_id="getAudit",
    name="getAudit",
    summary="Progress reports across layers (planners)",
    response_class=NaNSafeJSONResponse,
    responses={
        200: {"content": {"application/json": {}, "text/html": {}}, "description": "A page of reports"},
        **AUTH_RESPONSES,
    },
)
def get_audit(
    request: Request,
    query: Annotated[AuditQuery, Depends(audit_query)],
    store: StoreDep,
    registry: RegistryDep,
    principal: PlannerDep,
    f: Annotated[OutputFormat | None, Query(description="`json` or `html`; overrides Accept")] = None,
) -> Response:
    """Return the history entries matching the filters, newest recorded first."""
    page = audit(store, query)
    fmt = choose_format(request, f, OutputFormat.json)
    media = MediaType.html if fmt == OutputFormat.html else MediaType.json
    doc: dict[str, Any] = {
        "numberMatched": page.matched,
        "numberReturned": len(page.records),
        "entries": page.records,
        "links": page_links(request, media, query.offset, query.limit, len(page.records), page.matched),
        "review_changes": review_changes(store, registry.projects()),
    }
    if fmt == OutputFormat.html:
        changes = plan_changes(store)
        context = {"doc": doc, "query": query, "user": principal.user, "plan_changes": changes}
        return html_response(request, "audit.html", context)
    return NaNSafeJSONResponse(doc, headers={"Cache-Control": NO_STORE})
