"""Request limits checked before routing: URL length, text encoding and body size, each answered as JSON."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import error_response

UPLOAD_MEDIA_TYPE = b"multipart/form-data"


class BodyTooLarge(Exception):
    """The request body grew past the limit while it was being read (no or a false Content-Length)."""


def _undecodable(raw: bytes) -> str | None:
    """Return why a percent-encoded path or query string is unacceptable, or None when it is fine."""
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8 once percent-decoded"
    return "contains a NUL character (%00)" if "\x00" in text else None


def _name(pair: bytes) -> str:
    """Return the (lossily decoded) name of a ``name=value`` query pair, for error messages."""
    name = unquote_to_bytes(pair.partition(b"=")[0].replace(b"+", b" ")).decode("utf-8", "replace")
    return name[:64]


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", ()) if key.lower() == name), None)


class RequestLimits:
    """ASGI middleware answering 414 for long URLs, 400 for undecodable text and 413 for large bodies.

    Bodies are limited to ``max_body_bytes``, or ``max_upload_bytes`` for ``multipart/form-data``
    uploads. A declared Content-Length over the limit is refused before any of the body is read; a
    body without one is counted as it arrives and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_url_bytes: int, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with a receive channel that counts body bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self._body_limit(scope)
        received, started, refused = 0, False, False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                refused = not started
                raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:  # the app's own answer to the cut-off body (FastAPI makes it a 400) is replaced
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not refused:
                raise
        if refused:
            await _too_large(limit)(scope, receive, send)

    def _body_limit(self, scope: Scope) -> int:
        content_type = (_header(scope, b"content-type") or b"").lower()
        return self.max_upload_bytes if content_type.startswith(UPLOAD_MEDIA_TYPE) else self.max_body_bytes

    def _refusal(self, scope: Scope) -> ASGIApp | None:
        """Return the error response for a request refused on its head alone, or None to serve it."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        if len(raw_path) + len(query) > self.max_url_bytes:
            return error_response(
                414, "URITooLong", f"the URL is {len(raw_path) + len(query)} bytes; at most {self.max_url_bytes}"
            )
        for raw in (raw_path, *query.split(b"&")):
            problem = _undecodable(raw)
            if problem is not None:
                part = "the path" if raw is raw_path else f"query parameter {_name(raw)!r}"
                return error_response(400, "InvalidEncoding", f"{part} {problem}")
        length = _header(scope, b"content-length")
        limit = self._body_limit(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            if not length.isdigit():
                return error_response(400, "InvalidContentLength", "Content-Length must be a whole number")
            return _too_large(limit)
        return None


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "RequestTooLarge", f"the request body is larger than {limit} bytes")
