"""PostGISStore: the scale-out store, one PostgreSQL schema holding the layers, their history and versions.

Its answers match ``GeoPackageStore`` for the same data: text columns use ``COLLATE "C"`` (byte order, like
SQLite), NULLs sort first ascending as in SQLite, dates come back as ISO strings and JSON as parsed values.
Versions live in the database, so every server worker sees the same ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from typing import Any

import pandas as pd
import psycopg

import geopandas as gpd
import shapely

from geo.storage.base import FeatureStore, check_layer_version
from geo.storage.codec import EncodedLayer, frame_from_rows, prepare_layer, read_columns, records_from_rows
from geo.storage.consistency import ReplicaState
from geo.storage.postgis import admin, edits, native
from geo.storage.postgis import history as history_rows
from geo.storage.postgis import tokens as token_rows
from geo.storage.postgis.database import Connection, Database, check_identifier
from geo.storage.postgis.dialect import POSTGIS
from geo.storage.sql import Params, render_where
from geo.storage.sql import quote_ident as q
from geo.storage.sql.accounts import AccountSQL, AccountVerbs
from geo.storage.sql.records import RecordSQL
from geo.storage.sql.replies import ReplySQL
from geo.storage.values import (
    Aggregate,
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
    StoredToken,
    WriteMode,
)
from geo.types import BBox

_GEOM = "geom"
_PG_TYPES = {
    "str": 'text COLLATE "C"',
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "date": "date",
    "datetime": 'text COLLATE "C"',  # ISO text, exactly as the GeoPackage holds it
    "json": "jsonb",
}
_EXTENT = "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM {table}) AS x"


class PostGISStore(AccountVerbs, FeatureStore):
    """A FeatureStore in one PostgreSQL/PostGIS schema.

    Each layer is a table (``fid`` bigserial, unique ``id``, typed columns, ``geom geometry(Geometry, 4326)``
    with a GiST index). Layers are replaced atomically: COPY into a staging table, then drop and rename in
    the same transaction. The history is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE).

    Parameters
    ----------
    dsn : a libpq connection string or ``postgresql://`` URL.
    schema : the schema holding planmap's tables; created, with the PostGIS extension, when missing.
    pool_size : the most connections held open.
    timeout : seconds to wait for a connection before raising ``StoreUnavailable``.
    replicas : DSNs of streaming replicas of the database. Reads go to them and writes, and every read of a
        write request, to the primary (``geo.storage.postgis.replicas``); a client reads its own writes
        through ``geo.storage.consistency``.
    replica_wait_s : longest wait for a replica to replay a write a read must see before reading the primary.
    version_ttl_s : how long a layer version is reused by this process (``geo.storage.postgis.versions``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "planmap",
        pool_size: int = 4,
        timeout: float = 10.0,
        replicas: Sequence[str] = (),
        replica_wait_s: float = 0.5,
        version_ttl_s: float = 0.0,
    ) -> None:
        self._db = Database(
            dsn,
            schema=schema,
            pool_size=pool_size,
            timeout=timeout,
            replicas=replicas,
            replica_wait_s=replica_wait_s,
            version_ttl_s=version_ttl_s,
        )
        self._accounts = AccountSQL(f"{self._db.s}.", "%s")
        self._records = RecordSQL(f"{self._db.s}.", "%s")
        self._replies = ReplySQL(f"{self._db.s}.", "%s")
        self.schema = schema

    def close(self) -> None:
        """Close the connection pool."""
        self._db.close()

    def layers(self) -> list[str]:
        """Return the layer tables (those with registered columns), sorted."""
        sql = (
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = %s AND c.relkind = 'r' AND EXISTS (SELECT 1 FROM {self._db.s}.planmap_meta m "
            "WHERE m.key = 'columns:' || c.relname) ORDER BY c.relname"
        )
        with self._db.read() as conn:
            return [r[0] for r in conn.execute(sql, [self.schema])]

    def columns(self, layer: str) -> dict[str, str]:
        """Return the layer's attribute columns and planmap types."""
        with self._db.read() as conn:
            return self._db.columns(conn, layer)

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
        """Write a layer with COPY into a staging table, then swap it in within the same transaction.

        The layer's history entries are appended and its version checked in that transaction too.
        """
        check_identifier(layer, "layer")
        if layer.startswith("planmap_"):
            raise ValueError(f"layer names starting with 'planmap_' are reserved: {layer!r}")
        encoded = prepare_layer(frame, self.id_column, types)
        column_types = encoded.types
        for name in column_types:
            check_identifier(name, "column")
            if name in ("fid", _GEOM):
                raise ValueError(f"column name {name!r} is reserved")
        stage = f"planmap_stage_{uuid.uuid4().hex}"
        db = self._db
        with db.conn(transaction=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}:{layer}"])
            if mode == "create" and conn.execute("SELECT to_regclass(%s)", [db.t(layer)]).fetchone() != (None,):
                raise ValueError(f"collection {layer!r} exists already")
            self._load(conn, stage, encoded, column_types)
            extent = conn.execute(_EXTENT.format(table=db.t(stage))).fetchone()
            if conn.execute("SELECT to_regclass(%s)", [db.t(layer)]).fetchone() != (None,):
                # From here progress reports wait (readers do not): none can land in the table being replaced.
                conn.execute(f"LOCK TABLE {db.t(layer)} IN SHARE ROW EXCLUSIVE MODE")
            if expected_version is not None:
                check_layer_version(layer, history_rows.layer_version(db, conn, layer), expected_version)
            # Readers keep seeing the old table until this transaction commits.
            conn.execute(f"DROP TABLE IF EXISTS {db.t(layer)}")
            conn.execute(f"ALTER TABLE {db.t(stage)} RENAME TO {q(layer)}")
            native.build_overview(db, conn, layer)
            db.set_meta(conn, f"columns:{layer}", column_types)
            db.set_meta(conn, f"extent:{layer}", None if extent is None or extent[0] is None else list(extent))
            history_rows.insert(db, conn, history)
            db.bump(conn, layer, geometry=True)

    def _load(self, conn: Connection, table: str, encoded: EncodedLayer, types: dict[str, str]) -> None:
        """Create ``table``, COPY the encoded layer into it a slice at a time, then index and analyse it."""
        dims = "GeometryZ" if shapely.has_z(encoded.frame.geometry.to_numpy()).any() else "Geometry"
        columns = "".join(f"{q(n)} {_PG_TYPES[k]}, " for n, k in types.items())
        target = self._db.t(table)
        conn.execute(f"CREATE TABLE {target} (fid bigserial PRIMARY KEY, {columns}{_GEOM} geometry({dims}, 4326))")
        names = ", ".join(q(n) for n in [*types, _GEOM])
        try:
            with conn.cursor().copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for part in encoded.slices():
                    # Binary EWKB then bytes.hex() is about 3x faster than shapely's own hex output.
                    wkb = shapely.to_wkb(shapely.set_srid(part.geometry.to_numpy(), 4326), include_srid=True)
                    geoms = [None if b is None else b.hex() for b in wkb]
                    values = [part[n].astype(object).where(part[n].notna(), None).tolist() for n in types]
                    for row in zip(*values, geoms, strict=True):
                        copy.write_row(row)
        except psycopg.DataError as exc:
            raise ValueError(f"a value cannot be stored in PostgreSQL (e.g. a NUL character in text): {exc}") from exc
        conn.execute(f"CREATE UNIQUE INDEX ON {target} ({q(self.id_column)})")
        conn.execute(f"CREATE INDEX ON {target} USING gist ({_GEOM})")
        conn.execute(f"ANALYZE {target}")

    def _select(
        self,
        layer: str,
        where: Filter | None,
        sortby: Sequence[SortKey],
        columns: Sequence[str] | None,
        types: Any,
        offset: int = 0,
    ) -> tuple[str, str, list[str], Params]:
        """Return the page query (``limit``/``offset`` parameters unset), its count query, columns and parameters.

        No OFFSET clause for the first page: keyset paging (``id > last``, as exports page) never sends one.
        """
        wanted = read_columns(columns, types, self.id_column)
        p = POSTGIS.params()
        cond = render_where(where, types, dialect=POSTGIS, params=p, layer=layer)
        clause = f" WHERE {cond}" if cond else ""
        table = self._db.t(layer)
        select = ", ".join(q(c) for c in wanted)
        page = f"SELECT {select}, ST_AsBinary({_GEOM}) FROM {table}{clause}{POSTGIS.order_by(sortby, types)}"
        skip = " OFFSET %(offset)s" if offset else ""
        return f"{page} LIMIT %(limit)s{skip}", f"SELECT count(*) FROM {table}{clause}", wanted, p

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
        """Return the matching features, using the GiST index for spatial conditions."""
        with self._db.read() as conn:
            types = self._db.columns(conn, layer)
            sql, _, wanted, p = self._select(layer, where, sortby, columns, types, offset)
            rows = conn.execute(sql, {**p.values, "limit": limit, "offset": offset}).fetchall()
        return frame_from_rows(rows, wanted, types)

    def read_records(
        self,
        layer: str,
        where: Filter | None = None,
        *,
        limit: int | None = None,
        sortby: Sequence[SortKey] = (),
        columns: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, list[bytes | None]]:
        """Return the matching features as typed attribute columns and WKB geometries, none parsed."""
        with self._db.read() as conn:
            types = self._db.columns(conn, layer)
            sql, _, wanted, p = self._select(layer, where, sortby, columns, types)
            rows = conn.execute(sql, {**p.values, "limit": limit}).fetchall()
        return records_from_rows(rows, wanted, types)

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
        """Return a page and the number of matches from one pipelined round trip.

        Page and count are sent together, so the server counts while the page is decoded here.
        """
        with self._db.read() as conn:
            types = self._db.columns(conn, layer)
            sql, count_sql, wanted, p = self._select(layer, where, sortby, columns, types, offset)
            with conn.pipeline():
                page = conn.execute(sql, {**p.values, "limit": limit, "offset": offset})
                count = conn.execute(count_sql, p.values)
                frame = frame_from_rows(page.fetchall(), wanted, types)
                row = count.fetchone()
        return frame, int(row[0]) if row else 0

    def count(self, layer: str, where: Filter | None = None) -> int:
        """Return the number of matching features."""
        with self._db.read() as conn:
            types = self._db.columns(conn, layer)
            _, count_sql, _, p = self._select(layer, where, (), None, types)
            row = conn.execute(count_sql, p.values).fetchone()
        return int(row[0]) if row else 0

    def bounds(self, layer: str) -> BBox | None:
        """Return the extent recorded when the layer was written (geometries change only then)."""
        with self._db.read() as conn:
            self._db.columns(conn, layer)
            sql = f"SELECT value FROM {self._db.s}.planmap_meta WHERE key = %s"
            row = conn.execute(sql, [f"extent:{layer}"]).fetchone()
            extent = json.loads(row[0]) if row else None
            if extent is None:
                extent = conn.execute(_EXTENT.format(table=self._db.t(layer))).fetchone()
        return None if extent is None or extent[0] is None else (extent[0], extent[1], extent[2], extent[3])

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
        """Choose the tile's rows in SQL on the GiST index (from the overview at low zooms)."""
        return native.tile_candidates(self._db, layer, bbox, where, columns, limit, cell)

    def mvt_layer(self, layer: str, tile: MvtTile, where: Filter | None = None) -> tuple[bytes, int]:
        """Make the layer with ST_AsMVT where the tile's CRS has an EPSG code PostGIS knows; else in Python."""
        made = native.mvt_layer(self._db, layer, tile, where)
        return made if made is not None else super().mvt_layer(layer, tile, where)

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
        """Measure on the spheroid in SQL, KNN-bounded (see ``geo.storage.postgis.native.nearest``)."""
        frame = native.nearest(self._db, layer, lon, lat, radius_m, limit, columns)
        return frame if geometry else pd.DataFrame(frame.drop(columns=frame.geometry.name))

    def aggregate(self, layer: str, spec: Aggregate, where: Filter | None = None) -> pd.DataFrame:
        """Count and sum per group with one GROUP BY query."""
        return native.aggregate(self._db, layer, spec, where)

    def history(
        self,
        layer: str | None = None,
        feature_ids: Sequence[str] | None = None,
        until: date | None = None,
    ) -> pd.DataFrame:
        """Return history rows, oldest first (by date, then by the order they were recorded)."""
        return history_rows.history(self._db, layer, feature_ids, until)

    def append_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Append many entries in one transaction."""
        history_rows.append(self._db, entries)

    def record_progress(
        self,
        entry: HistoryEntry,
        set_values: Mapping[str, Any],
        expected_version: str | None = None,
        key: ReportKey | None = None,
        record: RecordPut | None = None,
    ) -> str:
        """Append one report (and its key), update the feature's state (row locked) and write ``record``, atomically."""
        return history_rows.record_progress(
            self._db, self._replies, self._records, entry, set_values, expected_version, key, record
        )

    def report_reply(self, layer: str, key: str) -> StoredReply | None:
        """Return the report recorded under ``key`` in ``layer``, or None."""
        with self._db.conn() as conn:  # on the primary: a retried report must find its first answer
            return self._replies.get(conn, layer, key)

    def save_reply(self, layer: str, key: str, response: Mapping[str, Any]) -> StoredReply:
        """Keep the first answer to ``key``; return the kept one."""
        with self._db.conn(transaction=True) as conn:
            return self._replies.save_response(conn, layer, key, response)

    def create_feature(self, write: FeatureWrite) -> str:
        """Insert the feature and its history entry in one transaction (extent and overview follow)."""
        return edits.create(self._db, self._records, write)

    def replace_feature(self, write: FeatureWrite, expected_version: str) -> str:
        """Check the feature's version (row locked), set its attributes and geometry and append the entry."""
        return edits.replace(self._db, write, expected_version)

    def delete_feature(self, entry: HistoryEntry, expected_version: str, archive: Mapping[str, Any]) -> str:
        """Check the version (row locked), archive the feature, delete its row and append the entry."""
        return edits.delete(self._db, self._records, entry, expected_version, archive)

    def version(self, layer: str) -> str:
        """Return ``<dataset uid>.<write counter>`` for the layer (reused briefly: ``version_ttl_s``)."""
        return self._db.versions.get(layer, lambda: history_rows.version(self._db, layer))

    def feature_version(self, layer: str, feature_id: str) -> str:
        """Return ``<dataset uid>.f<last history seq>`` for the feature."""
        return history_rows.feature_version(self._db, layer, feature_id)

    def get_meta(self, key: str) -> Any:
        """Return the JSON value stored under ``key``, or None."""
        return history_rows.get_meta(self._db, key)

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""
        with self._db.conn(transaction=True) as conn:
            self._db.set_meta(conn, key, value)

    def health(self) -> Health:
        """Check the server answers, the schema is complete and the database accepts writes."""
        return self._db.health()

    def replicas(self) -> list[ReplicaState]:
        """Return the state of each replica reads may go to (none without replicas)."""
        return [] if self._db.router is None else self._db.router.state()

    def add_token(self, token: StoredToken) -> None:
        """Store ``token`` as its user's live token, revoking the one the user had, in one transaction."""
        token_rows.add_token(self._db, token)

    def revoke_tokens(self, user: str) -> int:
        """Revoke ``user``'s live tokens; return how many there were."""
        return token_rows.revoke_tokens(self._db, user)

    def tokens(self, include_revoked: bool = False) -> list[StoredToken]:
        """Return the live tokens (all with ``include_revoked``), by user and creation time."""
        return token_rows.tokens(self._db, include_revoked)

    def token_by_hash(self, sha256: str) -> StoredToken | None:
        """Return the live token with this SHA-256, or None."""
        return token_rows.token_by_hash(self._db, sha256)

    def reset(self, *, confirm: bool = False) -> None:
        """Drop the whole planmap schema and create it anew (a new dataset uid; counters carry on)."""
        if not confirm:
            raise ValueError("reset drops every layer and the whole history: pass confirm=True")
        admin.reset(self._db)

    def meta_keys(self) -> list[str]:
        """Return the stored metadata keys, sorted."""
        return admin.meta_keys(self._db)

    def load_history(self, rows: pd.DataFrame) -> None:
        """COPY history rows, keeping their ``seq``; the sequence then continues after the largest."""
        admin.load_history(self._db, rows)

    @contextmanager
    def rebuilding(self) -> Iterator[PostGISStore]:
        """Yield a store on an empty staging schema; when the block ends without error, swap it in for this one.

        This is how a whole dataset is replaced on a live service: readers keep the old layers and history
        while the new ones are written, then one transaction renames the staging schema into place and drops
        the old one. The new dataset uid changes every version, so no worker answers from a cache of the old
        data. On error the staging schema is dropped and this one is left as it was. Progress reports
        recorded during the build go with the old schema: replacing means that.

        Raises
        ------
        StoreUnavailable
            When another rebuild of the same schema is running.
        """
        with admin.staging_schema(self._db) as staging:
            stage = PostGISStore(self._db.dsn, schema=staging, pool_size=2, timeout=self._db.timeout)
            try:
                yield stage
            finally:
                stage.close()
            admin.swap_in(self._db, staging)

    # Accounts, sessions and tokens are read on the primary, as writes are: a revoked token or an ended
    # session must count at once, whatever a replica has replayed.
    def _account_reading(self) -> AbstractContextManager[Any]:
        return self._db.conn()

    def _account_writing(self) -> AbstractContextManager[Any]:
        return self._db.conn(transaction=True, tracked=False)

    def record(self, kind: str, key: str) -> StoredRecord | None:
        """Return the live document ``kind``/``key``, or None."""
        with self._db.read() as conn:
            return self._records.get(conn, kind, key)

    def records(self, kind: str) -> list[StoredRecord]:
        """Return the live documents of ``kind``, by key."""
        with self._db.read() as conn:
            return self._records.all(conn, kind)

    def put_record(
        self, kind: str, key: str, doc: Mapping[str, Any], *, expected_version: int | None, author: str
    ) -> StoredRecord:
        """Create or change a document and log its revision, in one transaction."""
        with self._db.conn(transaction=True) as conn:
            return self._records.put(conn, kind, key, doc, expected_version, author)

    def delete_record(self, kind: str, key: str, *, expected_version: int, author: str) -> None:
        """Delete the document at ``expected_version`` and log it, in one transaction."""
        with self._db.conn(transaction=True) as conn:
            self._records.delete(conn, kind, key, expected_version, author)

    def record_revisions(self, kind: str | None, key: str | None = None) -> list[RecordRevision]:
        """Return the revisions of a document (of every document of ``kind``), oldest first."""
        with self._db.read() as conn:
            return self._records.revisions(conn, kind, key)
