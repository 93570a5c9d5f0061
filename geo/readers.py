"""Reading a vector data file into a GeoDataFrame: GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, CSV or XLSX.

Everything but CSV goes through pyogrio (zipped shapefiles via GDAL's ``/vsizip/``, after
:func:`geo.zipsafe.check_zip`), offline: GeoJSON text is checked for linked CRSs first and zip members must
hold what their names say (:mod:`geo.offline`). CSV is read by pandas, as text, with the geometry taken from lon/lat or
WKT columns, so that the caller type-checks every value itself and bad cells can be named; an Excel workbook
likewise (:mod:`geo.spreadsheet`), its cells kept as the numbers, dates and text Excel stored.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

import geopandas as gpd
import pyogrio
import pyproj
import shapely

from geo.complexity import ReadLimits, check_geometries, prescan_json
from geo.dbf import SAMPLE_BYTES, detect_encoding
from geo.errors import InvalidDataFile
from geo.offline import check_json_crs, gdal_offline
from geo.spreadsheet import is_legacy_excel, is_workbook, read_workbook
from geo.zipsafe import ZipLimits, check_zip, zip_members

FORMATS = ("gpkg", "shapefile", "geojson", "fgb", "csv", "xlsx")
"""Formats :func:`read_source` understands."""

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "x坐标")
LAT_NAMES = ("lat", "latitude", "y", "纬度", "北纬", "y坐标")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape", "几何(wkt)", "几何", "空间信息")

_MAGIC = {b"SQLite format 3\x00": "gpkg", b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"fgb\x03": "fgb"}
_ZIP_DATASETS = {".shp": "shapefile", ".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".fgb": "fgb"}
_SHP_REQUIRED = (".shx", ".dbf")
_MEMBER_MAGIC = {"gpkg": (b"SQLite format 3\x00", "a GeoPackage"), "fgb": (b"fgb\x03", "a FlatGeobuf file")}
_MEMBER_MAGIC["shapefile"] = (b"\x00\x00\x27\x0a", "a shapefile")
READ_CHUNK = 50_000
"""Features read from GDAL at a time (see :func:`_read_frame`)."""
_JSON_START = b"\xef\xbb\xbf \t\r\n"
_OGR_ERRORS: tuple[type[Exception], ...] = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError)
_OGR_ERRORS += (pyogrio.errors.FieldError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError)
_OGR_ERRORS += (pyogrio.errors.FeatureError, ValueError, OSError)


@dataclass(frozen=True)
class RowProblem:
    """A problem with one record of a file: its 0-based position, the column and what is wrong."""

    row: int
    column: str | None
    problem: str


@dataclass
class SourceData:
    """A file as read: attributes untouched, geometry in the file's CRS (None where it could not be read)."""

    frame: gpd.GeoDataFrame
    crs: pyproj.CRS | None
    format: str
    layer: str | None = None
    encoding: str | None = None
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    measured: bool = False
    """Whether the file declares M (measure) values; GDAL drops them on reading."""
    origins: list[str] | None = None
    """Where each row is in the file when its position says less (``<sheet>!<row>`` in a workbook)."""


def detect_format(path: str | Path, name_hint: str | None = None) -> str:
    """Return ``gpkg``, ``zip``, ``fgb``, ``geojson`` or ``csv`` from the file's first bytes.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    name_hint : str, optional
        The original file name; only its extension is used, for error messages and text formats.

    Raises
    ------
    InvalidDataFile
        For a bare ``.shp`` (its sidecars are needed: upload a zip) or binary data of no known format.
    """
    with open(path, "rb") as handle:
        head = handle.read(4096)
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            return fmt
    suffix = PurePosixPath(name_hint or str(path)).suffix.lower()
    if suffix in (".shp", ".shx", ".dbf"):
        raise InvalidDataFile("a shapefile needs its .shp, .shx, .dbf and .prj files: upload them as one zip")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "geojson"
    if is_legacy_excel(head):
        raise InvalidDataFile("an old binary Excel .xls file: save it as .xlsx (Excel workbook) and upload that")
    if b"\x00" in head:
        raise InvalidDataFile(f"unrecognised binary file {name_hint or ''}; use one of {', '.join(FORMATS)}".strip())
    return "csv"


def _pick(candidates: list[str], layer: str | None, what: str) -> str:
    if len(candidates) == 1:
        return candidates[0]
    stems = {PurePosixPath(c).stem: c for c in candidates}
    if layer in stems:
        return stems[layer]
    if not candidates:
        raise InvalidDataFile(f"no {what} found")
    raise InvalidDataFile(f"several {what}s found ({', '.join(sorted(stems))}); name the one to import")


