"""PostGISStore: the scale-out store, one PostgreSQL schema holding the layers, their history and versions.

Its answers match ``GeoPackageStore`` for the same data: text columns use ``COLLATE "C"`` (byte order, like
SQLite), NULLs sort first ascending as in SQLite, dates come back as ISO strings and JSON as parsed values.
Versions live in the database, so every server worker sees the same ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import TupleRow
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

import geopandas as gpd
import shapely

from geo.errors import StoreUnavailable, UnknownCollection
from geo.storage.base import FeatureStore, Filter, SortKey, WriteMode
from geo.storage.codec import encode_frame, frame_from_rows, read_columns
from geo.storage.cql_sql import cql_to_sql
from geo.storage.postgis_admin import PostGISAdmin
from geo.storage.postgis_history import PostGISHistory, _plain
from geo.storage.postgis_native import PostGISNative
from geo.storage.schema import migrate as schema
from geo.storage.schema.tokens import PostGISTokens
from geo.storage.sqlfilter import _check_column, _q
from geo.types import BBox

Connection = psycopg.Connection[TupleRow]

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
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1, in bytes
_EXTENT = "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM {table}) AS x"


def _check_identifier(name: str, what: str) -> None:
    if not name or len(name.encode()) > _MAX_IDENTIFIER:
        raise ValueError(f"{what} name {name!r} must be 1 to {_MAX_IDENTIFIER} bytes long")


def _configure(conn: Connection) -> None:
    """Return dates and JSON as text, as SQLite does; ``frame_from_rows`` parses JSON like for the GeoPackage."""
    for name in ("date", "json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)
    conn.execute("SET DateStyle TO ISO")


def _filter_cql(where: Filter | None) -> dict[str, Any] | None:
    """Express a Filter as one CQL2 ``and`` so both stores share a single translation of it."""
    if where is None:
        return None
    geometry = {"property": _GEOM}
    terms: list[Any] = []
    if where.bbox is not None:
        terms.append({"op": "s_intersects", "args": [geometry, {"bbox": list(where.bbox)}]})
    if where.intersects is not None:
        terms.append({"op": "s_intersects", "args": [geometry, where.intersects]})
    if where.ids is not None:
        terms.append({"op": "in", "args": [{"property": "id"}, [_plain(v) for v in where.ids]]})
    for column, value in where.equals.items():
        prop = {"property": column}
        if isinstance(value, list | tuple | set | frozenset):
            terms.append({"op": "in", "args": [prop, [_plain(v) for v in value]]})
        elif value is None:
            terms.append({"op": "isNull", "args": [prop]})
        else:
            terms.append({"op": "=", "args": [prop, _plain(value)]})
    if where.cql is not None:
        terms.append(where.cql)
    return {"op": "and", "args": terms} if terms else None


def _order(sortby: Sequence[SortKey], types: dict[str, str]) -> str:
    """Return `` ORDER BY ...`` with SQLite's NULL placement (first ascending); ties broken by id."""
    terms = [
        f"{_check_column(k.column, types)} {'DESC NULLS LAST' if k.descending else 'ASC NULLS FIRST'}" for k in sortby
    ]
    return " ORDER BY " + ", ".join([*terms, '"id" ASC'])


