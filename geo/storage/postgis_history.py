"""The history, data versions and metadata of ``PostGISStore``: append-only reports and write counters.

Kept apart from ``postgis.py`` (connections, schema, layers) so each module stays readable; the mixin relies
on the store's ``_conn``, ``_s``, ``_t`` and ``_columns``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import psycopg
from psycopg.rows import TupleRow

from geo.errors import StaleVersion, UnknownFeature
from geo.storage.base import HISTORY_COLUMNS, HistoryEntry
from geo.storage.sqlfilter import _q

Connection = psycopg.Connection[TupleRow]

_HISTORY = ", ".join(_q(c) for c in HISTORY_COLUMNS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """Turn numpy scalars (which psycopg cannot bind) into Python ones."""
    return value.item() if isinstance(value, np.generic) else value


def _to_pg(value: Any, kind: str) -> Any:
    """Encode a value for a column of planmap type ``kind``."""
    value = _plain(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if kind == "bool":
        return bool(value)
    if kind == "date" and isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if kind in ("str", "datetime") else value


def _version(row: tuple[Any, ...] | None, prefix: str) -> str:
    """Format ``(uid JSON text, counter)`` as ``<uid>.<prefix><counter>`` (0 when there is none)."""
    uid = json.loads(row[0]) if row and row[0] else ""
    return f"{uid}.{prefix}{(row[1] if row else None) or 0}"


class PostGISHistory:
    """Mixin: progress history, per-layer and per-feature versions, and key/value metadata in PostgreSQL."""

    id_column = "id"
    _s: str

    if TYPE_CHECKING:

        def _conn(self, transaction: bool = False) -> AbstractContextManager[Connection]: ...
        def _t(self, table: str) -> str: ...
        def _columns(self, conn: Connection, layer: str) -> dict[str, str]: ...

    def history(
        self,
        layer: str | None = None,
        feature_ids: Sequence[str] | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Return history rows, oldest first (by date, then by the order they were recorded)."""
        parts: list[str] = ["TRUE"]
        params: list[Any] = []
        if layer is not None:
            parts.append("layer = %s")
            params.append(layer)
        if feature_ids is not None:
            parts.append("feature_id = ANY(%s)")
            params.append(list(feature_ids))
        if until is not None:
            parts.append('"date" <= %s')
            params.append(until)
        sql = f'SELECT {_HISTORY} FROM {self._s}.planmap_history WHERE {" AND ".join(parts)} ORDER BY "date", seq'
        with self._conn() as conn:
            frame = pd.DataFrame(conn.execute(sql, params).fetchall(), columns=list(HISTORY_COLUMNS))
        frame["is_demo"] = frame["is_demo"].astype(bool)
        return frame

    def _insert_history(self, conn: Connection, entries: Sequence[HistoryEntry]) -> None:
        now, names = _now(), HISTORY_COLUMNS[1:]
        with conn.cursor().copy(
            f"COPY {self._s}.planmap_history ({', '.join(_q(n) for n in names)}) FROM STDIN"
        ) as copy:
            for entry in entries:
                row = entry.to_row(now)
                row["is_demo"] = bool(row["is_demo"])
                copy.write_row([row[n] for n in names])

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append many entries in one transaction."""
        if not entries:
            return
        with self._conn(transaction=True) as conn:
            self._insert_history(conn, entries)
            for layer in sorted({e.layer for e in entries}):
                self._bump(conn, layer)

    def record_progress(
        self,
        entry: HistoryEntry,
        set_values: Mapping[str, Any],
        expected_version: str | None = None,
    ) -> str:
        """Append one report and update the feature's current state atomically (the feature row is locked)."""
        with self._conn(transaction=True) as conn:
            types = self._columns(conn, entry.layer)
            unknown = [c for c in set_values if c not in types or c == self.id_column]
            if unknown:
                raise ValueError(f"cannot set columns {unknown} of {entry.layer!r}")
            table, key = self._t(entry.layer), _q(self.id_column)
            locked = conn.execute(f"SELECT 1 FROM {table} WHERE {key} = %s FOR UPDATE", [entry.feature_id])
            if locked.fetchone() is None:
                raise UnknownFeature(f"no feature {entry.feature_id!r} in collection {entry.layer!r}")
            current = self._feature_version(conn, entry.layer, entry.feature_id)
            if expected_version is not None and expected_version != current:
                raise StaleVersion(
                    f"feature {entry.feature_id!r} changed: version is {current!r}, not {expected_version!r}"
                )
            if set_values:
                assign = ", ".join(f"{_q(c)} = %s" for c in set_values)
                values = [_to_pg(v, types[c]) for c, v in set_values.items()]
                conn.execute(f"UPDATE {table} SET {assign} WHERE {key} = %s", [*values, entry.feature_id])
            self._insert_history(conn, [entry])
            return self._bump(conn, entry.layer)

    # The dataset uid is read with every version, not kept from start-up: a schema rebuilt and swapped in
    # (``PostGISStore.rebuilding``) has a new uid, and every worker's versions (cache keys, ETags) change with it.
    def _uid_sql(self) -> str:
        return f"(SELECT value FROM {self._s}.planmap_meta WHERE key = 'dataset_uid')"

    def version(self, layer: str) -> str:
        """Return ``<dataset uid>.<write counter>`` for the layer."""
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {self._uid_sql()}, (SELECT version FROM {self._s}.planmap_versions WHERE layer = %s)",
                [layer],
            ).fetchone()
            if row is None or row[1] is None:
                self._columns(conn, layer)
        return _version(row, "")

    def feature_version(self, layer: str, feature_id: str) -> str:
        """Return ``<dataset uid>.f<last history seq>`` for the feature."""
        with self._conn() as conn:
            return self._feature_version(conn, layer, feature_id)

    def _feature_version(self, conn: Connection, layer: str, feature_id: str) -> str:
        row = conn.execute(
            f"SELECT {self._uid_sql()}, "
            f"(SELECT max(seq) FROM {self._s}.planmap_history WHERE layer = %s AND feature_id = %s)",
            [layer, feature_id],
        ).fetchone()
        return _version(row, "f")

    def _bump(self, conn: Connection, layer: str) -> str:
        row = conn.execute(
            f"INSERT INTO {self._s}.planmap_versions AS v (layer, version) VALUES (%s, 1) "
            f"ON CONFLICT (layer) DO UPDATE SET version = v.version + 1 RETURNING {self._uid_sql()}, version",
            [layer],
        ).fetchone()
        return _version(row, "")

    def get_meta(self, key: str) -> Any:
        """Return the JSON value stored under ``key``, or None."""
        with self._conn() as conn:
            row = conn.execute(f"SELECT value FROM {self._s}.planmap_meta WHERE key = %s", [key]).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""
        with self._conn() as conn:
            self._set_meta(conn, key, value)

    def _set_meta(self, conn: Connection, key: str, value: Any) -> None:
        conn.execute(
            f"INSERT INTO {self._s}.planmap_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, json.dumps(value, ensure_ascii=False)],
        )
