"""Layer versions read once per short interval per process, not once per request.

A cached tile or a 304 costs one version look-up; on PostgreSQL that is a round trip per request, which
is what limits how many cached answers a worker gives. Here a version read on the primary is reused for
``ttl_s`` seconds (a tenth of a second by default), so a burst of requests shares one round trip.

What stays exact:
- a write request, and every read of a client that wrote in the last minutes (its request names the
  position of its write, ``geo.storage.consistency``), read the version from the database;
- a write committed by this process forgets every cached version at once;
- another process's write is seen by the others within ``ttl_s``, as a client of a replica sees a write
  within the replica's lag.
Stores with replicas do not use it: a version must come from the database the request's reads are pinned to.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from geo.storage.consistency import current_scope


class _Seen:
    """The versions one process has read from one schema, and a counter of the writes it committed there."""

    def __init__(self) -> None:
        self.versions: dict[str, tuple[float, str]] = {}
        self.epoch = 0
        self.lock = threading.Lock()


_SHARED: dict[tuple[str, str], _Seen] = {}
_SHARED_LOCK = threading.Lock()


def _shared(key: tuple[str, str] | None) -> _Seen:
    if key is None:
        return _Seen()
    with _SHARED_LOCK:
        return _SHARED.setdefault(key, _Seen())


class VersionCache:
    """Versions by layer with the time they were read; ``ttl_s`` 0 reads every time.

    Caches with the same ``key`` (database and schema) share what they hold: a write committed through any
    store of this process that opened the same schema is seen at once by all of them.
    """

    def __init__(self, ttl_s: float, key: tuple[str, str] | None = None) -> None:
        self.ttl_s = ttl_s
        self._seen = _shared(key)

    def get(self, layer: str, read: Callable[[], str]) -> str:
        """Return the layer's version: the one read less than ``ttl_s`` ago, else ``read()``'s."""
        if self.ttl_s <= 0 or _must_read():
            return read()
        seen, now = self._seen, time.monotonic()
        found = seen.versions.get(layer)
        if found is not None and now - found[0] < self.ttl_s:
            return found[1]
        epoch = seen.epoch
        value = read()
        with seen.lock:
            if epoch == seen.epoch:  # no write of this process committed while it was read
                seen.versions[layer] = (now, value)
        return value

    def forget(self) -> None:
        """Drop every cached version (a write was committed)."""
        seen = self._seen
        with seen.lock:
            seen.epoch += 1
            seen.versions.clear()


def _must_read() -> bool:
    """Whether this request reads the current version: a write request, or a client that wrote recently."""
    scope = current_scope()
    return scope is not None and (scope.primary or scope.after is not None)
