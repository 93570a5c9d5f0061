"""Values the storage interface passes around: selections, sort keys, history entries, aggregates, tiles.

A leaf module: it imports nothing from the rest of ``geo.storage``, so every store package, the SQL
renderer and ``layers`` can share these types without import circles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from shapely.geometry.base import BaseGeometry

from geo.types import BBox

if TYPE_CHECKING:
    from geo.tms import TileGrid

HISTORY_COLUMNS = (
    "seq",
    "layer",
    "feature_id",
    "date",
    "status",
    "percent",
    "note",
    "author",
    "recorded_at",
    "data",
    "is_demo",
)
"""Columns of the append-only progress history, in order."""

WriteMode = Literal["create", "replace"]

BEFORE = "before"
"""Name of the group column ``Aggregate.before`` adds."""


@dataclass(frozen=True)
class Filter:
    """Which features to read: every given condition must hold (AND).

    Attributes
    ----------
    bbox : (minx, miny, maxx, maxy) in CRS84, or None. Features whose geometry intersects it.
    intersects : a CRS84 geometry, or None. Features whose geometry intersects it.
    equals : column -> value, or column -> sequence of values (IN).
    cql : a CQL2-JSON expression (dict), or None, already checked against the layer's queryables.
    ids : feature ids, or None.
    """

    bbox: BBox | None = None
    intersects: BaseGeometry | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    cql: Mapping[str, Any] | None = None
    ids: Sequence[str] | None = None


@dataclass(frozen=True)
class SortKey:
    """One ``sortby`` term: a column and a direction."""

    column: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One progress report, as appended to the history (never updated or deleted).

    ``data`` carries layer-specific measurements (e.g. a water section's monthly readings) as JSON.
    """

    layer: str
    feature_id: str
    date: date
    status: str
    percent: float | None = None
    note: str = ""
    author: str = ""
    data: Mapping[str, Any] | None = None
    is_demo: bool = False

    def to_row(self, recorded_at: str) -> dict[str, Any]:
        """Return the entry as a history-table row (without ``seq``)."""
        return {
            "layer": self.layer,
            "feature_id": self.feature_id,
            "date": self.date.isoformat(),
            "status": self.status,
            "percent": self.percent,
            "note": self.note,
            "author": self.author,
            "recorded_at": recorded_at,
            "data": json.dumps(self.data, ensure_ascii=False) if self.data is not None else None,
            "is_demo": int(self.is_demo),
        }


def tombstone_kind(layer: str) -> str:
    """Return the record kind under which a layer's deleted features are archived (``deleted-feature:<layer>``).

    Examples
    --------
    >>> tombstone_kind("farmland")
    'deleted-feature:farmland'
    """
    return f"deleted-feature:{layer}"


