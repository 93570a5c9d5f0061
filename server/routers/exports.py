"""Downloads of a layer or a query result: GeoJSON, CSV, XLSX, GeoPackage, FlatGeobuf, zipped Shapefile, GeoParquet."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from geo.crs import CRS84, crs_uri
from geo.writers import FORMATS, ExportFormat, parse_format
from layers.export import ExportJob, SheetsBy, export_filename, prepare_export, text_chunks, write_export
from server.deps import FeatureQuery, FeatureQueryDep, StoreDep
from server.responses import ERROR_RESPONSES

router = APIRouter(tags=["Exports"], responses=ERROR_RESPONSES)

_FORMAT_HELP = "Output format: " + ", ".join(FORMATS) + " (shp is a zip with .shp/.shx/.dbf/.prj/.cpg)"
_CRS_HELP = (
    "Output CRS: CRS84 (default), EPSG:4490, EPSG:4546, EPSG:4547 or EPSG:3857 (OGC URI or EPSG:nnnn). "
    "GeoJSON outside CRS84 carries a GeoJSON-2008 `crs` member (not RFC 7946)."
)
CrsParam = Annotated[str | None, Query(description=_CRS_HELP)]
GeometryParam = Annotated[
    Literal["wkt", "lonlat"], Query(description="CSV only: geometry as a `wkt` column or `lon`/`lat` (points only)")
]
HeadersParam = Annotated[
    Literal["name", "zh"] | None,
    Query(
        description="CSV and XLSX: column headers as attribute names or Chinese aliases (default: CSV name, XLSX zh)"
    ),
]
SheetsParam = Annotated[
    Literal["layer", "county"],
    Query(description="XLSX only: one sheet for the layer, or one sheet per county (区县)"),
]
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {f.media_type: {} for f in FORMATS.values()}, "description": "The exported file"}
}


def content_disposition(ascii_name: str, utf8_name: str) -> str:
    """Return an RFC 6266 attachment header with an ASCII ``filename`` and a UTF-8 ``filename*``."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name, safe='')}"


def _write_temp(job: ExportJob, fmt: ExportFormat, zh: bool, sheets: SheetsBy) -> Path:
    """Write the export into a fresh temporary directory; remove the directory if writing fails."""
    directory = Path(tempfile.mkdtemp(prefix="planmap-export-"))
    try:
        return write_export(job, fmt, directory / f"{job.layer.id}.{fmt.ext}", zh=zh, sheets=sheets)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


async def _export(
    store: StoreDep,
    query: FeatureQuery,
    fmt: ExportFormat,
    crs: str | None,
    geometry: str,
    headers: str | None,
    sheets: SheetsBy = "layer",
) -> Response:
    job = await run_in_threadpool(prepare_export, store, query.layer, query.selection, crs or CRS84)
    today = date.today()
    name = export_filename(query.layer, query.selection, fmt.ext, today)
    title = export_filename(query.layer, query.selection, fmt.ext, today, title=query.layer.title_zh)
    response_headers = {
        "Content-Disposition": content_disposition(name, title),
        "Content-Crs": f"<{crs_uri(job.schema.crs)}>",
        "OGC-NumberMatched": str(job.matched),
    }
    if fmt.streamed:
        chunks = text_chunks(job, fmt, "lonlat" if geometry == "lonlat" else "wkt", zh=headers == "zh")
        return StreamingResponse(chunks, media_type=fmt.media_type, headers=response_headers)
    path = await run_in_threadpool(_write_temp, job, fmt, headers != "name", sheets)
    cleanup = BackgroundTask(shutil.rmtree, path.parent, ignore_errors=True)
    return FileResponse(path, media_type=fmt.media_type, headers=response_headers, background=cleanup)


@router.get("/collections/{collectionId}/export", operation_id="exportCollection", responses=_RESPONSES)
async def export_collection(
    query: FeatureQueryDep,
    store: StoreDep,
    format: Annotated[str, Query(description=_FORMAT_HELP)] = "geojson",
    crs: CrsParam = None,
    geometry: GeometryParam = "wkt",
    headers: HeadersParam = None,
    sheets: SheetsParam = "layer",
) -> Response:
    """Download the layer's features matching the selection as a file."""
    return await _export(store, query, parse_format(format), crs, geometry, headers, sheets)


@router.get("/export/{collectionId}.{ext}", operation_id="exportCollectionByExtension", responses=_RESPONSES)
async def export_by_extension(
    query: FeatureQueryDep,
    store: StoreDep,
    ext: Annotated[str, PathParam(description="File extension naming the format: " + ", ".join(FORMATS) + ", zip")],
    crs: CrsParam = None,
    geometry: GeometryParam = "wkt",
    headers: HeadersParam = None,
    sheets: SheetsParam = "layer",
) -> Response:
    """Download the layer's features matching the selection, the format named by the extension."""
    return await _export(store, query, parse_format(ext), crs, geometry, headers, sheets)
