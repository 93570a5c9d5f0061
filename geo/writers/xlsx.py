"""Excel workbooks (.xlsx) of feature pages: typed cells, one sheet per layer or per group, geometry as lon/lat or WKT.

Numbers are written as numbers, dates as Excel dates, booleans as booleans and every text through
``write_string`` (so a name starting with ``=`` stays text and is never a formula). Point layers get
``lon``/``lat`` (``x``/``y`` when projected) columns; other geometries one WKT column. A last sheet, ``说明``,
says which, and in which CRS. The workbook is written in xlsxwriter's constant-memory mode: rows go to disk
as they are written, whatever the size of the export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

import geopandas as gpd
import shapely

from geo.errors import InvalidFormat
from geo.writers.frames import ExportSchema

CELL_TEXT_MAX = 32767
"""Excel holds at most this many characters in a cell."""
SHEET_NAME_MAX = 31
WKT_DECIMALS_DEG = 7
"""Seven decimals of a degree are 1 cm (as in the API's GeoJSON); metres get three."""
NOTES_SHEET = "说明"
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class WorkbookSpec:
    """How to lay out a workbook.

    Attributes
    ----------
    title : the data sheet's name when there is one sheet (e.g. the layer's Chinese title).
    headers : output column -> header text (e.g. Chinese aliases); other columns keep their names.
    group_by : a column whose values name one sheet each (e.g. ``county_name``); None for a single sheet.
    blank_group : the sheet of rows whose ``group_by`` value is empty.
    notes : (label, text) rows written to the ``说明`` sheet after the geometry notes.
    """

    title: str
    headers: Mapping[str, str] = field(default_factory=dict)
    group_by: str | None = None
    blank_group: str = "未填写"
    notes: Sequence[tuple[str, str]] = ()


def geometry_columns(schema: ExportSchema) -> tuple[str, ...]:
    """Return an XLSX export's geometry columns: ``lon``/``lat`` (``x``/``y``) for points, else ``wkt``."""
    if schema.geometry_type == "Point":
        return ("lon", "lat") if schema.is_geographic else ("x", "y")
    return ("wkt",)


def sheet_name(text: str, taken: Iterable[str] = ()) -> str:
    """Return a valid, unused sheet name for ``text`` (no ``[]:*?/\\``, at most 31 characters).

    Examples
    --------
    >>> sheet_name("a/b: c"), sheet_name("雨湖区", ["雨湖区"])
    ('a-b- c', '雨湖区 (2)')
    """
    base = _SHEET_BAD.sub("-", str(text)).strip("' ")[:SHEET_NAME_MAX] or "Sheet"
    lowered = {t.lower() for t in taken}
    name, n = base, 1
    while name.lower() in lowered:
        n += 1
        suffix = f" ({n})"
        name = base[: SHEET_NAME_MAX - len(suffix)] + suffix
    return name


def _geometry_values(frame: gpd.GeoDataFrame, schema: ExportSchema) -> list[np.ndarray]:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    if schema.geometry_type == "Point":
        return [shapely.get_x(geoms), shapely.get_y(geoms)]
    decimals = WKT_DECIMALS_DEG if schema.is_geographic else 3
    return [shapely.to_wkt(geoms, rounding_precision=decimals, trim=True)]


class _Sheets:
    """The workbook's data sheets, created on first use, each remembering its next row."""

    def __init__(self, book: xlsxwriter.Workbook, schema: ExportSchema, spec: WorkbookSpec) -> None:
        self.book, self.schema, self.spec = book, schema, spec
        self.names = [*schema.columns, *geometry_columns(schema)]
        shape = geometry_columns(schema)
        self.kinds = [*schema.columns.values(), *(["float"] * 2 if len(shape) == 2 else ["wkt"])]
        self.rows: dict[str, tuple[Any, int]] = {}
        self.bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        self.date = book.add_format({"num_format": "yyyy-mm-dd"})

    def sheet(self, key: str) -> tuple[Any, int]:
        if key not in self.rows:
            sheet = self.book.add_worksheet(sheet_name(key, [str(s.name) for s, _ in self.rows.values()]))
            for col, name in enumerate(self.names):
                header = self.spec.headers.get(name, name)
                sheet.set_column(col, col, max(10, min(40, len(header) * 2 + 2)))
                sheet.write_string(0, col, header, self.bold)
            sheet.freeze_panes(1, 0)
            self.rows[key] = (sheet, 1)
        return self.rows[key]

    def write(self, key: str, values: Sequence[Any], feature: str) -> None:
        sheet, row = self.sheet(key)
        for col, (value, kind) in enumerate(zip(values, self.kinds, strict=True)):
            self._cell(sheet, row, col, value, kind, feature)
        self.rows[key] = (sheet, row + 1)

    def _cell(self, sheet: Any, row: int, col: int, value: Any, kind: str, feature: str) -> None:
        if value is None or (not isinstance(value, list | dict) and pd.isna(value)):
            return
        if kind in ("int", "float"):
            sheet.write_number(row, col, float(value))
        elif kind == "bool":
            sheet.write_boolean(row, col, bool(value))
        elif kind == "date":
            day = value if isinstance(value, date) else pd.Timestamp(value).date()
            sheet.write_datetime(row, col, datetime(day.year, day.month, day.day), self.date)
        else:
            text = json.dumps(value, ensure_ascii=False) if kind == "json" else str(value)
            if len(text) > CELL_TEXT_MAX:
                raise InvalidFormat(
                    f"feature {feature}: {self.names[col]} has {len(text)} characters, more than an Excel cell "
                    f"holds ({CELL_TEXT_MAX}); export this selection as gpkg, geojson or csv instead"
                )
            sheet.write_string(row, col, text)


def _notes(book: xlsxwriter.Workbook, schema: ExportSchema, spec: WorkbookSpec, counts: Mapping[str, int]) -> None:
    sheet = book.add_worksheet(NOTES_SHEET)
    columns = geometry_columns(schema)
    label = "、".join(spec.headers.get(c, c) for c in columns)
    kind = "点坐标 point coordinates" if len(columns) == 2 else f"WKT ({schema.geometry_type})"
    rows = [
        ("几何列 geometry columns", f"{label}: {kind}"),
        ("坐标系 CRS", f"{schema.crs.name} ({schema.crs.to_string()})"),
        *[(f"工作表 sheet {name}", f"{n} 条 features") for name, n in counts.items()],
        *spec.notes,
    ]
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 80)
    for row, (key, text) in enumerate(rows):
        sheet.write_string(row, 0, key)
        sheet.write_string(row, 1, str(text))


