"""Authentication: who is asking, what they may read, and route dependencies for writes.

``AuthMiddleware`` puts the caller's ``Principal`` (or None) on ``request.state`` once per request, from
(in this order) ``Authorization: Bearer <token>`` (machines), the ``planmap_session`` cookie (people who
signed in with a password; ``layers.sessions``) or the ``planmap_token`` cookie (a token entered on
``/login``, HttpOnly, SameSite=Strict, for reads only). Writes authorised by the session cookie must come
from this server's origin (checked here) and carry the session's CSRF token (checked by the role
dependencies, ``server.csrf``). Failed token checks are counted per client address and locked like
failed passwords (429 with ``Retry-After``). A presented token that is not valid is answered 401 at once; with
``public_reads`` off, reads without a token are answered 401 too, and page navigations are sent to
``/login`` (health checks, the API description and static assets stay open). Token holders see the
catalogue's non-public fields: the middleware hands them ``private_view(registry)`` as
``request.state.registry``. Tokens are never logged and never echoed in error messages.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from starlette.requests import cookie_parser
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.errors import GeoError
from layers.errors import CsrfRefused, LayerError, NotAuthenticated
from layers.registry import LayerRegistry
from layers.sessions import Session, check_throttle, note_failure, session_for, throttle_keys
from layers.tokens import Principal, Role, authenticate, private_view, require_role
from server.csrf import UNSAFE_METHODS, check_csrf, claimed_origin, request_origin
from server.errors import error_response, response_for
from server.settings import SecuritySettings, Settings

OPEN_PATHS = ("/healthz", "/api", "/openapi.json", "/docs", "/static/", "/favicon", "/login", "/logout", "/p/")
"""Paths readable without a token even when ``public_reads`` is off (no plan data behind them)."""
TOKEN_COOKIE = "planmap_token"
"""The cookie a token sign-in sets: the token itself, HttpOnly and SameSite=Strict, honoured for reads only."""
SESSION_COOKIE = "planmap_session"
"""The cookie a password sign-in sets: a random session id (the store keeps its hash), HttpOnly, SameSite=Lax."""
_READS = ("GET", "HEAD")


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an ``Authorization: Bearer`` header, None without one.

    Raises
    ------
    NotAuthenticated
        For another scheme or an empty token.
    """
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("use the Authorization header as `Bearer <token>`")
    return token.strip()


def _private_registry(app: Any) -> LayerRegistry:
    view: LayerRegistry | None = getattr(app.state, "private_registry", None)
    if view is None:
        view = app.state.private_registry = private_view(app.state.registry)
    return view


def _is_open(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) or path.startswith(p + "/") for p in OPEN_PATHS)


def _vary(message: Message) -> Message:
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"vary"]
    vary = [v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == b"vary"]
    headers.append((b"vary", ", ".join([*vary, "Authorization", "Cookie"]).encode("latin-1")))
    return {**message, "headers": headers}


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    return cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))


def client_address(scope: Scope, headers: dict[bytes, bytes], trust_proxy: bool) -> str:
    """Return the client's address: the proxy's last ``X-Forwarded-For`` entry when trusted, else the peer's."""
    forwarded = headers.get(b"x-forwarded-for", b"").decode("latin-1")
    if trust_proxy and forwarded.strip():
        return forwarded.split(",")[-1].strip()[:64]
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def is_https(scope: Scope, headers: dict[bytes, bytes], trust_proxy: bool) -> bool:
    """Return whether the browser reached the server over HTTPS (``X-Forwarded-Proto`` only from a trusted proxy)."""
    if trust_proxy and headers.get(b"x-forwarded-proto", b"").split(b",")[0].strip().lower() == b"https":
        return True
    return str(scope.get("scheme", "http")) == "https"


def own_origin(scope: Scope, headers: dict[bytes, bytes], trust_proxy: bool) -> str:
    """Return this server's origin as the browser sees it."""
    host = headers.get(b"host", b"").decode("latin-1") or "localhost"
    return request_origin("https" if is_https(scope, headers, trust_proxy) else "http", host)


def _cookie_principal(scope: Scope, headers: dict[bytes, bytes]) -> Principal | None:
    """Return the principal of the token cookie; a stale one (revoked token) counts as no cookie."""
    token = _cookies(headers).get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        return authenticate(scope["app"].state.store, token)
    except NotAuthenticated:
        return None


