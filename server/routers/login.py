"""Signing in from a browser: a token entered once becomes a read-only session cookie for the map pages.

Leaflet's tile and data requests cannot carry an ``Authorization`` header, so on a server with private
reads the maps need the cookie (see ``server.auth``); API clients keep using the header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from layers.errors import NotAuthenticated
from layers.tokens import authenticate
from server.auth import SESSION_COOKIE
from server.deps import StoreDep
from server.responses import ERROR_RESPONSES, html_response

router = APIRouter(tags=["Access"], responses=ERROR_RESPONSES)

SESSION_SECONDS = 8 * 3600
"""How long the browser keeps the sign-in: a working day."""
_NEXT_DOC = "Page of this server to open after signing in, e.g. `/map` (other sites are ignored)"


def local_target(target: str | None) -> str:
    """Return ``target`` when it is a path on this server, else ``/`` (no open redirects).

    Examples
    --------
    >>> local_target("/map?layers=farmland"), local_target("//evil.example/x"), local_target("https://x.example")
    ('/map?layers=farmland', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or any(c in target for c in "\\\r\n"):
        return "/"
    return target


def _page(request: Request, target: str, error: str | None, status: int = 200) -> Response:
    response = html_response(request, "login.html", {"next": local_target(target), "error": error})
    response.status_code = status
    return response


@router.get(
    "/login", summary="Sign-in page (HTML)", response_class=Response, responses={200: {"content": {"text/html": {}}}}
)
def login_page(request: Request, next: Annotated[str, Query(max_length=2000, description=_NEXT_DOC)] = "/") -> Response:
    """Show the sign-in form: the access token a planner or administrator handed out."""
    return _page(request, next, None)


@router.post(
    "/login",
    summary="Sign in with an access token",
    response_class=Response,
    responses={303: {"description": "Signed in; the session cookie is set"}, 401: {"content": {"text/html": {}}}},
)
def login(
    request: Request,
    store: StoreDep,
    token: Annotated[str, Form(min_length=1, max_length=200, description="The access token (`pm_...`)")],
    next: Annotated[str, Form(max_length=2000, description=_NEXT_DOC)] = "/",
) -> Response:
    """Check the token and keep it in an HttpOnly, SameSite=Strict cookie that authorises reads only."""
    token = token.strip()
    try:
        authenticate(store, token)
    except NotAuthenticated:
        return _page(request, next, "令牌无效或已撤销 · The token is not valid (unknown or revoked)", 401)
    response = RedirectResponse(local_target(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", summary="Sign out", response_class=Response, responses={303: {"description": "Signed out"}})
def logout() -> Response:
    """Forget the session cookie and go back to the sign-in page."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