def write_xlsx(frames: Iterable[gpd.GeoDataFrame], schema: ExportSchema, path: Path, spec: WorkbookSpec) -> Path:
    """Write conformed pages to an XLSX workbook at ``path`` and return ``path``.

    Raises
    ------
    InvalidFormat
        If a text (a long WKT) does not fit an Excel cell, or ``group_by`` is not an output column.
    """
    if spec.group_by is not None and spec.group_by not in schema.columns:
        raise InvalidFormat(f"cannot make one sheet per {spec.group_by}: {schema.name} has no such column")
    options = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    book = xlsxwriter.Workbook(str(path), options | {"strings_to_numbers": False})
    try:
        sheets = _Sheets(book, schema, spec)
        if spec.group_by is None:
            sheets.sheet(spec.title)
        for frame in frames:
            columns = [frame[name].to_numpy(dtype=object) for name in schema.columns]
            columns += list(_geometry_values(frame, schema))
            ids = frame["id"].astype(str).tolist() if "id" in frame.columns else [""] * len(frame)
            groups = frame[spec.group_by] if spec.group_by is not None else None
            for i, values in enumerate(zip(*columns, strict=True)):
                group = groups.iloc[i] if groups is not None else None
                key = spec.title if groups is None else (str(group) if not pd.isna(group) else spec.blank_group)
                sheets.write(key, values, ids[i])
        if not sheets.rows:
            sheets.sheet(spec.title)
        _notes(book, schema, spec, {str(s.name): n - 1 for s, n in sheets.rows.values()})
    finally:
        book.close()
    return path
