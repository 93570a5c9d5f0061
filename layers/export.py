"""Exporting a plan layer: which columns, their aliases, the file name, and the paged read behind every format."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pyproj

from geo.crs import parse_crs
from geo.errors import InvalidFormat
from geo.storage.base import FeatureStore, Filter
from geo.storage.codec import STORE_CRS
from geo.writers import ExportFormat, ExportSchema, conform, csv_chunks, geojson_chunks, iter_frames, write_file
from geo.writers.frames import DEFAULT_CHUNK, conform_records, iter_records, same_coordinates
from geo.writers.text import CsvGeometry, Records
from geo.writers.xlsx import WorkbookSpec, write_xlsx
from layers.models import Layer
from layers.progress import initial_status
from layers.query import Selection, to_filter

SheetsBy = Literal["layer", "county"]
"""How an XLSX export is split into sheets."""
FILENAME_MAX = 120
"""Longest file-name stem (before the extension); file systems allow 255 bytes, mail clients fewer."""

_SLUG = re.compile(r"[^a-z0-9.-]+")
_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_DASHES = re.compile(r"-{2,}")


@dataclass(frozen=True)
class ExportJob:
    """A resolved export: the store filter, output schema and paging; ``frames()`` yields conformed pages."""

    store: FeatureStore
    layer: Layer
    where: Filter
    schema: ExportSchema
    matched: int
    as_of: date | None = None
    chunk_size: int = DEFAULT_CHUNK

    def frames(self) -> Iterator[gpd.GeoDataFrame]:
        """Yield pages of the selection in the output CRS, status replayed to ``as_of`` when given."""
        columns = [c for c in self.schema.columns if c != "id"]
        for frame in iter_frames(self.store, self.layer.id, self.where, columns=columns, chunk_size=self.chunk_size):
            if self.as_of is not None and "status" in frame.columns:
                frame["status"] = self._status_as_of(frame)
            yield conform(frame, self.schema, {})

    def records(self) -> Iterator[Records]:
        """Yield pages as attribute columns and WKB geometries (see :attr:`reads_wkb`), no geometry built."""
        columns = [c for c in self.schema.columns if c != "id"]
        pages = iter_records(self.store, self.layer.id, self.where, columns=columns, chunk_size=self.chunk_size)
        for frame, wkb in pages:
            yield conform_records(frame, wkb, self.schema)

    @property
    def reads_wkb(self) -> bool:
        """Whether pages may stay WKB: no status replay, and the output CRS takes the stored coordinates as they are."""
        return self.as_of is None and same_coordinates(STORE_CRS, self.schema.crs)

    def _status_as_of(self, frame: gpd.GeoDataFrame) -> list[str]:
        hist = self.store.history(self.layer.id, feature_ids=frame["id"].tolist(), until=self.as_of)
        latest = hist.drop_duplicates("feature_id", keep="last").set_index("feature_id")["status"]
        return frame["id"].map(latest).astype(object).fillna(initial_status(self.layer)).tolist()


def export_columns(layer: Layer, store: FeatureStore) -> dict[str, str]:
    """Return the public attributes the store holds, in catalogue order, with their planmap types."""
    held = store.columns(layer.id)
    return {f.name: held[f.name] for f in layer.fields if f.public and f.name in held}


def column_labels(layer: Layer) -> dict[str, str]:
    """Return attribute name -> ``"<Chinese alias> <English alias>"`` (for field-mapping files)."""
    return {f.name: f"{f.alias_zh} {f.alias_en}" for f in layer.fields}


def zh_headers(layer: Layer) -> dict[str, str]:
    """Return attribute name -> Chinese column header, unique (a clash gets the name appended).

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> zh_headers(load_catalogue().get("farmland"))["name"]
    '名称'
    """
    out: dict[str, str] = {}
    for spec in layer.fields:
        header = spec.alias_zh + (f"({spec.unit})" if spec.unit else "")
        out[spec.name] = header if header not in out.values() else f"{header}[{spec.name}]"
    out.update({"wkt": "几何(WKT)", "lon": "经度", "lat": "纬度", "x": "X坐标", "y": "Y坐标"})
    return out


def prepare_export(
    store: FeatureStore,
    layer: Layer,
    selection: Selection,
    crs: str | pyproj.CRS = "OGC:CRS84",
    chunk_size: int = DEFAULT_CHUNK,
) -> ExportJob:
    """Resolve a selection into an export job; every input error is raised here, before any byte is written.

    The features are counted here too, which runs the filter once against the store (so a filter the
    store cannot translate fails now) and gives ``matched``.

    Raises
    ------
    InvalidCRS, InvalidFilter, UnknownCounty
        For an unsupported CRS, a bad filter or an unknown county.
    """
    target = crs if isinstance(crs, pyproj.CRS) else parse_crs(crs)
    where = to_filter(selection, layer, store)
    schema = ExportSchema(
        name=layer.id,
        columns=export_columns(layer, store),
        geometry_type=layer.geometry_type,
        crs=target,
        labels=column_labels(layer),
    )
    matched = store.count(layer.id, where)
    return ExportJob(store, layer, where, schema, matched, as_of=selection.as_of, chunk_size=chunk_size)


def text_chunks(job: ExportJob, fmt: ExportFormat, geometry: CsvGeometry = "wkt", zh: bool = False) -> Iterator[bytes]:
    """Return the byte chunks of a streamed (GeoJSON or CSV) export; checks options before reading."""
    if fmt.name == "csv":
        return csv_chunks(job.frames(), job.schema, geometry, zh_headers(job.layer) if zh else None)
    return geojson_chunks(job.records() if job.reads_wkb else job.frames(), job.schema)


def workbook_spec(job: ExportJob, sheets: SheetsBy = "layer", zh: bool = True) -> WorkbookSpec:
    """Return the XLSX layout of an export: one sheet named after the layer, or one per county (``县市区``)."""
    group = None
    if sheets == "county":
        group = next((c for c in ("county_name", "county") if c in job.schema.columns), None)
        if group is None:
            raise InvalidFormat(f"sheets=county needs a county column; {job.layer.id} has none")
    notes = [("图层 layer", f"{job.layer.title_zh} ({job.layer.id})"), ("要素数 features", str(job.matched))]
    if job.as_of is not None:
        notes.append(("状态日期 status as of", job.as_of.isoformat()))
    return WorkbookSpec(
        title=job.layer.title_zh, headers=zh_headers(job.layer) if zh else {}, group_by=group, notes=notes
    )


def write_export(
    job: ExportJob,
    fmt: ExportFormat,
    path: Path,
    geometry: CsvGeometry = "wkt",
    zh: bool = False,
    sheets: SheetsBy = "layer",
) -> Path:
    """Write the export to ``path`` in any format (streamed formats are written chunk by chunk).

    An XLSX workbook always has lon/lat columns for points and WKT for other geometries (``geometry`` is
    for CSV); its headers are Chinese unless ``zh`` is False.
    """
    if fmt.name == "xlsx":
        return write_xlsx(job.frames(), job.schema, path, workbook_spec(job, sheets, zh))
    if not fmt.streamed:
        return write_file(job.frames(), job.schema, fmt, path)
    chunks = text_chunks(job, fmt, geometry, zh)
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return path


def _slug(text: str) -> str:
    """Lower-case ASCII letters, digits and ``-``; a dot survives only inside a number (``100.5``)."""
    text = _DOT.sub("-", _SLUG.sub("-", text.lower()))
    return _DASHES.sub("-", text).strip("-")[:40].strip("-")


def _filter_parts(selection: Selection) -> list[str]:
    parts = []
    if selection.county:
        parts.append("county-" + "-".join(selection.county))
    if selection.status:
        parts.append("status-" + "-".join(selection.status))
    for name, value in sorted(selection.attributes.items()):
        values = value if isinstance(value, list | tuple) else [value]
        parts.append(f"{name}-" + "-".join(str(v) for v in values))
    if selection.bbox is not None:
        parts.append("bbox")
    if selection.cql:
        parts.append("cql-" + hashlib.sha1(selection.cql.encode()).hexdigest()[:8])
    if selection.as_of is not None:
        parts.append(f"asof-{selection.as_of.isoformat()}")
    return parts


def export_filename(layer: Layer, selection: Selection, ext: str, today: date, title: str | None = None) -> str:
    """Return a safe download name saying layer, filter and date.

    ASCII letters, digits, ``-``, ``.`` and ``_`` only (no path separators, no ``..``), at most
    ``FILENAME_MAX`` characters before the extension. ``title`` replaces the layer id when given
    (e.g. the Chinese title for an RFC 6266 ``filename*``); it is stripped of separators but kept in UTF-8.

    Examples
    --------
    >>> from layers.registry import load_catalogue
    >>> sel = Selection(county=("430321",), status=("completed",), as_of=date(2025, 6, 30))
    >>> export_filename(load_catalogue().get("farmland"), sel, "geojson", date(2026, 11, 27))
    'farmland_county-430321_status-completed_asof-2025-06-30_20261127.geojson'
    """
    head = re.sub(r"[\\/\x00-\x1f:*?\"<>|.]+", "-", title).strip("-") if title else layer.id
    parts = [head or layer.id, *(_slug(p) for p in _filter_parts(selection)), today.strftime("%Y%m%d")]
    stem = "_".join(p for p in parts if p)
    while ".." in stem:
        stem = stem.replace("..", ".")
    if len(stem) > FILENAME_MAX:
        stem = stem[: FILENAME_MAX - 9] + "_" + today.strftime("%Y%m%d")
    return f"{stem}.{_slug(ext) or 'bin'}"
