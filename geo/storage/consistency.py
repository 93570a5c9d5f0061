"""Read consistency across a primary database and its replicas, scoped to one request.

A server opens a :func:`read_scope` around each request. A write request reads from the primary, so its
version checks and idempotency lookups see the latest data. A read request names the write position its
client last saw, so a client reads its own writes. A store with replicas records where the writes it makes
end (``ReadScope.wrote``) for the server to hand back to the client, and pins a request's reads to one
database, so a data version and the data read after it never come from two databases. Stores without
replicas ignore the scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

POSITION = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", re.IGNORECASE)
"""A write position: a PostgreSQL WAL LSN as ``pg_current_wal_lsn()::text`` writes it."""

PRIMARY = "primary"
"""``ReadScope.source`` of reads answered by the primary."""


@dataclass
class ReadScope:
    """What one request's reads need and what its writes left behind.

    Attributes
    ----------
    primary : read from the primary (a write request).
    after : the write position (a PostgreSQL LSN such as ``0/3000148``) the reads must see, or None; the
        store moves it past the request's own writes.
    wrote : set by the store: the position after this request's writes, or None when it wrote nothing.
    source : set by the store: the database this request's reads were pinned to (``PRIMARY`` or a replica).
    """

    primary: bool = False
    after: str | None = None
    wrote: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class ReplicaState:
    """One read replica as a store sees it: in use or not, reads it answered, the replay position last seen."""

    name: str
    up: bool
    reads: int
    replayed: str | None


_SCOPE: ContextVar[ReadScope | None] = ContextVar("planmap_read_scope", default=None)


@contextmanager
def read_scope(*, primary: bool = False, after: str | None = None) -> Iterator[ReadScope]:
    """Scope the reads and writes made in this context to one request (copied contexts share the scope).

    Examples
    --------
    >>> with read_scope(after="0/3000148") as scope:
    ...     current_scope() is scope
    True
    >>> current_scope() is None
    True
    """
    scope = ReadScope(primary=primary, after=after)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> ReadScope | None:
    """Return the request's scope, or None outside any (a command, a notebook)."""
    return _SCOPE.get()
