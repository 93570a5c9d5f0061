"""Atomic layer replacement in a live GeoPackage: GDAL writes a staging file, SQLite moves it in.

GDAL (through pyogrio) writes the layer with its spec-conformant schema (feature table, R-tree, triggers,
gpkg_* rows) into a separate staging GeoPackage. One SQLite transaction on the live file then drops the old
layer and copies the new one in. GDAL never writes to the live WAL database itself: two SQLite libraries
writing one WAL file at once corrupted it in testing, and this way readers see the old or the new layer,
never a half-written one.
"""

from __future__ import annotations

import errno
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

import geopandas as gpd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from geo.errors import StoreFull, StoreReadOnly, StoreUnavailable
from geo.storage.sql import quote_ident

_META_TABLES = ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents")
_RTREE_SHADOWS = ("_node", "_parent", "_rowid")


def layer_geometry_type(geoms: gpd.GeoSeries) -> str:
    """Return the layer geometry type GDAL would give ``geoms`` written in one go (as pyogrio infers it).

    A layer written in slices must get the type of all its rows, not of its first slice.
    """
    present = geoms[geoms.notna() & ~geoms.is_empty]
    kinds = pd.Series(geoms.geom_type.unique()).dropna().to_numpy()
    kind = str(kinds[0]) if len(kinds) == 1 else "Unknown"
    return f"{kind} Z" if kind != "Unknown" and bool(present.has_z.any()) else kind


def write_staging(
    frames: Iterable[gpd.GeoDataFrame],
    layer: str,
    directory: Path,
    geometry_name: str,
    geometry_type: str | None = None,
) -> Path:
    """Write ``frames`` (slices of one layer, with the same columns) as the only layer of a new staging GeoPackage.

    The staging file is next to the live file; the first slice creates the layer, the others are appended to it.
    ``geometry_type`` is the layer's (see :func:`layer_geometry_type`; by default the first slice's).
    """
    kind = geometry_type
    try:
        handle = tempfile.NamedTemporaryFile(prefix=f".{layer}-", suffix=".gpkg", dir=directory, delete=False)
    except OSError as exc:
        raise _os_error(exc, directory) from exc
    handle.close()
    path = Path(handle.name)
    path.unlink()
    try:
        for n, frame in enumerate(frames):
            kind = kind or layer_geometry_type(frame.geometry)
            pyogrio.write_dataframe(
                frame,
                path,
                layer=layer,
                driver="GPKG",
                geometry_type=kind,
                append=n > 0,
                layer_options={"FID": "fid", "GEOMETRY_NAME": geometry_name, "SPATIAL_INDEX": "YES"} if not n else None,
            )
    except BaseException as exc:
        remove_staging(path)  # a half-written staging file must not stay in the data directory
        if isinstance(exc, DataSourceError | DataLayerError | OSError):
            raise _write_error(exc, directory) from exc
        raise
    return path


def remove_staging(path: Path) -> None:
    """Remove a staging GeoPackage and the journal files SQLite or GDAL may have left beside it."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _os_error(exc: OSError, directory: Path) -> StoreUnavailable:
    if exc.errno == errno.ENOSPC:
        return StoreFull(f"the disk holding {directory} is full")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreReadOnly(f"{directory} cannot be written: {exc.strerror}")
    return StoreUnavailable(f"cannot write in {directory}: {exc}")


def _write_error(exc: BaseException, directory: Path) -> StoreUnavailable:
    """GDAL reports a full disk or a read-only directory as text: name the cause the client can act on."""
    if isinstance(exc, OSError):
        return _os_error(exc, directory)
    text = str(exc).lower()
    if "no space" in text or "full" in text:
        return StoreFull(f"the disk holding {directory} is full")
    if "read-only" in text or "readonly" in text or "permission" in text:
        return StoreReadOnly(f"{directory} cannot be written: {exc}")
    return StoreUnavailable(f"writing the layer failed: {exc}")


def _layer_objects(conn: sqlite3.Connection, schema: str, layer: str, geometry_name: str) -> list[tuple[str, str, str]]:
    """Return (type, name, sql) of the layer's table, R-tree, indexes and triggers in ``schema``."""
    rtree = f"rtree_{layer}_{geometry_name}"
    rows = conn.execute(
        f"SELECT type, name, sql FROM {schema}.sqlite_master WHERE (tbl_name = ? OR tbl_name = ?) AND sql NOT NULL",
        (layer, rtree),
    ).fetchall()
    return [r for r in rows if not (r[1].startswith(rtree) and r[1].endswith(_RTREE_SHADOWS))]


