"""The administrators' alert settings (/admin/alerts): webhook and e-mail destinations and the delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Form, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from layers.alert_rules import RULES
from layers.alert_send import KINDS
from layers.alerts import delete_destination, deliveries, destinations, run_alerts, save_destination
from layers.errors import InvalidAlertSetting
from server.auth import AdminDep, SessionDep
from server.caching import NO_STORE
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, html_response

router = APIRouter(tags=["Alerts"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

DestinationName = Annotated[str, Path(description="Destination name", max_length=64)]
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}}}


def _page(request: Request, store: StoreDep, session: SessionDep, error: str | None = None) -> Response:
    context = {
        "destinations": destinations(store),
        "deliveries": deliveries(store),
        "kinds": KINDS,
        "rules": RULES,
        "csrf": session.csrf_token if session else "",
        "error": error,
    }
    response = html_response(request, "admin_alerts.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


@router.get(
    "/admin/alerts", operation_id="getAlerts", summary="Alert destinations and deliveries (admins)", responses=_HTML
)
def alerts_page(
    request: Request,
    store: StoreDep,
    admin: AdminDep,
    session: SessionDep,
    f: Annotated[str | None, Query(description="`json` for the data, else the page")] = None,
) -> Any:
    """Show the destinations (secrets hidden), a form to add one and the delivery log."""
    if f == "json" or (f is None and "text/html" not in request.headers.get("accept", "")):
        return {"destinations": destinations(store), "deliveries": deliveries(store)}
    return _page(request, store, session)


@router.post("/admin/alerts", operation_id="saveAlertDestinationForm", summary="Save a destination (admins, form)")
def save_form(
    request: Request,
    store: StoreDep,
    admin: AdminDep,
    session: SessionDep,
    name: Annotated[str, Form(max_length=64)],
    kind: Annotated[str, Form(description="webhook, wecom, dingtalk or email")],
    url: Annotated[str, Form(max_length=1000)] = "",
    secret: Annotated[str, Form(max_length=200)] = "",
    to: Annotated[str, Form(max_length=1000)] = "",
    rules: Annotated[list[str] | None, Form(description="rules this destination takes")] = None,
) -> Response:
    """Create or replace a destination from the page's form (post/redirect/get)."""
    body = {"name": name, "kind": kind, "url": url, "secret": secret, "to": to, "rules": rules or list(RULES)}
    try:
        save_destination(store, body, admin.user)
    except InvalidAlertSetting as exc:
        response = _page(request, store, session, error=str(exc))
        response.status_code = 400
        return response
    return RedirectResponse("/admin/alerts", status_code=303)


@router.post("/admin/alerts/{name}/delete", operation_id="deleteAlertDestinationForm", summary="Delete (admins, form)")
def delete_form(store: StoreDep, admin: AdminDep, name: DestinationName) -> Response:
    """Delete a destination; its delivery log stays."""
    delete_destination(store, name, admin.user)
    return RedirectResponse("/admin/alerts", status_code=303)


@router.put(
    "/admin/alerts/destinations/{name}", operation_id="putAlertDestination", summary="Save a destination (admins)"
)
def put_destination(
    store: StoreDep, admin: AdminDep, name: DestinationName, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Create or replace a destination from JSON (``kind``, ``url``/``to``, ``secret``, ``rules``)."""
    save_destination(store, {**body, "name": name}, admin.user)
    return next(d for d in destinations(store) if d["name"] == name)


@router.delete("/admin/alerts/destinations/{name}", operation_id="deleteAlertDestination", status_code=204)
def delete_json(store: StoreDep, admin: AdminDep, name: DestinationName) -> Response:
    """Delete a destination; its delivery log stays."""
    delete_destination(store, name, admin.user)
    return Response(status_code=204)


@router.post("/admin/alerts/run", operation_id="runAlerts", summary="Check every alert rule now (admins)")
def run_now(store: StoreDep, registry: RegistryDep, admin: AdminDep, settings: SettingsDep) -> dict[str, int]:
    """Evaluate the rules, deliver new events once per destination and retry failed deliveries."""
    return run_alerts(store, registry.projects(), settings.alerts.config())
