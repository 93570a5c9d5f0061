"""HTTP caching: strong ETags, conditional requests (``If-None-Match``, ``If-Match``) and ``Cache-Control``.

Policy: a data response (features, collections, tiles) carries a strong ETag computed from the data
versions it shows, the request path, the sorted query, the output format and the caller's view, and
``Cache-Control: no-cache``: clients and proxies may keep it but revalidate every time, which costs one
cheap 304. Because the ETag holds the data version, a progress update is visible on the very next
request. Writes name the version they change with ``If-Match`` (RFC 9110 section 13.1.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi import Request, Response

from geo.errors import StaleVersion
from geo.textlists import split_list
from layers.errors import VersionRequired

REVALIDATE = "no-cache"
"""Clients may store responses but must revalidate (ETag) every time: progress updates show at once."""

NO_STORE = "no-store"
"""Responses about one caller (a write's result, the audit log) are never stored."""

ONE_DAY = "public, max-age=86400"
"""Content that never changes under its URL (a report's photo), kept a day without revalidation."""

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current (no body)"}
}
"""``responses=`` addition for routes answering conditional GETs."""


def query_key(request: Request) -> str:
    """Return the request's query as ``k=v`` pairs sorted and joined by ``&`` (order-insensitive)."""
    return "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))


def strong_etag(key: str) -> str:
    """Return the strong ETag (quoted, 32 hex digits) of a cache key.

    Examples
    --------
    >>> strong_etag("farmland=3")
    '"1383a1c8f82fe7fcf5ea6d424557c35a"'
    """
    return '"' + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + '"'


def view_of(request: Request) -> str:
    """Return ``private`` for token holders (they see non-public fields), else ``public``."""
    return "private" if getattr(request.state, "registry", None) is not None else "public"


def make_etag(
    version: str,
    request: Request,
    fmt: str,
    view: str | None = None,
    *,
    path: str | None = None,
    query: str | None = None,
) -> str:
    """Return the strong ETag of one representation: data version, path, sorted query, format and view.

    ``path`` and ``query`` default to the request's own; ``view`` to the caller's (see :func:`view_of`).
    """
    path = request.url.path if path is None else path
    query = query_key(request) if query is None else query
    return strong_etag(f"{version}|{path}|{query}|{fmt}|{view or view_of(request)}")


def representation_etags(version: str, request: Request, path: str, formats: Iterable[str]) -> list[str]:
    """Return the ETags a plain ``GET path`` gives ``version`` in each format: the caller's view first, then public.

    A precondition is about the resource's version, not about who read it, so a tag read anonymously is
    accepted from a token holder too.
    """
    formats = list(formats)
    own = [make_etag(version, request, fmt, path=path, query="") for fmt in formats]
    return own + [make_etag(version, request, fmt, "public", path=path, query="") for fmt in formats]


def none_match(header: str | None, etag: str) -> bool:
    """Return whether an ``If-None-Match`` header holds ``etag`` (so the answer is 304).

    The comparison is weak (RFC 9110 section 13.1.2): ``W/`` prefixes are ignored; ``*`` matches any tag.

    Examples
    --------
    >>> none_match('W/"a", "b"', '"a"'), none_match("*", '"a"'), none_match('"b"', '"a"'), none_match(None, '"a"')
    (True, True, False, False)
    """
    tags = [tag.removeprefix("W/") for tag in split_list(header)]
    return "*" in tags or etag in tags


def check_if_match(header: str | None, current: Iterable[str]) -> None:
    """Check an ``If-Match`` header against the resource's current ETags (strong comparison).

    Raises
    ------
    VersionRequired
        When the header is missing or ``*`` (a write must name the version it changes; 428).
    StaleVersion
        When no listed tag is current; weak tags (``W/``) never match (412).
    """
    if header is None or header.strip() == "*":
        raise VersionRequired()
    if not set(split_list(header)) & set(current):
        raise StaleVersion("the feature changed since you read it: GET it again and retry with its new ETag")


def cache_headers(etag: str, vary: str | None = "Accept") -> dict[str, str]:
    """Return the validator and caching headers of a data response (``Vary`` omitted when None)."""
    headers = {"ETag": etag, "Cache-Control": REVALIDATE}
    if vary is not None:
        headers["Vary"] = vary
    return headers


def not_modified(headers: Mapping[str, str]) -> Response:
    """Return an empty 304 answer carrying ``headers``."""
    return Response(status_code=304, headers=dict(headers))


def conditional(request: Request, etag: str, build: Callable[[], Response]) -> Response:
    """Answer 304 when ``If-None-Match`` holds ``etag``; otherwise build the response and add cache headers."""
    if none_match(request.headers.get("if-none-match"), etag):
        return not_modified(cache_headers(etag))
    response = build()
    response.headers.update(cache_headers(etag))
    return response
