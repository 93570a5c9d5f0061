"""The storage interface every planmap store implements (GeoPackage by default, PostGIS to scale out)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd
import shapely

from geo.errors import FeatureExists, StaleVersion, UnknownFeature
from geo.spatial_index import SpatialIndex, search_box
from geo.storage.consistency import ReplicaState
from geo.storage.generic import aggregate_frame, mvt_layer_from_frame, thin_frame
from geo.storage.values import (
    APPROVED_ON,
    HISTORY_COLUMNS,
    Aggregate,
    AuthEvent,
    FeatureWrite,
    Filter,
    Health,
    HistoryEntry,
    MvtTile,
    RecordPut,
    RecordRevision,
    ReportKey,
    SortKey,
    StoredRecord,
    StoredReply,
    StoredSession,
    StoredToken,
    StoredUser,
    WriteMode,
    page_total,
    tombstone_kind,
)
from geo.types import BBox

__all__ = [
    "APPROVED_ON",
    "HISTORY_COLUMNS",
    "Aggregate",
    "FeatureStore",
    "FeatureWrite",
    "Filter",
    "Health",
    "HistoryEntry",
    "MvtTile",
    "SortKey",
    "RecordPut",
    "RecordRevision",
    "ReportKey",
    "StoredRecord",
    "StoredReply",
    "StoredToken",
    "StoredSession",
    "StoredUser",
    "AuthEvent",
    "WriteMode",
    "check_layer_version",
    "check_new_feature",
    "check_settable",
    "check_version",
    "page_total",
    "tombstone_kind",
]


def check_settable(layer: str, set_values: Mapping[str, Any], types: Mapping[str, str], id_column: str) -> None:
    """Refuse a progress report that would set unknown columns or the id (``record_progress``'s rule)."""
    unknown = [c for c in set_values if c not in types or c == id_column]
    if unknown:
        raise ValueError(f"cannot set columns {unknown} of {layer!r}")


def check_new_feature(layer: str, feature_id: str, exists: bool, archived: bool) -> None:
    """Raise ``FeatureExists`` when a created feature's id is held now or was held by a deleted feature."""
    if exists:
        raise FeatureExists(f"collection {layer!r} has a feature {feature_id!r} already")
    if archived:
        raise FeatureExists(f"id {feature_id!r} was used by a deleted project of {layer!r}; ids are not reused")


def check_layer_version(layer: str, current: str, expected: str) -> None:
    """Raise ``StaleVersion`` when a whole-layer write expected another version of the layer."""
    if expected != current:
        raise StaleVersion(f"collection {layer!r} changed: version is {current!r}, not {expected!r}")


def check_version(entry: HistoryEntry, current: str, expected: str | None) -> None:
    """Raise ``StaleVersion`` when a report expected another version of its feature than ``current``."""
    if expected is not None and expected != current:
        raise StaleVersion(f"feature {entry.feature_id!r} changed: version is {current!r}, not {expected!r}")


class FeatureStore(ABC):
    """A store of feature layers, their progress history and their data versions.

    Layers are GeoDataFrames in CRS84 (lon/lat) with a unique string ``id`` column. Every write bumps the
    layer's data version in the same transaction, so a version names exactly one state of the layer.
    Use it as a context manager; ``close()`` releases connections.
    """

    id_column = "id"
    local_reads = False
    """True when a small read (a data version) is a local file read that never waits on a network: callers
    on an event loop may then make it in place instead of handing it to a thread."""

    def __enter__(self) -> FeatureStore:
        """Return the open store."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release connections and file handles."""

    @abstractmethod
    def layers(self) -> list[str]:
        """Return the ids of the feature layers held."""

    @abstractmethod
    def write_layer(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        mode: WriteMode = "replace",
        types: Mapping[str, str] | None = None,
        *,
        expected_version: str | None = None,
        history: Sequence[HistoryEntry] = (),
    ) -> None:
        """Create or replace a layer from a CRS84 GeoDataFrame with a unique ``id`` column.

        ``types`` declares planmap column types (str, int, float, bool, date, datetime, json) for named
        columns; undeclared columns are inferred from their values. The replace is atomic: readers see the
        old layer (and its version) or the new one. ``history`` entries are appended in the same
        transaction. With ``expected_version``, the write happens only if the layer is still at that
        version when the swap begins (else ``StaleVersion``, nothing written): a long import prepares
        without a lock and holds the layer only for the swap.
        """

    @abstractmethod
    def columns(self, layer: str) -> dict[str, str]:
        """Return the layer's attribute columns and their types (str, int, float, bool, date, json)."""

    @abstractmethod
    def read(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Return the matching features (CRS84), ordered by ``sortby`` then ``id``."""

    def read_records(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int | None = None,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, list[bytes | None]]:
        """Return what :meth:`read` returns as typed attribute columns and WKB geometries, none parsed.

        For exports that write geometries as text: stores override it to hand over the bytes they read.
        """
        frame = self.read(layer, where, limit=limit, sortby=sortby, columns=columns)
        wkb = shapely.to_wkb(np.asarray(frame.geometry.array, dtype=object), flavor="iso")
        return pd.DataFrame(frame.drop(columns=frame.geometry.name)), list(wkb)

    def read_page(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int,
        offset: int = 0,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> tuple[gpd.GeoDataFrame, int]:
        """Return one page of the matching features and how many match in all.

        A page that is shorter than ``limit`` and not empty ends the matches, so its length gives the total
        without counting; stores may override this to read page and count on one connection.
        """
        frame = self.read(layer, where, limit=limit, offset=offset, sortby=sortby, columns=columns)
        return frame, page_total(len(frame), limit, offset) or self.count(layer, where)

    def read_tile_candidates(
        self,
        layer: str,
        bbox: BBox,
        *,
        where: Filter | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        cell: float | None = None,
    ) -> gpd.GeoDataFrame:
        """Return the features whose envelope meets ``bbox`` (CRS84) for one tile, thinned and capped.

        With ``cell`` (degrees), only the largest feature per grid cell is kept; the result is ordered
        by envelope area, largest first, and cut to ``limit`` (see ``geo.storage.generic.thin_frame``).
        ``where`` adds the selection's other conditions; its own ``bbox`` is ignored. This default reads
        with ``read``; stores override it to choose rows in the database.
        """
        frame = self.read(layer, replace(where or Filter(), bbox=bbox), columns=columns)
        return thin_frame(frame, cell, limit)

    def nearest(
        self,
        layer: str,
        lon: float,
        lat: float,
        radius_m: float,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        geometry: bool = True,
    ) -> pd.DataFrame:
        """Return the features within ``radius_m`` geodesic metres of a WGS84 point, nearest first.

        Distances run to the nearest point of each geometry (0 inside a polygon). The frame has the
        requested ``columns`` (all by default), the geometry (a GeoDataFrame; a plain frame without it
        when ``geometry`` is False, which a list of projects near a phone does not need) and
        ``distance_m`` and ``bearing_deg`` (from the point toward that nearest point); ties are broken
        by ``id``. This default reads the search box and measures with ``geo.spatial_index.SpatialIndex``;
        stores override it to measure in the database or keep an index.
        """
        frame = self.read(layer, Filter(bbox=search_box(lon, lat, radius_m)), columns=columns, sortby=())
        hits = SpatialIndex(frame.geometry).within(lon, lat, radius_m)
        out = frame.iloc[hits.index].assign(distance_m=hits.distance_m, bearing_deg=hits.bearing_deg)
        out = out.sort_values(["distance_m", self.id_column], kind="stable").reset_index(drop=True)
        out = out.iloc[:limit] if limit is not None else out
        return out if geometry else pd.DataFrame(out.drop(columns=out.geometry.name))

    def mvt_layer(self, layer: str, tile: MvtTile, where: Filter | None = None) -> tuple[bytes, int]:
        """Return an MVT message holding one layer, and its feature count (``b""`` and 0 when none).

        The features are the tile's candidates (``read_tile_candidates`` with the tile's box, cell and
        cap; ``where``'s own bbox is ignored), projected to the tile, generalised, clipped and encoded with
        the tile's properties (NULLs left out). MVT messages of single layers concatenate into one tile.
        This default encodes in Python; stores override it to encode in the database.
        """
        frame = self.read_tile_candidates(
            layer, tile.bbox, where=where, columns=list(tile.properties), limit=tile.limit, cell=tile.cell
        )
        return mvt_layer_from_frame(frame, tile)

    def aggregate(self, layer: str, spec: Aggregate, where: Filter | None = None) -> pd.DataFrame:
        """Return one row per group of ``spec.by`` with ``count`` and the sums ``spec`` names.

        NULL group values form their own group; NULL or non-numeric values add 0 to a sum. This
        default reads the columns and groups in pandas; stores override it to aggregate in the database.
        """
        frame = self.read(layer, where, columns=spec.columns())
        return aggregate_frame(frame, spec)

    @abstractmethod
    def health(self) -> Health:
        """Return whether the store can be read and written now (schema complete, file or server reachable)."""

    def replicas(self) -> list[ReplicaState]:
        """Return the state of each read replica (the PostGIS store's; none by default)."""
        return []

    @abstractmethod
    def reset(self, *, confirm: bool = False) -> None:
        """Drop every layer, the whole append-only history and the metadata; ``confirm`` must be True.

        The store gets a new dataset uid, so versions never repeat across a reset."""

    @abstractmethod
    def meta_keys(self) -> list[str]:
        """Return the keys of the stored metadata values, sorted."""

    @abstractmethod
    def load_history(self, rows: pd.DataFrame) -> None:
        """Copy ``history()`` rows into an empty history, keeping ``seq``, dates, authors and ``recorded_at``."""

    @abstractmethod
    def count(self, layer: str, where: Filter | None = None) -> int:
        """Return how many features match."""

    def get(self, layer: str, feature_id: str) -> gpd.GeoDataFrame:
        """Return the one feature with this id; raise ``UnknownFeature`` when there is none."""
        frame = self.read(layer, Filter(ids=[feature_id]), limit=1)
        if frame.empty:
            raise UnknownFeature(f"no feature {feature_id!r} in collection {layer!r}")
        return frame

    @abstractmethod
    def bounds(self, layer: str) -> BBox | None:
        """Return the layer's extent in CRS84, or None when it is empty."""

    @abstractmethod
    def history(
        self,
        layer: str | None = None,
        feature_ids: Sequence[str] | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Return progress-history rows (``HISTORY_COLUMNS``), oldest first, optionally up to a date.

        With ``until``, an entry counts only from the day it exists: its ``date`` and, for a reviewed
        report, its ``data.approved_on`` (``APPROVED_ON``) must both be on or before ``until``.
        """

    @abstractmethod
    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append history entries in one transaction (bulk load); bumps the versions of the layers touched."""

    @abstractmethod
    def record_progress(
        self,
        entry: HistoryEntry,
        set_values: Mapping[str, Any],
        expected_version: str | None = None,
        key: ReportKey | None = None,
        record: RecordPut | None = None,
    ) -> str:
        """Append ``entry`` and set the feature's current attributes in one transaction.

        With ``key`` the report's idempotency key is stored in the same transaction (unique per layer).
        ``record`` is a document change made in the same transaction (an approved review's status), so
        the report counts exactly when its review says so. Raises ``DuplicateRequest`` when the key is
        recorded already (checked before the version, so a retry of a recorded report never becomes a
        second entry), ``StaleVersion`` when ``expected_version`` is given and no longer the feature's
        version (or ``record`` is not at its expected version), and ``UnknownFeature`` when the feature
        does not exist. Returns the layer's new data version.
        """

    @abstractmethod
    def create_feature(self, write: FeatureWrite) -> str:
        """Insert a new feature and append its history entry in one transaction.

        Raises ``FeatureExists`` when the id is held by a feature or by an archived deleted one
        (``tombstone_kind``), and ``ValueError`` for columns the layer lacks. The spatial index and the
        layer's extent follow the insert. Returns the layer's new data version.
        """

    @abstractmethod
    def replace_feature(self, write: FeatureWrite, expected_version: str) -> str:
        """Set every given attribute and the geometry of a feature, appending its history entry, atomically.

        Raises ``UnknownFeature`` and ``StaleVersion`` (the feature is no longer at ``expected_version``),
        as ``record_progress`` does. Returns the layer's new data version.
        """

    @abstractmethod
    def delete_feature(self, entry: HistoryEntry, expected_version: str, archive: Mapping[str, Any]) -> str:
        """Remove a feature from its layer, archive ``archive`` and append ``entry``, in one transaction.

        The feature's history stays; ``archive`` (the deleted feature as GeoJSON) is stored as the document
        ``tombstone_kind(layer)``/``feature_id``, which keeps the id from being used again. Raises
        ``UnknownFeature`` and ``StaleVersion``. Returns the layer's new data version.
        """

    @abstractmethod
    def report_reply(self, layer: str, key: str) -> StoredReply | None:
        """Return the report recorded under idempotency key ``key`` in ``layer`` (and its answer), or None."""

    @abstractmethod
    def save_reply(self, layer: str, key: str, response: Mapping[str, Any]) -> StoredReply:
        """Keep ``response`` as the first answer to key ``key`` unless one is kept already; return what is kept."""

    @abstractmethod
    def version(self, layer: str) -> str:
        """Return the layer's data version: an opaque string that changes on every write."""

    @abstractmethod
    def feature_version(self, layer: str, feature_id: str) -> str:
        """Return one feature's version: changes whenever that feature is written."""

    @abstractmethod
    def get_meta(self, key: str) -> Any:
        """Return a JSON metadata value stored under ``key``, or None."""

    @abstractmethod
    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON metadata value under ``key``."""

    @abstractmethod
    def add_token(self, token: StoredToken) -> None:
        """Store an access token (its hash) as its user's one live token, revoking the previous one atomically."""

    @abstractmethod
    def revoke_tokens(self, user: str) -> int:
        """Revoke the user's live tokens in one statement; return how many were revoked."""

    @abstractmethod
    def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        """Return the live access tokens (all with ``include_revoked``), by user."""

    @abstractmethod
    def token_by_hash(self, sha256: str) -> StoredToken | None:
        """Return the live access token with this hex SHA-256, or None."""

    @abstractmethod
    def add_user(self, user: StoredUser, event: AuthEvent | None = None) -> None:
        """Create an account and log ``event``, in one transaction; ``UserExists`` when the name is taken."""

    @abstractmethod
    def user(self, name: str) -> StoredUser | None:
        """Return the account, or None."""

    @abstractmethod
    def users(self) -> list[StoredUser]:
        """Return every account, by user name."""

    @abstractmethod
    def update_user(self, user: StoredUser, *, end_access: bool = False, event: AuthEvent | None = None) -> None:
        """Overwrite an account (``UnknownUser`` when there is none) in one transaction.

        With ``end_access`` its sessions are revoked too, and its tokens when the account is now disabled.
        """

    @abstractmethod
    def add_session(self, session: StoredSession, clear: Sequence[str] = (), event: AuthEvent | None = None) -> None:
        """Store a browser session, forget the failures under ``clear`` and log ``event``, in one transaction."""

    @abstractmethod
    def session_by_hash(self, sha256: str) -> StoredSession | None:
        """Return the live session whose id has this SHA-256, or None."""

    @abstractmethod
    def touch_session(self, sha256: str, seen_s: float) -> None:
        """Record that the session was used at ``seen_s`` (epoch seconds)."""

    @abstractmethod
    def end_session(self, sha256: str, at_s: float) -> None:
        """Revoke one session."""

    @abstractmethod
    def revoke_sessions(self, user: str, at_s: float, event: AuthEvent | None = None) -> int:
        """Revoke every session of ``user`` and log ``event`` in one transaction; return how many."""

    @abstractmethod
    def note_failures(
        self, keys: Sequence[str], at_s: float, forget_after_s: float, event: AuthEvent | None = None
    ) -> list[int]:
        """Count a failed sign-in under each key (anew after ``forget_after_s`` quiet seconds) and log ``event``."""

    @abstractmethod
    def failures(self, keys: Sequence[str]) -> dict[str, tuple[int, float]]:
        """Return ``(count, time of the last failure)`` for each key with failures."""

    @abstractmethod
    def clear_failures(self, keys: Sequence[str]) -> None:
        """Forget the failures counted under these keys."""

    @abstractmethod
    def log_auth_event(self, event: AuthEvent) -> None:
        """Append one line to the access log (append-only)."""

    @abstractmethod
    def auth_events(self, limit: int = 100, offset: int = 0) -> list[AuthEvent]:
        """Return access-log lines, newest first."""

    @abstractmethod
    def record(self, kind: str, key: str) -> StoredRecord | None:
        """Return the live document ``kind``/``key`` (e.g. ``plan``/``2025``), or None."""

    @abstractmethod
    def records(self, kind: str) -> list[StoredRecord]:
        """Return the live documents of ``kind``, by key."""

    @abstractmethod
    def put_record(
        self, kind: str, key: str, doc: Mapping[str, Any], *, expected_version: int | None, author: str
    ) -> StoredRecord:
        """Create a document (``expected_version`` None) or change the one at ``expected_version``, with its revision.

        Raises ``RecordExists`` (create of a key that exists), ``UnknownRecord`` or ``StaleVersion``.
        """

    @abstractmethod
    def delete_record(self, kind: str, key: str, *, expected_version: int, author: str) -> None:
        """Delete the document at ``expected_version``; its revisions stay.

        Raises ``UnknownRecord`` or ``StaleVersion``.
        """

    @abstractmethod
    def record_revisions(self, kind: str | None, key: str | None = None) -> list[RecordRevision]:
        """Return every revision of a document (of every document of ``kind`` when ``key`` is None; of all
        documents when ``kind`` is None too), oldest first."""
