"""Reading the table of an Excel workbook (.xlsx): bounded, cells kept typed, every row traceable to its sheet and row.

An .xlsx file is a zip of XML parts, so it is first checked like any uploaded archive
(:func:`geo.zipsafe.check_zip`: member count, compression ratio, unpacked size), then read with openpyxl in
read-only mode, cached formula results only (formulas are never evaluated). Offices' 台账 often carry a title
row or two above the header: the header is the first row among the first ``HEADER_SCAN_ROWS`` naming the
geometry columns. Several sheets with the same header (a workbook split by county) are read as one table;
other sheets (notes, pivot tables) are left out, with a warning.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from geo.complexity import ReadLimits
from geo.errors import FileTooComplex, InvalidDataFile
from geo.zipsafe import ZipLimits, check_zip

HEADER_SCAN_ROWS = 10
"""How far down a sheet the header row is looked for."""
MAX_COLUMNS = 500
"""Most columns a sheet may have (Excel allows 16 384; a plan table has a few dozen)."""
WORKBOOK_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class Workbook:
    """The table read from a workbook: typed cells, where each row came from, the sheets used and warnings."""

    frame: pd.DataFrame
    origins: list[str] = field(default_factory=list)
    sheets: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_legacy_excel(head: bytes) -> bool:
    """Return True for an old binary .xls (an OLE compound file), which planmap does not read."""
    return head.startswith(_OLE_MAGIC)


def is_workbook(members: list[str]) -> bool:
    """Return True when a zip's member names are those of an Office Open XML workbook."""
    return all(part in members for part in WORKBOOK_PARTS)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_row(rows: Iterator[tuple[Any, ...]], is_header: Callable[[list[str]], bool]) -> tuple[int, list[str]]:
    """Return the 1-based row number and the cells of the header row, or (0, []) when none is found."""
    for number, row in enumerate(rows, start=1):
        cells = ["" if _blank(v) else str(v).strip() for v in row]
        if is_header(cells):
            return number, cells
        if number >= HEADER_SCAN_ROWS:
            break
    return 0, []


def _columns(cells: list[str], sheet: str) -> list[str]:
    while cells and not cells[-1]:
        cells.pop()
    if len(cells) > MAX_COLUMNS:
        raise FileTooComplex(f"sheet {sheet!r} has {len(cells)} columns; at most {MAX_COLUMNS} are allowed")
    seen: set[str] = set()
    for i, name in enumerate(cells):
        if not name:
            raise InvalidDataFile(f"sheet {sheet!r}: column {i + 1} of the header row has no name")
        if name in seen:
            raise InvalidDataFile(f"sheet {sheet!r}: the header names column {name!r} twice")
        seen.add(name)
    return cells


def _open(path: Path, zip_limits: ZipLimits | None) -> Any:
    members = check_zip(path, zip_limits)
    if not is_workbook(members):
        raise InvalidDataFile("the zip is not an Excel workbook (.xlsx)")
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidDataFile(f"cannot read the Excel workbook: {exc}") from exc


def read_workbook(
    path: str | Path,
    is_header: Callable[[list[str]], bool],
    *,
    sheet: str | None = None,
    zip_limits: ZipLimits | None = None,
    limits: ReadLimits | None = None,
) -> Workbook:
    """Read the data rows of a workbook's sheets whose header ``is_header`` accepts.

    Parameters
    ----------
    path : str or pathlib.Path
        The .xlsx file.
    is_header : callable
        Given a row's cells as text, says whether it is the header (e.g. it names lon/lat or WKT columns).
    sheet : str, optional
        Read only this sheet.
    zip_limits, limits : optional
        Archive limits, and the most rows (``limits.max_features``).

    Returns
    -------
    Workbook
        Cells as openpyxl gives them (numbers, datetimes, booleans, text), blank rows left out; ``origins``
        says for each row ``<sheet>!<Excel row number>``.

    Raises
    ------
    InvalidDataFile, FileTooLarge, FileTooComplex
        For a file that is not a readable workbook, has no sheet with such a header, headers that differ
        between sheets, or too many rows, columns or unpacked bytes.
    """
    limits = limits or ReadLimits()
    book = _open(Path(path), zip_limits)
    try:
        return _read_sheets(book, is_header, sheet, limits)
    finally:
        book.close()


def _read_sheets(book: Any, is_header: Callable[[list[str]], bool], sheet: str | None, limits: ReadLimits) -> Workbook:
    if sheet is not None and sheet not in book.sheetnames:
        raise InvalidDataFile(f"the workbook has no sheet {sheet!r}; it has {', '.join(book.sheetnames)}")
    out = Workbook(frame=pd.DataFrame())
    header: list[str] | None = None
    rows: list[tuple[Any, ...]] = []
    for name in [sheet] if sheet is not None else book.sheetnames:
        found, cells = _header_row(book[name].iter_rows(values_only=True), is_header)
        if not found:
            out.warnings.append(f"sheet {name!r} was left out: no header row naming the geometry columns")
            continue
        columns = _columns(cells, name)
        if header is not None and columns != header:
            raise InvalidDataFile(f"sheet {name!r} has other columns than sheet {out.sheets[0]!r}; import it alone")
        header = columns
        out.sheets.append(name)
        for number, row in enumerate(book[name].iter_rows(min_row=found + 1, values_only=True), start=found + 1):
            values = tuple(row[: len(columns)]) + (None,) * (len(columns) - len(row))
            if any(not _blank(v) for v in row[len(columns) :]):
                raise InvalidDataFile(f"sheet {name!r} row {number}: a cell right of the last named column")
            if all(_blank(v) for v in values):
                continue
            rows.append(values)
            out.origins.append(f"{name}!{number}")
            limits.check_features(len(rows))
    if header is None:
        raise InvalidDataFile("no sheet has a header row with lon/lat (经度/纬度) or WKT columns")
    out.frame = pd.DataFrame(rows, columns=header, dtype=object)
    return out
