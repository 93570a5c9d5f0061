"""Security headers on every response, and the per-request nonce that lets planmap's own inline scripts run.

The Content-Security-Policy allows scripts only from planmap itself (``'self'``) and inline scripts
carrying this response's nonce. Pages put the nonce on the inline scripts they write themselves (the map
set-up Folium renders from planmap's data, page wiring), via ``csp_nonce()`` in the templates, so a
script smuggled into a page through data has no nonce and does not run. Styles allow ``'unsafe-inline'``:
Folium and Leaflet write ``<style>`` blocks and ``style`` attributes, and a style cannot run code.
Images come from planmap and the online base maps the map pages offer (OpenStreetMap, AMap, and
Tianditu when a key is configured), data only from planmap; the
pages may not be framed (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``), content types are not
sniffed, and the Referer sent to other sites holds the origin only.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NONCE: ContextVar[str] = ContextVar("planmap_csp_nonce", default="")
TIANDITU_HOSTS = "https://*.tianditu.gov.cn"
ONLINE_BASEMAP_HOSTS = "https://tile.openstreetmap.org https://*.is.autonavi.com"
"""Image hosts of the online base maps the map pages list (fetched only once a user switches to one)."""


def csp_nonce() -> str:
    """Return the nonce of the response being built (empty outside a request)."""
    return _NONCE.get()


def with_nonce(html: str) -> str:
    """Give the bare ``<script>`` tags of trusted, generated markup (never user data) this response's nonce."""
    return html.replace("<script>", f'<script nonce="{csp_nonce()}">')


def content_security_policy(nonce: str, tianditu: bool) -> str:
    """Return the policy for a response with ``nonce``.

    Examples
    --------
    >>> "script-src 'self' 'nonce-abc'" in content_security_policy("abc", False)
    True
    """
    images = f"'self' data: blob: {ONLINE_BASEMAP_HOSTS}" + (f" {TIANDITU_HOSTS}" if tianditu else "")
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeaders:
    """Add the security headers to every HTTP response (pure ASGI: streaming passes through)."""

    def __init__(self, app: ASGIApp, tianditu: bool) -> None:
        self.app = app
        self.tianditu = tianditu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set this request's nonce, then add the headers when the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        token = _NONCE.set(nonce)
        extra = [
            (b"content-security-policy", content_security_policy(nonce, self.tianditu).encode("latin-1")),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": headers + extra}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            _NONCE.reset(token)
