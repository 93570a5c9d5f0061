"""GeoPackage schema extension: column aliases (``gpkg_data_columns``) and enum value lists, written with sqlite3.

GDAL reads ``gpkg_data_columns.name`` as a field's alternative name (QGIS shows it as the alias), and
QField and Mergin Maps open the file through GDAL/QGIS. No Python library writes these tables, hence sqlite3.
Spec: http://www.geopackage.org/spec/#extension_schema
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_EXTENSION = "http://www.geopackage.org/spec/#extension_schema"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS gpkg_data_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
        mime_type TEXT, constraint_name TEXT,
        CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name))""",
    """CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
        constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC,
        min_is_inclusive BOOLEAN, max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
        CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))""",
    """CREATE TABLE IF NOT EXISTS gpkg_extensions (
        table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL,
        scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))""",
)


@dataclass(frozen=True)
class DataColumn:
    """One column's alias (``name``, unique per table), title, description and optional enum constraint."""

    table: str
    column: str
    name: str
    title: str = ""
    description: str = ""
    constraint: str | None = None


@dataclass(frozen=True)
class EnumValue:
    """One allowed value of an enum constraint, with its description (e.g. the Chinese label)."""

    constraint: str
    value: str
    description: str = ""


def write_data_columns(path: str | Path, columns: Sequence[DataColumn], values: Sequence[EnumValue] = ()) -> None:
    """Add column aliases and enum constraints to an existing GeoPackage (schema extension registered).

    Parameters
    ----------
    path : the GeoPackage; its tables must exist already.
    columns : the aliases; ``name`` must be unique within a table.
    values : enum constraint values referenced by ``DataColumn.constraint``.
    """
    with sqlite3.connect(path) as conn:
        for statement in _TABLES:
            conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', ?, 'read-write')",
            [("gpkg_data_columns", _EXTENSION), ("gpkg_data_column_constraints", _EXTENSION)],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, description, "
            "constraint_name) VALUES (?, ?, ?, ?, ?, ?)",
            [(c.table, c.column, c.name, c.title, c.description, c.constraint) for c in columns],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO gpkg_data_column_constraints (constraint_name, constraint_type, value, "
            "description) VALUES (?, 'enum', ?, ?)",
            [(v.constraint, v.value, v.description) for v in values],
        )
    conn.close()