def _check_member(archive: zipfile.ZipFile, member: str, fmt: str, limits: ReadLimits) -> None:
    """Refuse a member whose content is not the format its name says (GDAL would pick a driver by content)."""
    with archive.open(member) as stream:
        head = stream.read(4096)
    if fmt == "geojson":
        if not head.lstrip(_JSON_START).startswith((b"{", b"[")):
            raise InvalidDataFile(f"zip member {member!r} is not GeoJSON")
        data = archive.read(member)
        check_json_crs(data, member)
        prescan_json(data, limits)
    elif not head.startswith(_MEMBER_MAGIC[fmt][0]):
        raise InvalidDataFile(f"zip member {member!r} is not {_MEMBER_MAGIC[fmt][1]}")


def _shapefile_encoding(archive: zipfile.ZipFile, member: str) -> tuple[str, list[str]]:
    """Return the codec of a zipped shapefile's attributes (its .cpg checked against the text) and warnings."""
    stem = member[: -len(".shp")].lower()
    sidecars = {PurePosixPath(n).suffix.lower(): n for n in archive.namelist() if n.lower().startswith(stem + ".")}
    cpg = archive.read(sidecars[".cpg"]).decode("ascii", "replace") if ".cpg" in sidecars else None
    with archive.open(sidecars[".dbf"]) as stream:
        dbf = stream.read(SAMPLE_BYTES)
    return detect_encoding(dbf, cpg)


def _zip_dataset(
    path: Path, layer: str | None, limits: ZipLimits | None, encoding: str | None, read_limits: ReadLimits
) -> tuple[str, str, str | None, list[str]]:
    """Return the GDAL path (``/vsizip/...``), format, text encoding and warnings of the archive's dataset."""
    members = check_zip(path, limits)
    datasets = [m for m in members if PurePosixPath(m).suffix.lower() in _ZIP_DATASETS]
    member = _pick(datasets, layer, "dataset (.shp, .gpkg, .geojson, .fgb) in the zip")
    fmt = _ZIP_DATASETS[PurePosixPath(member).suffix.lower()]
    if fmt == "shapefile":
        lowered = {m.lower() for m in members}
        stem = member[: -len(".shp")]
        missing = [s for s in _SHP_REQUIRED if (stem + s).lower() not in lowered]
        if missing:
            raise InvalidDataFile(f"shapefile {member!r} lacks its {', '.join(missing)} file(s) in the zip")
    warnings: list[str] = []
    with zipfile.ZipFile(path) as archive:
        _check_member(archive, member, fmt, read_limits)
        if fmt == "shapefile" and encoding is None:
            encoding, warnings = _shapefile_encoding(archive, member)
    return f"/vsizip/{path.resolve().as_posix()}/{member}", fmt, encoding, warnings


def _gpkg_layer(path: str, layer: str | None) -> str:
    names = [str(row[0]) for row in pyogrio.list_layers(path) if row[1] is not None]
    return _pick(names, layer, "spatial layer in the GeoPackage")


def _read_frame(gdal_path: str, layer: str | None, encoding: str | None, count: int, most: int) -> gpd.GeoDataFrame:
    """Read up to ``most`` features, ``READ_CHUNK`` at a time when the file says how many it has.

    GDAL's buffers for a million features take more memory than the frame they become; reading in
    chunks bounds them to one chunk's worth.
    """
    if count <= READ_CHUNK:
        return pyogrio.read_dataframe(gdal_path, layer=layer, encoding=encoding, max_features=most)
    chunks = [
        pyogrio.read_dataframe(
            gdal_path, layer=layer, encoding=encoding, skip_features=start, max_features=min(READ_CHUNK, most - start)
        )
        for start in range(0, min(count, most), READ_CHUNK)
    ]
    return gpd.GeoDataFrame(pd.concat(chunks, ignore_index=True), crs=chunks[0].crs)


def _read_ogr(gdal_path: str, fmt: str, layer: str | None, encoding: str | None, limits: ReadLimits) -> SourceData:
    gdal_offline()
    try:
        name = _gpkg_layer(gdal_path, layer) if fmt == "gpkg" else None
        # GeoJSON was prescanned; opening it for its info would parse the whole text once more
        info = pyogrio.read_info(gdal_path, layer=name) if fmt != "geojson" else {"features": 0}
        limits.check_features(int(info["features"]))
        frame = _read_frame(gdal_path, name, encoding, int(info["features"]), limits.max_features + 1)
        kind = str(info.get("geometry_type") or "")
    except _OGR_ERRORS as exc:
        raise InvalidDataFile(f"cannot read the {fmt} file: {exc}") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidDataFile(f"the {fmt} file has no geometry column")
    check_geometries(frame.geometry.array, limits)
    measured = kind.endswith((" M", "ZM")) or "Measured" in kind
    # GeoPackage, GeoJSON and FlatGeobuf text is UTF-8 by definition
    used = encoding or ("utf-8" if fmt != "shapefile" else None)
    return SourceData(frame=frame, crs=frame.crs, format=fmt, layer=name, encoding=used, measured=measured)