class PostGISStore(PostGISNative, PostGISHistory, PostGISAdmin, PostGISTokens, FeatureStore):
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
    """

    def __init__(self, dsn: str, *, schema: str = "planmap", pool_size: int = 4, timeout: float = 10.0) -> None:
        _check_identifier(schema, "schema")
        self.schema, self._s, self._timeout, self._dsn = schema, _q(schema), timeout, dsn
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(pool_size, 1),
            kwargs={"autocommit": True, "connect_timeout": max(int(timeout), 1)},
            configure=_configure,
            open=False,
            name=f"planmap-{schema}",
        )
        try:
            # One direct attempt first: the pool only reports a timeout, libpq says what went wrong.
            psycopg.connect(dsn, connect_timeout=max(int(timeout), 1)).close()
            self._pool.open(wait=True, timeout=timeout)
            self._migrate()
        except (PoolTimeout, psycopg.Error) as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot open PostGIS schema {schema!r}: {exc}") from exc
        except BaseException:
            self._pool.close()
            raise

    def _t(self, table: str) -> str:
        return f"{self._s}.{_q(table)}"

    @contextmanager
    def _conn(self, transaction: bool = False) -> Iterator[Connection]:
        """Lend a pooled connection (autocommit), optionally inside one transaction."""
        try:
            with self._pool.connection(timeout=self._timeout) as conn:
                if not transaction:
                    yield conn
                    return
                with conn.transaction():
                    yield conn
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise StoreUnavailable(f"PostgreSQL store {self.schema!r} unavailable: {exc}") from exc

    def _migrate(self) -> None:
        """Create or upgrade the schema to the head revision (``geo.storage.schema``), with a dataset uid."""
        schema.upgrade_postgis(self._dsn, self.schema, max(int(self._timeout), 1))

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    def layers(self) -> list[str]:
        """Return the layer tables (those with registered columns), sorted."""
        sql = (
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = %s AND c.relkind = 'r' AND EXISTS (SELECT 1 FROM {self._s}.planmap_meta m "
            "WHERE m.key = 'columns:' || c.relname) ORDER BY c.relname"
        )
        with self._conn() as conn:
            return [r[0] for r in conn.execute(sql, [self.schema])]

    def _columns(self, conn: Connection, layer: str) -> dict[str, str]:
        row = conn.execute(
            f"SELECT value FROM {self._s}.planmap_meta WHERE key = %s AND to_regclass(%s) IS NOT NULL",
            [f"columns:{layer}", self._t(layer)],
        ).fetchone()
        if row is None:
            raise UnknownCollection(f"no collection {layer!r} in schema {self.schema!r}")
        types: dict[str, str] = json.loads(row[0])
        return types

    def columns(self, layer: str) -> dict[str, str]:
        """Return the layer's attribute columns and planmap types."""
        with self._conn() as conn:
            return self._columns(conn, layer)

    def write_layer(
        self,
        layer: str,
        frame: gpd.GeoDataFrame,
        mode: WriteMode = "replace",
        types: Mapping[str, str] | None = None,
    ) -> None:
        """Write a layer with COPY into a staging table, then swap it in within the same transaction."""
        _check_identifier(layer, "layer")
        if layer.startswith("planmap_"):
            raise ValueError(f"layer names starting with 'planmap_' are reserved: {layer!r}")
        encoded, column_types = encode_frame(frame, self.id_column, types)
        for name in column_types:
            _check_identifier(name, "column")
            if name in ("fid", _GEOM):
                raise ValueError(f"column name {name!r} is reserved")
        stage = f"planmap_stage_{uuid.uuid4().hex}"
        with self._conn(transaction=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"planmap:{self.schema}:{layer}"])
            if mode == "create" and conn.execute("SELECT to_regclass(%s)", [self._t(layer)]).fetchone() != (None,):
                raise ValueError(f"collection {layer!r} exists already")
            self._load(conn, stage, encoded, column_types)
            extent = conn.execute(_EXTENT.format(table=self._t(stage))).fetchone()
            # Readers keep seeing the old table until this transaction commits.
            conn.execute(f"DROP TABLE IF EXISTS {self._t(layer)}")
            conn.execute(f"ALTER TABLE {self._t(stage)} RENAME TO {_q(layer)}")
            self._build_overview(conn, layer)
            self._set_meta(conn, f"columns:{layer}", column_types)
            self._set_meta(conn, f"extent:{layer}", None if extent is None or extent[0] is None else list(extent))
            self._bump(conn, layer)

    def _load(self, conn: Connection, table: str, encoded: gpd.GeoDataFrame, types: dict[str, str]) -> None:
        """Create ``table``, COPY the encoded frame into it, then index and analyse it."""
        shapes = encoded.geometry.to_numpy()
        dims = "GeometryZ" if shapely.has_z(shapes).any() else "Geometry"
        columns = "".join(f"{_q(n)} {_PG_TYPES[k]}, " for n, k in types.items())
        conn.execute(
            f"CREATE TABLE {self._t(table)} (fid bigserial PRIMARY KEY, {columns}{_GEOM} geometry({dims}, 4326))"
        )
        # Binary EWKB then bytes.hex() is about 3x faster than shapely's own hex output.
        wkb = shapely.to_wkb(shapely.set_srid(shapes, 4326), include_srid=True)
        geoms = [None if b is None else b.hex() for b in wkb]
        values = [encoded[n].astype(object).where(encoded[n].notna(), None).tolist() for n in types]
        names = ", ".join(_q(n) for n in [*types, _GEOM])
        with conn.cursor().copy(f"COPY {self._t(table)} ({names}) FROM STDIN") as copy:
            for row in zip(*values, geoms, strict=True):
                copy.write_row(row)
        conn.execute(f"CREATE UNIQUE INDEX ON {self._t(table)} ({_q(self.id_column)})")
        conn.execute(f"CREATE INDEX ON {self._t(table)} USING gist ({_GEOM})")
        conn.execute(f"ANALYZE {self._t(table)}")

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
        with self._conn() as conn:
            types = self._columns(conn, layer)
            sql, wanted, _, params = self._select(layer, where, sortby, columns, types)
            rows = conn.execute(sql, [*params, limit, offset]).fetchall()
        return frame_from_rows(rows, wanted, types)

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
        with self._conn() as conn:
            types = self._columns(conn, layer)
            sql, wanted, clause, params = self._select(layer, where, sortby, columns, types)
            with conn.pipeline():
                page = conn.execute(sql, [*params, limit, offset])
                count = conn.execute(f"SELECT count(*) FROM {self._t(layer)}{clause}", params)
                frame = frame_from_rows(page.fetchall(), wanted, types)
                row = count.fetchone()
        return frame, int(row[0]) if row else 0

    def _select(
        self,
        layer: str,
        where: Filter | None,
        sortby: Sequence[SortKey],
        columns: Sequence[str] | None,
        types: dict[str, str],
    ) -> tuple[str, list[str], str, list[Any]]:
        """Return the page query (LIMIT/OFFSET parameters last), its columns, WHERE clause and parameters."""
        wanted = read_columns(columns, types, self.id_column)
        clause, params = self._where(layer, where, types)
        select = ", ".join(_q(c) for c in wanted)
        sql = f"SELECT {select}, ST_AsBinary({_GEOM}) FROM {self._t(layer)}{clause}{_order(sortby, types)}"
        return sql + " LIMIT %s OFFSET %s", wanted, clause, params

    @staticmethod
    def _where(layer: str, where: Filter | None, types: dict[str, str]) -> tuple[str, list[Any]]:
        expr = _filter_cql(where)
        if expr is None:
            return "", []
        sql, params = cql_to_sql(expr, types, geom_col=_GEOM, layer=layer, dialect="postgis")
        return f" WHERE {sql}", params

    def count(self, layer: str, where: Filter | None = None) -> int:
        """Return the number of matching features."""
        with self._conn() as conn:
            clause, params = self._where(layer, where, self._columns(conn, layer))
            row = conn.execute(f"SELECT count(*) FROM {self._t(layer)}{clause}", params).fetchone()
        return int(row[0]) if row else 0

    def bounds(self, layer: str) -> BBox | None:
        """Return the extent recorded when the layer was written (geometries change only then)."""
        with self._conn() as conn:
            self._columns(conn, layer)
            row = conn.execute(
                f"SELECT value FROM {self._s}.planmap_meta WHERE key = %s", [f"extent:{layer}"]
            ).fetchone()
            extent = json.loads(row[0]) if row else None
            if extent is None:
                extent = conn.execute(_EXTENT.format(table=self._t(layer))).fetchone()
        return None if extent is None or extent[0] is None else (extent[0], extent[1], extent[2], extent[3])
