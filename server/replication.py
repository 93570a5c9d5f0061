"""Read-your-writes across replicas: each request runs in a read scope, and a client keeps its last write's position.

With ``PLANMAP_DATABASE_REPLICA_URLS`` set, reads go to replicas (``geo.storage.postgis.replicas``). A write
request (any method but GET, HEAD and OPTIONS) reads from the primary, so its ``If-Match`` checks and
idempotency lookups see the latest data. When a request wrote data (a GET too: archiving a report), the
answer sets the ``planmap_read_after`` cookie to the primary's WAL position after the write, and the
client's next reads, on any worker, wait for a replica to replay that far (``PLANMAP_DATABASE_REPLICA_WAIT_S``
at most) or go to the primary.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.storage.consistency import POSITION, read_scope

COOKIE = "planmap_read_after"
MAX_AGE_S = 300
"""How long a client asks for its write: far longer than a healthy replica lags."""

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def read_after(scope: Scope) -> str | None:
    """Return the well-formed position in the request's cookie, or None (a bad value is ignored)."""
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            found = cookie_parser(value.decode("latin-1")).get(COOKIE)
            if found and POSITION.fullmatch(found):
                return found
    return None


class ReadYourWrites:
    """Run each HTTP request in a ``read_scope``; hand a write's position back to the client in a cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Open the request's scope, and add the cookie when the response starts after a write."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with read_scope(primary=scope["method"] not in _READS, after=read_after(scope)) as reads:

            async def send_with_cookie(message: Message) -> None:
                if message["type"] == "http.response.start" and reads.wrote is not None:
                    cookie = f"{COOKIE}={reads.wrote}; Max-Age={MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax"
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
