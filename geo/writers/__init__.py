"""Streaming exports of feature layers: GeoJSON, CSV, GeoPackage, FlatGeobuf, zipped Shapefile, GeoParquet."""

from geo.writers.files import shapefile_field_names, write_file
from geo.writers.formats import FORMATS, ExportFormat, parse_format
from geo.writers.frames import ExportSchema, conform, conform_all, iter_frames
from geo.writers.text import UTF8_BOM, csv_chunks, geojson_chunks

__all__ = [
    "FORMATS",
    "UTF8_BOM",
    "ExportFormat",
    "ExportSchema",
    "conform",
    "conform_all",
    "csv_chunks",
    "geojson_chunks",
    "iter_frames",
    "parse_format",
    "shapefile_field_names",
    "write_file",
]