def _wants_page(headers: dict[bytes, bytes]) -> bool:
    """Return whether a request is a browser navigation (an HTML page), which goes to /login rather than 401."""
    return headers.get(b"sec-fetch-mode") == b"navigate" or b"text/html" in headers.get(b"accept", b"")


def _login_redirect(scope: Scope) -> RedirectResponse:
    target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


class AuthMiddleware:
    """Authenticate every HTTP request (pure ASGI, so streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp, public_reads: bool, security: SecuritySettings) -> None:
        self.app = app
        self.public_reads = public_reads
        self.security = security

    def _token_principal(self, scope: Scope, headers: dict[bytes, bytes], token: str) -> Principal:
        """Check a bearer token; failures count against the client address like failed passwords."""
        store, now = scope["app"].state.store, scope["app"].state.clock()
        address = client_address(scope, headers, self.security.trust_proxy)
        keys = throttle_keys(None, address)
        check_throttle(store, keys, self.security.throttle, now)
        try:
            return authenticate(store, token)
        except NotAuthenticated:
            note_failure(store, keys, self.security.throttle, now, None, address, "token-failed")
            raise

    def _session(self, scope: Scope, headers: dict[bytes, bytes]) -> Session | None:
        session_id = _cookies(headers).get(SESSION_COOKIE)
        if not session_id:
            return None
        app = scope["app"]
        session = session_for(app.state.store, session_id, self.security.sessions, app.state.clock)
        if session is not None and scope["method"] in UNSAFE_METHODS:
            claimed = claimed_origin(
                headers.get(b"origin", b"").decode("latin-1") or None,
                headers.get(b"referer", b"").decode("latin-1") or None,
            )
            if claimed != own_origin(scope, headers, self.security.trust_proxy):
                raise CsrfRefused("this write did not come from a page of this server (Origin/Referer check)")
        return session

    def _principal(self, scope: Scope, headers: dict[bytes, bytes]) -> Principal | None:
        raw = headers.get(b"authorization")
        token = bearer_token(raw.decode("latin-1") if raw is not None else None)
        if token is not None:
            return self._token_principal(scope, headers, token)
        session = self._session(scope, headers)
        if session is not None:
            scope.setdefault("state", {})["session"] = session
            return session.principal
        if scope["method"] in _READS:
            principal = _cookie_principal(scope, headers)
            if principal is not None:
                return principal
        if not self.public_reads and scope["method"] in _READS and not _is_open(scope["path"]):
            raise NotAuthenticated("reads need an access token on this server (Authorization: Bearer <token>)")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Attach the principal and the catalogue view to the request, or answer 401 (pages: go to /login)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        try:
            principal = self._principal(scope, headers)
        except GeoError as exc:  # the store failed while checking the token: the same 503 as any request
            await response_for(exc)(scope, receive, send)
            return
        except NotAuthenticated as exc:
            if scope["method"] in _READS and _wants_page(headers) and not _is_open(scope["path"]):
                await _login_redirect(scope)(scope, receive, send)
                return
            response = error_response(401, type(exc).__name__, str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="planmap"'
            await response(scope, receive, send)
            return
        except LayerError as exc:  # a locked address (429) or a cross-site write (403)
            await response_for(exc)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        if principal is not None:
            state["registry"] = _private_registry(scope["app"])

        async def send_vary(message: Message) -> None:
            await send(_vary(message) if message["type"] == "http.response.start" else message)

        await self.app(scope, receive, send_vary)


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Add the authentication middleware to the application."""
    app.add_middleware(AuthMiddleware, public_reads=settings.api.public_reads, security=settings.security)


def current_principal(request: Request) -> Principal | None:
    """Return the caller's principal (None for anonymous callers)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


def current_session(request: Request) -> Session | None:
    """Return the caller's browser session (None for token and anonymous callers)."""
    session: Session | None = getattr(request.state, "session", None)
    return session


def _requiring(role: Role) -> Any:
    async def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            raise NotAuthenticated(f"this needs an access token with role {role!r} or higher")
        require_role(principal, role)
        await check_csrf(request)
        return principal

    dependency.__doc__ = (
        f"Return the caller's principal; 401 without a token, 403 below role {role!r} or a session write without CSRF."
    )
    return Depends(dependency)


PrincipalDep = Annotated[Principal | None, Depends(current_principal)]
SessionDep = Annotated[Session | None, Depends(current_session)]
ReporterDep = Annotated[Principal, _requiring("field")]
PlannerDep = Annotated[Principal, _requiring("planner")]
AdminDep = Annotated[Principal, _requiring("admin")]
