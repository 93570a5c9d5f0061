"""Cross-site request forgery defences for writes authorised by the session cookie.

Two independent checks (OWASP's "defence in depth"): the request must come from this server's own
origin (``Origin``, else ``Referer``; the middleware refuses others before any handler runs), and it must
carry the session's synchronizer token, in the ``X-CSRF-Token`` header (pages' scripts) or the
``csrf_token`` form field (plain HTML forms). Requests with a bearer token need neither: a browser never
adds that header by itself. The session cookie is SameSite=Lax, a third line that stops most
cross-site POSTs from carrying it at all.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import FormData

from layers.errors import CsrfRefused
from layers.sessions import Session

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_origin(scheme: str, host: str) -> str:
    """Return ``scheme://host`` as browsers write it in the Origin header (default ports left out).

    Examples
    --------
    >>> request_origin("https", "Planmap.example:443"), request_origin("http", "127.0.0.1:8000")
    ('https://planmap.example', 'http://127.0.0.1:8000')
    """
    host = host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme, "")
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def claimed_origin(origin: str | None, referer: str | None) -> str | None:
    """Return the origin a request claims to come from: its Origin header, else its Referer's, else None."""
    if origin and origin != "null":
        parts = urlsplit(origin)
        return request_origin(parts.scheme, parts.netloc)
    if origin == "null":
        return "null"
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return request_origin(parts.scheme, parts.netloc)
    return None


def _matches(presented: str | None, session: Session) -> bool:
    return bool(presented) and hmac.compare_digest(str(presented).encode(), session.csrf_token.encode())


async def check_csrf(request: Request) -> None:
    """Raise ``CsrfRefused`` for a session-authorised write without the session's CSRF token.

    Form posts carry it as a field; FastAPI has already read the form, so it comes from Starlette's cache.
    """
    session: Session | None = getattr(request.state, "session", None)
    if session is None or request.method not in UNSAFE_METHODS:
        return
    if _matches(request.headers.get(CSRF_HEADER), session):
        return
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form: FormData = await request.form()
        field = form.get(CSRF_FIELD)
        if isinstance(field, str) and _matches(field, session):
            return
    raise CsrfRefused()