def _main_tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}


def drop_layer(conn: sqlite3.Connection, layer: str, geometry_name: str) -> None:
    """Drop a feature layer, its R-tree, triggers and gpkg_* rows (inside the caller's transaction)."""
    for kind, name, _ in _layer_objects(conn, "main", layer, geometry_name):
        if kind == "trigger":
            conn.execute(f"DROP TRIGGER IF EXISTS main.{quote_ident(name)}")
    # Always qualify with main: unqualified names also resolve in the attached staging database.
    conn.execute(f"DROP TABLE IF EXISTS main.{quote_ident(f'rtree_{layer}_{geometry_name}')}")
    conn.execute(f"DROP TABLE IF EXISTS main.{quote_ident(layer)}")
    present = _main_tables(conn)
    for table in _META_TABLES:
        if table in present:
            conn.execute(f"DELETE FROM main.{table} WHERE lower(table_name) = lower(?)", (layer,))


def copy_layer(
    conn: sqlite3.Connection,
    staging: Path,
    layer: str,
    geometry_name: str,
    finish: Callable[[sqlite3.Connection], None] | None = None,
    before_commit: Callable[[], None] | None = None,
    first: Callable[[sqlite3.Connection], None] | None = None,
) -> None:
    """Replace ``layer`` in the live database with the one in ``staging``, in one transaction.

    ``conn`` must be in autocommit mode with no open transaction (ATTACH is not allowed inside one).
    Triggers and indexes are created after the bulk copy so the R-tree triggers do not fire per row.
    ``finish(conn)`` runs inside the same transaction (the caller's metadata and version bump), and
    ``before_commit()`` last, to refuse the commit (by raising) when the live file is no longer valid;
    ``first(conn)`` runs before anything is changed (e.g. to check the layer's version under the lock).
    """
    (mapped,) = conn.execute("PRAGMA mmap_size").fetchone()
    # The bulk copy reads the whole layer once: mapping the live file for it would only add its pages to
    # this process's resident memory. Reads map it again afterwards.
    conn.execute("PRAGMA mmap_size=0")
    conn.execute("ATTACH DATABASE ? AS staging", (str(staging),))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if first is not None:
                first(conn)
            _copy(conn, layer, geometry_name)
            if finish is not None:
                finish(conn)
            if before_commit is not None:
                before_commit()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.execute("DETACH DATABASE staging")
        conn.execute(f"PRAGMA mmap_size={int(mapped)}")


def _copy(conn: sqlite3.Connection, layer: str, geometry_name: str) -> None:
    drop_layer(conn, layer, geometry_name)
    objects = _layer_objects(conn, "staging", layer, geometry_name)
    for _, _, sql in (o for o in objects if o[0] == "table"):
        conn.execute(sql)
    rtree = f"rtree_{layer}_{geometry_name}"
    for table in (layer, rtree):
        conn.execute(f"INSERT INTO main.{quote_ident(table)} SELECT * FROM staging.{quote_ident(table)}")
    for _, _, sql in (o for o in objects if o[0] in ("index", "trigger")):
        conn.execute(sql)
    present = _main_tables(conn)
    staged = {r[0] for r in conn.execute("SELECT name FROM staging.sqlite_master WHERE type = 'table'")}
    for table in _META_TABLES:
        if table in staged and table not in present:
            (ddl,) = conn.execute("SELECT sql FROM staging.sqlite_master WHERE name = ?", (table,)).fetchone()
            conn.execute(ddl)
            present.add(table)
        if table in present and table in staged:
            conn.execute(
                f"INSERT OR REPLACE INTO main.{table} SELECT * FROM staging.{table} WHERE lower(table_name) = lower(?)",
                (layer,),
            )
    conn.execute("INSERT OR IGNORE INTO main.gpkg_spatial_ref_sys SELECT * FROM staging.gpkg_spatial_ref_sys")
