"""The export formats: file extension, media type and whether a format is streamed as text or written to disk."""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidFormat


@dataclass(frozen=True)
class ExportFormat:
    """One output format.

    Attributes
    ----------
    name : the ``format`` parameter value, e.g. ``gpkg``.
    ext : the file extension without the dot (``zip`` for shapefiles).
    media_type : the HTTP Content-Type.
    driver : the GDAL driver writing it, or None for formats planmap encodes itself (GeoJSON, CSV, GeoParquet).
    streamed : True when the bytes are produced chunk by chunk (text formats); False when the file is
        written to disk first (GDAL and Parquet need a seekable file).
    """

    name: str
    ext: str
    media_type: str
    driver: str | None
    streamed: bool


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("geojson", "geojson", "application/geo+json", None, True),
        ExportFormat("csv", "csv", "text/csv; charset=utf-8", None, True),
        ExportFormat("gpkg", "gpkg", "application/geopackage+sqlite3", "GPKG", False),
        ExportFormat("fgb", "fgb", "application/vnd.flatgeobuf", "FlatGeobuf", False),
        ExportFormat("shp", "zip", "application/zip", "ESRI Shapefile", False),
        ExportFormat("parquet", "parquet", "application/vnd.apache.parquet", None, False),
        ExportFormat("xlsx", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", None, False),
    )
}
"""Supported formats by name."""

_ALIASES = {
    "json": "geojson",
    "geopackage": "gpkg",
    "flatgeobuf": "fgb",
    "shapefile": "shp",
    "geoparquet": "parquet",
    "excel": "xlsx",
}


def parse_format(value: str) -> ExportFormat:
    """Return the export format named ``value`` (a name, a common alias or a file extension).

    Raises
    ------
    InvalidFormat
        If no supported format has that name.

    Examples
    --------
    >>> parse_format("GeoPackage").ext
    'gpkg'
    >>> parse_format("zip").name
    'shp'
    """
    key = value.strip().lower().lstrip(".")
    key = _ALIASES.get(key, key)
    if key == "zip":
        key = "shp"
    if key not in FORMATS:
        raise InvalidFormat(f"unsupported format {value!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[key]