@dataclass(frozen=True)
class ChunkedSource:
    """A large file that declares its CRS, to be read ``chunk`` features at a time (see :func:`read_chunks`)."""

    gdal_path: str
    crs: pyproj.CRS
    format: str
    rows: int
    layer: str | None
    encoding: str | None
    limits: ReadLimits
    chunk: int = READ_CHUNK
    warnings: tuple[str, ...] = ()
    measured: bool = False

    @property
    def text_encoding(self) -> str | None:
        """The attributes' text encoding (GeoPackage and FlatGeobuf text is UTF-8 by definition)."""
        return self.encoding or ("utf-8" if self.format != "shapefile" else None)

    def frames(self) -> Iterator[tuple[int, gpd.GeoDataFrame]]:
        """Yield (0-based row of the first feature, the chunk's frame) in file order.

        The vertex limits are checked on each chunk as it is read, with the running total of the chunks before.
        """
        gdal_offline()
        total = 0
        for start in range(0, self.rows, self.chunk):
            try:
                frame = pyogrio.read_dataframe(
                    self.gdal_path,
                    layer=self.layer,
                    encoding=self.encoding,
                    skip_features=start,
                    max_features=min(self.chunk, self.rows - start),
                )
            except _OGR_ERRORS as exc:
                raise InvalidDataFile(f"cannot read the {self.format} file: {exc}") from exc
            counts = shapely.get_num_coordinates(np.asarray(frame.geometry.array, dtype=object))
            if len(counts):
                total += int(counts.sum())
                largest = int(np.argmax(counts))
                self.limits.check_vertices(total, int(counts[largest]), start + largest)
            yield start, frame


def read_chunks(
    path: str | Path,
    *,
    name_hint: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    zip_limits: ZipLimits | None = None,
    limits: ReadLimits | None = None,
    chunk: int | None = None,
) -> ChunkedSource | None:
    """Describe a GeoPackage, FlatGeobuf or zipped shapefile with a CRS and more than ``chunk`` features.

    Such a file can be checked a chunk at a time, so that a million features are never all in memory at
    once. Any other file (smaller, without a CRS, or of another format) gives None: read it whole with
    :func:`read_source`, which is also where a file that cannot be opened gets its error.
    """
    path = Path(path)
    limits = limits or ReadLimits()
    chunk = chunk or READ_CHUNK
    fmt = detect_format(path, name_hint)
    warnings: list[str] = []
    if fmt == "zip":
        if is_workbook(zip_members(path)):
            return None
        gdal_path, fmt, encoding, warnings = _zip_dataset(path, layer, zip_limits, encoding, limits)
    elif fmt in ("gpkg", "fgb"):
        gdal_path = str(path)
    else:
        return None
    if fmt not in ("gpkg", "fgb", "shapefile"):
        return None
    gdal_offline()
    try:
        name = _gpkg_layer(gdal_path, layer) if fmt == "gpkg" else None
        info = pyogrio.read_info(gdal_path, layer=name)
    except _OGR_ERRORS + (InvalidDataFile,):
        return None  # read whole, which names the problem
    rows = int(info["features"])
    if rows <= chunk or not info.get("crs") or info.get("geometry_type") is None:
        return None
    limits.check_features(rows)
    kind = str(info.get("geometry_type") or "")
    return ChunkedSource(
        gdal_path=gdal_path,
        crs=pyproj.CRS.from_user_input(info["crs"]),
        format=fmt,
        rows=rows,
        layer=name,
        encoding=encoding,
        limits=limits,
        chunk=chunk,
        warnings=tuple(warnings),
        measured=kind.endswith((" M", "ZM")) or "Measured" in kind,
    )


