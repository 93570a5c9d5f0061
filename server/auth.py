"""Bearer-token authentication: who is asking, what they may read, and route dependencies for writes.

``AuthMiddleware`` reads ``Authorization: Bearer <token>`` once per request and puts the caller's
``Principal`` (or None) on ``request.state``. A presented token that is not valid is answered 401 at
once; with ``public_reads`` off, reads without a token are answered 401 too (health checks, the API
description and static assets stay open). Token holders see the catalogue's non-public fields: the
middleware hands them ``private_view(registry)`` as ``request.state.registry``. Tokens are never
logged and never echoed in error messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from layers.errors import LayerError, NotAuthenticated
from layers.registry import LayerRegistry
from layers.tokens import Principal, Role, authenticate, private_view, require_role
from server.errors import error_response
from server.settings import Settings

OPEN_PATHS = ("/healthz", "/api", "/openapi.json", "/docs", "/static/", "/favicon")
"""Paths readable without a token even when ``public_reads`` is off (no plan data behind them)."""


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
    headers.append((b"vary", ", ".join([*vary, "Authorization"]).encode("latin-1")))
    return {**message, "headers": headers}


class AuthMiddleware:
    """Authenticate every HTTP request (pure ASGI, so streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp, public_reads: bool) -> None:
        self.app = app
        self.public_reads = public_reads

    def _principal(self, scope: Scope) -> Principal | None:
        headers = dict(scope.get("headers", []))
        raw = headers.get(b"authorization")
        token = bearer_token(raw.decode("latin-1") if raw is not None else None)
        if token is None:
            if not self.public_reads and scope["method"] in ("GET", "HEAD") and not _is_open(scope["path"]):
                raise NotAuthenticated("reads need an access token on this server (Authorization: Bearer <token>)")
            return None
        return authenticate(scope["app"].state.store, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Attach the principal and the catalogue view to the request, or answer 401."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = self._principal(scope)
        except LayerError as exc:
            response = error_response(401, type(exc).__name__, str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="planmap"'
            await response(scope, receive, send)
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
    app.add_middleware(AuthMiddleware, public_reads=settings.api.public_reads)


def current_principal(request: Request) -> Principal | None:
    """Return the caller's principal (None for anonymous callers)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


def _requiring(role: Role) -> Any:
    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal is None:
            raise NotAuthenticated(f"this needs an access token with role {role!r} or higher")
        require_role(principal, role)
        return principal

    dependency.__doc__ = f"Return the caller's principal; 401 without a token, 403 below role {role!r}."
    return Depends(dependency)


PrincipalDep = Annotated[Principal | None, Depends(current_principal)]
ReporterDep = Annotated[Principal, _requiring("field")]
PlannerDep = Annotated[Principal, _requiring("planner")]
AdminDep = Annotated[Principal, _requiring("admin")]
