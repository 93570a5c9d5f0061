"""Signing in from a browser: a password opens a session; a token becomes a read-only cookie for the map pages.

People sign in with their user name and password: the server opens a session (``layers.sessions``) and
sets the ``planmap_session`` cookie (HttpOnly, SameSite=Lax so a link from a chat message opens signed in,
``Secure`` over HTTPS). Leaflet's tile and data requests cannot carry an ``Authorization`` header, so a
token entered here is kept in the read-only ``planmap_token`` cookie as before; API clients keep using
the header. Failed sign-ins are throttled per account and per address (429 with ``Retry-After``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from layers.errors import NotAuthenticated, TooManyAttempts
from layers.sessions import sign_in, sign_out
from layers.tokens import authenticate
from server.auth import SESSION_COOKIE, TOKEN_COOKIE, SessionDep, client_address, is_https
from server.csrf import check_csrf
from server.deps import SettingsDep, StoreDep
from server.responses import ERROR_RESPONSES, html_response

router = APIRouter(tags=["Access"], responses=ERROR_RESPONSES)

SESSION_SECONDS = 8 * 3600
"""How long the browser keeps a token sign-in: a working day."""
_NEXT_DOC = "Page of this server to open after signing in, e.g. `/map` (other sites are ignored)"
_HTML: dict[str, Any] = {"content": {"text/html": {}}}


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


def _https(request: Request, trust_proxy: bool) -> bool:
    return is_https(request.scope, dict(request.scope.get("headers", [])), trust_proxy)


@router.get("/login", summary="Sign-in page (HTML)", response_class=Response, responses={200: _HTML})
def login_page(request: Request, next: Annotated[str, Query(max_length=2000, description=_NEXT_DOC)] = "/") -> Response:
    """Show the sign-in form: user name and password, or an access token."""
    return _page(request, next, None)


def _token_sign_in(request: Request, store: StoreDep, token: str, target: str, secure: bool) -> Response:
    try:
        authenticate(store, token.strip())
    except NotAuthenticated:
        return _page(request, target, "令牌无效或已撤销 · The token is not valid (unknown or revoked)", 401)
    response = RedirectResponse(local_target(target), status_code=303)
    response.set_cookie(
        TOKEN_COOKIE, token.strip(), max_age=SESSION_SECONDS, path="/", httponly=True, samesite="strict", secure=secure
    )
    return response


@router.post(
    "/login",
    summary="Sign in with a user name and password (or an access token)",
    response_class=Response,
    responses={303: {"description": "Signed in; the session cookie is set"}, 401: _HTML, 429: _HTML},
)
def login(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    user: Annotated[str, Form(max_length=64, description="User name")] = "",
    password: Annotated[str, Form(max_length=256, description="Password")] = "",
    token: Annotated[str, Form(max_length=200, description="Or an access token (`pm_...`)")] = "",
    next: Annotated[str, Form(max_length=2000, description=_NEXT_DOC)] = "/",
) -> Response:
    """Open a session for a user name and password, or keep a token in a read-only cookie."""
    security = settings.security
    secure = _https(request, security.trust_proxy)
    if token.strip() and not user.strip():
        return _token_sign_in(request, store, token, next, secure)
    address = client_address(request.scope, dict(request.scope.get("headers", [])), security.trust_proxy)
    try:
        session_id, _ = sign_in(
            store,
            user.strip(),
            password,
            address=address,
            clock=request.app.state.clock,
            throttle=security.throttle,
        )
    except NotAuthenticated:
        return _page(request, next, "用户名或密码错误 · Wrong user name or password", 401)
    except TooManyAttempts as exc:
        page = _page(request, next, f"尝试次数过多,请 {exc.retry_after_s} 秒后再试 · {exc}", 429)
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    response = RedirectResponse(local_target(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(security.session_absolute_s),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post(
    "/logout",
    summary="Sign out",
    response_class=Response,
    responses={303: {"description": "Signed out"}},
    dependencies=[Depends(check_csrf)],
)
def logout(
    request: Request,
    store: StoreDep,
    session: SessionDep,
    everywhere: Annotated[bool, Form(description="End every session of this user, on every device")] = False,
) -> Response:
    """End this session (or all of the user's sessions), forget the cookies and go to the sign-in page."""
    if session is not None:
        sign_out(store, session, request.app.state.clock, everywhere=everywhere)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