def _decode(raw: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode CSV bytes: the given encoding, else UTF-8 (with or without BOM), else GB18030 (a superset of GBK)."""
    for candidate in [encoding] if encoding else ["utf-8-sig", "gb18030"]:
        try:
            return raw.decode(candidate), candidate
        except (UnicodeDecodeError, LookupError):
            continue
    raise InvalidDataFile(f"cannot decode the CSV file as {encoding or 'UTF-8 or GB18030'}")


def _find(headers: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in headers}
    return next((lowered[n] for n in names if n in lowered), None)


def _wkt_geometries(values: pd.Series, column: str) -> tuple[np.ndarray, list[RowProblem]]:
    text = values.fillna("").astype(str).str.strip()
    geoms = shapely.from_wkt(text.where(text != "", None).to_numpy(dtype=object), on_invalid="ignore")
    bad = np.flatnonzero((text != "").to_numpy() & shapely.is_missing(geoms))
    return geoms, [RowProblem(int(i), column, f"not valid WKT: {text.iloc[i][:60]!r}") for i in bad]


def _xy_geometries(frame: pd.DataFrame, lon: str, lat: str) -> tuple[np.ndarray, list[RowProblem]]:
    problems: list[RowProblem] = []
    coords = []
    for column in (lon, lat):
        text = frame[column].fillna("").astype(str).str.strip()
        values = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        problems += [
            RowProblem(int(i), column, f"not a number: {text.iloc[i]!r}")
            for i in np.flatnonzero((text != "").to_numpy() & values.isna().to_numpy())
        ]
        coords.append(values.to_numpy(dtype=float))
    geoms = shapely.points(coords[0], coords[1])
    geoms[np.isnan(coords[0]) | np.isnan(coords[1])] = None
    return geoms, problems


def _geometry_columns(headers: list[str]) -> tuple[str, ...] | None:
    """Return the WKT column, else the lon and lat columns, the headers name; None when they name neither."""
    wkt, lon, lat = _find(headers, WKT_NAMES), _find(headers, LON_NAMES), _find(headers, LAT_NAMES)
    if wkt is not None:
        return (wkt,)
    return (lon, lat) if lon is not None and lat is not None else None


def _table_source(frame: pd.DataFrame, fmt: str, encoding: str | None, limits: ReadLimits) -> SourceData:
    """Build the source of a table (CSV or spreadsheet) whose geometry is in lon/lat or WKT columns."""
    headers = list(frame.columns)
    used_columns = _geometry_columns(headers)
    if used_columns is None:
        raise InvalidDataFile(
            f"the {fmt.upper()} needs lon/lat (经度/纬度) or WKT columns; it has {', '.join(headers)}"
        )
    if len(used_columns) == 1:
        geoms, problems = _wkt_geometries(frame[used_columns[0]], used_columns[0])
    else:
        geoms, problems = _xy_geometries(frame, *used_columns)
    check_geometries(geoms, limits)
    attributes = frame.drop(columns=list(used_columns)).replace("", None)
    out = gpd.GeoDataFrame(attributes, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=None)
    return SourceData(frame=out, crs=None, format=fmt, encoding=encoding, problems=problems)


def _read_csv(path: Path, encoding: str | None, limits: ReadLimits) -> SourceData:
    raw = path.read_bytes()
    limits.check_features(raw.count(b"\n") - 1 + (not raw.endswith(b"\n")))
    text, used = _decode(raw, encoding)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InvalidDataFile(f"cannot parse the CSV file: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return _table_source(frame, "csv", used, limits)


def _read_xlsx(path: Path, sheet: str | None, zip_limits: ZipLimits | None, limits: ReadLimits) -> SourceData:
    book = read_workbook(
        path, lambda cells: _geometry_columns(cells) is not None, sheet=sheet, zip_limits=zip_limits, limits=limits
    )
    source = _table_source(book.frame, "xlsx", None, limits)
    source.layer, source.origins = ", ".join(book.sheets), book.origins
    source.warnings += book.warnings
    return source


def read_source(
    path: str | Path,
    *,
    name_hint: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    zip_limits: ZipLimits | None = None,
    limits: ReadLimits | None = None,
) -> SourceData:
    """Read a vector data file of any supported format.

    Parameters
    ----------
    path : str or pathlib.Path
        The file on disk (a zip for shapefiles).
    name_hint : str, optional
        The file's original name (only its extension is used).
    layer : str, optional
        Which layer or member to read when the file holds several (matched by name / file stem).
    encoding : str, optional
        Text encoding of attribute values; by default a shapefile's ``.cpg`` when its text agrees, else UTF-8,
        else GB18030 (with a warning); CSV likewise.
    zip_limits : ZipLimits, optional
        Limits for zip archives.
    limits : ReadLimits, optional
        Most features, vertices per feature and vertices in all (checked before and right after reading).

    Returns
    -------
    SourceData
        Attributes as read and geometries in the file's own CRS (``crs`` None when the file declares none).

    Raises
    ------
    InvalidDataFile, FileTooLarge, FileTooComplex
        When the file cannot be read, is unsafe, an archive is too large or the file holds too much geometry.
    """
    path = Path(path)
    limits = limits or ReadLimits()
    fmt = detect_format(path, name_hint)
    if fmt == "csv":
        return _read_csv(path, encoding, limits)
    if fmt == "zip" and is_workbook(zip_members(path)):
        return _read_xlsx(path, layer, zip_limits, limits)
    if fmt == "zip":
        gdal_path, fmt, encoding, warnings = _zip_dataset(path, layer, zip_limits, encoding, limits)
        source = _read_ogr(gdal_path, fmt, layer, encoding, limits)
        source.warnings += warnings
        return source
    if fmt == "geojson":
        data = path.read_bytes()
        check_json_crs(data, name_hint or path.name)
        prescan_json(data, limits)
    return _read_ogr(str(path), fmt, layer, encoding, limits)