@dataclass(frozen=True)
class FeatureWrite:
    """One feature written by an edit: its attribute values (the id included) and its CRS84 geometry.

    The history ``entry`` is appended in the same transaction; it names the layer and the feature.
    """

    entry: HistoryEntry
    values: Mapping[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class Aggregate:
    """What to aggregate: groups, and sums of products of numeric columns.

    Attributes
    ----------
    by : the group columns (NULL is a group of its own).
    sums : output name -> the columns whose product is summed (NULL or non-numeric counts as 0).
    clip : column -> (low, high) bounds applied to its values before multiplying.
    before : (column, value): adds the boolean group column ``before`` = column < value (NULL: False).
    """

    by: tuple[str, ...] = ()
    sums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    clip: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    before: tuple[str, Any] | None = None

    def columns(self) -> list[str]:
        """Return every column the aggregate reads."""
        names = [*self.by, *(c for cols in self.sums.values() for c in cols)]
        if self.before is not None:
            names.append(self.before[0])
        return list(dict.fromkeys(names))

    def group_columns(self) -> list[str]:
        """Return the group columns of the result (``by`` then ``before`` when set)."""
        return [*self.by, *([BEFORE] if self.before is not None else [])]


@dataclass(frozen=True)
class MvtTile:
    """One vector-tile layer to make (``FeatureStore.mvt_layer``).

    Attributes
    ----------
    name : the MVT layer name.
    bbox : the buffered tile box in CRS84: candidates are the features whose envelope meets it.
    grid : the tile (matrix set, zoom, column, row) and its bounds in the matrix set's CRS.
    properties : the columns written as feature properties (NULLs left out).
    cell, limit : thinning grid cell (degrees) and feature cap, as for ``read_tile_candidates``.
    extent, buffer : tile units per side and kept outside each edge.
    """

    name: str
    bbox: BBox
    grid: TileGrid
    properties: tuple[str, ...]
    cell: float | None = None
    limit: int | None = None
    extent: int = 4096
    buffer: int = 64


@dataclass(frozen=True)
class Health:
    """Whether a store can be read and written now, and what stops it (``FeatureStore.health``)."""

    readable: bool
    writable: bool
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredToken:
    """One stored token: its SHA-256 (hex), owner, role, counties, creation and revocation times (ISO UTC)."""

    sha256: str
    user: str
    role: str
    counties: tuple[str, ...] = ()
    created_at: str = ""
    revoked_at: str | None = None

    def row(self) -> tuple[Any, ...]:
        """Return the values in table column order (counties comma-joined: they are 6-digit codes)."""
        return (self.sha256, self.user, self.role, ",".join(self.counties), self.created_at, self.revoked_at)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> StoredToken:
        """Build a token from a row in table column order."""
        sha256, user, role, counties, created_at, revoked_at = row
        return cls(sha256, user, role, tuple(c for c in counties.split(",") if c), created_at, revoked_at)


@dataclass(frozen=True)
class StoredRecord:
    """A document edited in planmap (e.g. a plan): its kind, key, version and JSON content."""

    kind: str
    key: str
    version: int
    doc: Mapping[str, Any]
    updated_at: str = ""
    updated_by: str = ""


@dataclass(frozen=True)
class RecordPut:
    """A document change written in the same transaction as a progress report (e.g. a review decided).

    ``expected_version`` None creates the document; otherwise the change is made from that version.
    """

    kind: str
    key: str
    doc: Mapping[str, Any]
    expected_version: int | None
    author: str


APPROVED_ON = "approved_on"
"""History ``data`` key of a reviewed report: the day it was approved, from which on replays see it."""


@dataclass(frozen=True)
class RecordRevision:
    """One version a document had: ``action`` is ``create``, ``update`` or ``delete`` (``doc`` None)."""

    seq: int
    kind: str
    key: str
    version: int
    action: str
    doc: Mapping[str, Any] | None
    author: str
    recorded_at: str


def page_total(returned: int, limit: int, offset: int) -> int | None:
    """Return the number of matches implied by a page, or None when only a count can tell.

    Examples
    --------
    >>> page_total(7, 100, 0), page_total(7, 100, 200), page_total(100, 100, 0), page_total(0, 100, 0)
    (7, 207, None, None)
    """
    return offset + returned if 0 < returned < limit else None


@dataclass(frozen=True)
class StoredUser:
    """An account: login name, display name, phone, role, counties, argon2id hash (None: no browser sign-in)."""

    user: str
    display_name: str
    role: str
    counties: tuple[str, ...] = ()
    phone: str | None = None
    password_hash: str | None = None
    created_at: str = ""
    disabled_at: str | None = None


@dataclass(frozen=True)
class StoredSession:
    """A browser session: the SHA-256 of its id, its user, CSRF token, times (epoch seconds) and client address."""

    sha256: str
    user: str
    csrf_token: str
    created_s: float
    seen_s: float
    address: str = ""
    revoked_s: float | None = None


@dataclass(frozen=True)
class AuthEvent:
    """One line of the access log: when (epoch seconds), what, who and from where."""

    seq: int
    at_s: float
    event: str
    user: str | None
    address: str | None
    detail: str | None


@dataclass(frozen=True)
class ReportKey:
    """A report's ``Idempotency-Key`` with the fingerprint of the request it came with and its author."""

    key: str
    request_hash: str
    author: str


@dataclass(frozen=True)
class StoredReply:
    """A report recorded under an idempotency key: which request, which history entry, and the first answer."""

    layer: str
    key: str
    feature_id: str
    request_hash: str
    seq: int
    author: str
    created_at: str
    response: dict[str, Any] | None = None
