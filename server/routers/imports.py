"""Imports of real data: a planner uploads a data file to replace or update a layer (or to dry-run it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from geo.errors import FileTooLarge, InvalidParameter
from geo.types import CoordSys
from layers.import_mapping import parse_mapping
from layers.import_report import ImportMode, ImportOptions, ImportReport, OnInvalid
from layers.importer import import_file
from layers.models import Layer
from layers.text import fields_problem
from server import uploads
from server.auth import PlannerDep
from server.deps import LayerDep, SettingsDep, StoreDep
from server.forms import read_form
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES
from server.settings import ApiSettings

router = APIRouter(tags=["Imports"], responses=ERROR_RESPONSES)

SUFFIXES = (".gpkg", ".zip", ".geojson", ".json", ".fgb", ".csv", ".txt", ".xlsx")
_CHUNK = 1 << 20
_MAPPING_MAX = 1 << 20
_TRUE = ("1", "true", "yes", "on")
_FORM_FIELDS: dict[str, Any] = {
    "file": {
        "type": "string",
        "format": "binary",
        "description": "GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf, CSV",
    },
    "mapping": {
        "type": "string",
        "description": 'JSON {"source column": "field"} or {"field": {"column", "values", "format", "unit"} '
        'or {"value"}} (text or a .json file part)',
    },
    "mode": {"type": "string", "enum": list(get_args(ImportMode)), "default": "replace"},
    "dry_run": {"type": "boolean", "default": False, "description": "report what would change, write nothing"},
    "coordsys": {
        "type": "string",
        "enum": list(get_args(CoordSys)),
        "default": "wgs84",
        "description": "gcj02 (AMap/Tencent) or bd09 (Baidu) for lon/lat from Chinese web maps",
    },
    "source": {"type": "string", "description": "recorded as every feature's `source`"},
    "encoding": {"type": "string", "description": "attribute text encoding when the file does not declare it"},
    "layer": {"type": "string", "description": "layer or zip member to read when the file holds several"},
    "on_invalid": {
        "type": "string",
        "enum": list(get_args(OnInvalid)),
        "default": "reject",
        "description": "reject the file when a row has a problem, skip such rows (listed in `skipped`), or clip "
        "geometries crossing the city edge to the city (listed in `clipped`; rows wholly outside skipped)",
    },
    "allow_remove": {
        "type": "integer",
        "minimum": 0,
        "description": "replace: how many stored features may be removed (default 10 % of them)",
    },
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": _FORM_FIELDS}}
        },
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ImportReport, "description": "The import was applied, or the dry-run report"},
    **AUTH_RESPONSES,
    413: {**ERROR_RESPONSES[400], "description": "The file is larger than the limit"},
    422: {"model": ImportReport, "description": "The file was rejected as a whole; `problems` names rows and reasons"},
}


@dataclass(frozen=True)
class Upload:
    """An uploaded file saved under a name of ours, its original (display) name and the form's options."""

    path: Path
    name: str
    form: dict[str, str]
    mapping: dict[str, Any] | None


def _check_length(request: Request, limit: int) -> None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + _MAPPING_MAX:
        raise FileTooLarge(f"the upload is {int(length)} bytes; at most {limit} bytes are accepted")


async def _save(upload: UploadFile, directory: Path, limit: int) -> Path:
    """Copy the upload to a file named by us (only a known suffix is kept from the client's name)."""
    suffix = PurePosixPath((upload.filename or "").replace("\\", "/")).suffix.lower()
    target = directory / ("upload" + (suffix if suffix in SUFFIXES else ""))
    written = 0
    with target.open("wb") as out:
        while chunk := await upload.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise FileTooLarge(f"the file is larger than {limit} bytes")
            out.write(chunk)
    return target


async def _mapping(value: str | UploadFile | None) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    text = (await value.read(_MAPPING_MAX)).decode("utf-8-sig") if isinstance(value, UploadFile) else value
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"mapping is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidParameter('mapping must be a JSON object {"source column": "field"} or {"field": {...}}')
    return {str(k): v for k, v in parsed.items()}


async def receive_upload(request: Request, api: ApiSettings, directory: Path) -> Upload:
    """Read the multipart form: the ``file`` part saved into ``directory``, the options as text."""
    _check_length(request, api.import_max_bytes)
    async with read_form(request, directory, max_files=2, max_fields=20) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameter("send the data file as the multipart form part `file`")
        path = await _save(upload, directory, api.import_max_bytes)
        name = PurePosixPath((upload.filename or "upload").replace("\\", "/")).name[:200]
        fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "mapping"}
        return Upload(path, name, fields, await _mapping(form.get("mapping")))


def _choice(value: str | None, allowed: tuple[str, ...], name: str, default: str) -> Any:
    if value in (None, ""):
        return default
    if value not in allowed:
        raise InvalidParameter(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _count(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    if not value.strip().isdigit():
        raise InvalidParameter(f"{name} must be a whole number of features, not {value!r}")
    return int(value)


def _check_text(upload: Upload) -> None:
    """Refuse form fields and mapping entries that are not storable text (NUL, lone surrogates)."""
    problem = fields_problem(upload.form)
    if problem is not None:
        raise InvalidParameter(problem)
    problem = fields_problem({k: v for k, v in (upload.mapping or {}).items() if isinstance(v, str)})
    if problem is not None:
        raise InvalidParameter(f"mapping: {problem}")


def import_options(upload: Upload, layer: Layer, api: ApiSettings, author: str) -> ImportOptions:
    """Return the import options of a form, checking each value (the mapping against the layer)."""
    _check_text(upload)
    form = upload.form
    return ImportOptions(
        mode=_choice(form.get("mode"), get_args(ImportMode), "mode", "replace"),
        dry_run=form.get("dry_run", "").strip().lower() in _TRUE,
        mapping=parse_mapping(upload.mapping, layer),
        coordsys=_choice(form.get("coordsys"), get_args(CoordSys), "coordsys", "wgs84"),
        source=form.get("source") or None,
        encoding=form.get("encoding") or None,
        file_layer=form.get("layer") or None,
        file_name=upload.name,
        author=author,
        allow_remove=_count(form.get("allow_remove"), "allow_remove"),
        on_invalid=_choice(form.get("on_invalid"), get_args(OnInvalid), "on_invalid", "reject"),
        zip_limits=api.zip_limits,
        read_limits=api.read_limits,
    )


@router.post(
    "/collections/{collectionId}/import",
    operation_id="importCollection",
    summary="Import a data file into a layer",
    openapi_extra=_BODY,
    responses=_RESPONSES,
)
async def import_collection(
    request: Request, layer: LayerDep, store: StoreDep, settings: SettingsDep, principal: PlannerDep
) -> JSONResponse:
    """Load a data file into the layer (replace or upsert by id), or report what would change (dry run)."""
    with uploads.workspace(settings.store.uploads, f"import-{layer.id}") as directory:
        upload = await receive_upload(request, settings.api, directory)
        options = import_options(upload, layer, settings.api, principal.user)
        report = await run_in_threadpool(import_file, store, layer, upload.path, options)
    return JSONResponse(report.model_dump(mode="json"), status_code=422 if report.status == "rejected" else 200)
