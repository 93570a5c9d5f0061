"""The import page for planners (/admin/import) and its JSON steps: upload, inspect, dry run, commit.

Each step is a call on an import job (:mod:`layers.import_jobs`); the page polls the job while its dry run
or commit runs in the background. Every write needs the planner role and, with a session, the CSRF token.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Body, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from geo.errors import InvalidParameter
from layers.errors import ImportJobConflict
from layers.import_inspect import ReadOptions, inspect_file, mapping_choices
from layers.import_jobs import RUNNING, ImportJobs
from layers.import_report import ImportMode, ImportOptions, OnInvalid
from layers.models import Layer
from server.auth import PlannerDep, SessionDep
from server.caching import NO_STORE
from server.deps import RegistryDep, SettingsDep, StoreDep
from server.responses import AUTH_RESPONSES, ERROR_RESPONSES, NaNSafeJSONResponse, html_response
from server.routers.imports import SUFFIXES, Upload, import_options, receive_upload
from server.settings import Settings

router = APIRouter(tags=["Imports"], responses={**ERROR_RESPONSES, **AUTH_RESPONSES})

JobId = Annotated[str, Path(description="The job id the upload answered", max_length=64)]
_MAPPING_HELP = 'Like the import API\'s mapping: {"column": "field"} or {"field": {"column", "values", ...}}'


class InspectBody(BaseModel):
    """Read the file again: another of its layers, another target layer or text encoding."""

    file_layer: str | None = Field(None, max_length=200, description="layer of a GeoPackage or dataset in a zip")
    layer: str | None = Field(None, max_length=100, description="target catalogue layer")
    encoding: str | None = Field(None, max_length=40, description="text encoding when the file does not say")


class DryRunBody(BaseModel):
    """How to import the file; the commit uses the options of the last dry run."""

    mapping: dict[str, Any] | None = Field(None, description=_MAPPING_HELP)
    mode: str = Field("upsert", description="upsert by id, or replace the layer")
    on_invalid: str = Field("reject", description="reject the file when a row has a problem, or skip such rows")
    coordsys: str = Field("wgs84", description="wgs84, or gcj02 (AMap/Tencent) / bd09 (Baidu) to correct")
    source: str | None = Field(None, max_length=200, description="recorded as every feature's source")
    allow_remove: int | None = Field(None, ge=0, description="replace: how many stored features may be removed")


def _jobs(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.import_jobs
    return jobs


def _json(job: dict[str, Any], status_code: int = 200) -> Response:
    return NaNSafeJSONResponse(job, status_code=status_code, headers={"Cache-Control": NO_STORE})


def _read_options(job: dict[str, Any], settings: Settings) -> ReadOptions:
    return ReadOptions(
        name=str(job["file_name"]),
        file_layer=job.get("file_layer"),
        encoding=job.get("encoding"),
        zip_limits=settings.api.zip_limits,
        read_limits=settings.api.read_limits,
    )


async def _inspect(
    request: Request, job: dict[str, Any], layer: Layer, store: StoreDep, settings: Settings
) -> dict[str, Any]:
    """Read the job's file and keep what it holds (the preview beside the job); return the job."""
    jobs = _jobs(request)
    found = await run_in_threadpool(inspect_file, store, layer, jobs.upload_path(job), _read_options(job, settings))
    jobs.save_preview(job["id"], found.pop("preview"))
    changes = {"inspection": found, "layer": layer.id, "report": None, "result": None, "choices": None}
    return jobs.update(job["id"], status="inspected", **changes)


def _options(
    request: Request, job: dict[str, Any], body: DryRunBody, layer: Layer, settings: Settings, author: str
) -> ImportOptions:
    """Return the import options, checked as the import API checks its form (400 naming a bad value)."""
    form = {k: str(v) for k, v in body.model_dump().items() if k != "mapping" and v is not None}
    form |= {k: v for k, v in (("layer", job.get("file_layer")), ("encoding", job.get("encoding"))) if v}
    upload = Upload(_jobs(request).upload_path(job), str(job["file_name"]), form | {"dry_run": "true"}, body.mapping)
    return import_options(upload, layer, settings.api, author)


@router.get("/admin/import", operation_id="getImportPage", summary="Import page (planners)", include_in_schema=False)
def import_page(
    request: Request, registry: RegistryDep, settings: SettingsDep, who: PlannerDep, session: SessionDep
) -> Response:
    """Return the page where planners upload a data file, check it on a map, map its columns and import it."""
    context = {
        "layers": [{"id": x.id, "title_zh": x.title_zh} for x in registry.projects()],
        "on_invalid": get_args(OnInvalid),
        "modes": get_args(ImportMode),
        "suffixes": ",".join(SUFFIXES),
        "max_mb": settings.api.import_max_bytes // 1024**2,
        "user": who.user,
        "csrf": session.csrf_token if session else "",
    }
    response = html_response(request, "admin_import.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


@router.post(
    "/admin/import/jobs",
    operation_id="createImportJob",
    summary="Upload a data file for import and inspect it (planners)",
    status_code=201,
)
async def create_job(
    request: Request, store: StoreDep, registry: RegistryDep, settings: SettingsDep, who: PlannerDep
) -> Response:
    """Save the multipart ``file`` as a new job for the ``target`` layer, read it, and return what it holds."""
    jobs = _jobs(request)
    job, directory = jobs.create(who.user, "")
    try:
        upload = await receive_upload(request, settings.api, directory)
        if not upload.form.get("target"):
            raise InvalidParameter("name the catalogue layer to import into as the form field `target`")
        layer = registry.get(upload.form["target"])
        form = upload.form
        changes: dict[str, str | None] = {"file_name": upload.name, "upload": upload.path.name, "layer": layer.id}
        changes |= {"file_layer": form.get("file_layer") or None, "encoding": form.get("encoding") or None}
        job = jobs.update(job["id"], **changes)
        job = await _inspect(request, job, layer, store, settings)
    except Exception:
        jobs.remove(job["id"])  # nothing of a file that cannot be imported is kept
        raise
    return _json(job, 201)


@router.get("/admin/import/jobs/{job_id}", operation_id="getImportJob", summary="An import job's state (planners)")
def get_job(request: Request, job_id: JobId, who: PlannerDep) -> Response:
    """Return the job: status, progress (rows done of total), the inspection and the reports."""
    return _json(_jobs(request).load(job_id, who.user))


@router.post("/admin/import/jobs/{job_id}/inspect", operation_id="inspectImportJob", summary="Read the file again")
async def reinspect_job(
    request: Request,
    job_id: JobId,
    body: Annotated[InspectBody, Body()],
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    who: PlannerDep,
) -> Response:
    """Read another layer of the file, or for another target layer; the earlier dry run is dropped."""
    jobs = _jobs(request)
    job = jobs.load(job_id, who.user)
    if job["status"] in RUNNING:
        raise ImportJobConflict(f"the job is {job['status']}; wait for it to finish")
    layer = registry.get(body.layer or job["layer"])
    job = jobs.update(job_id, file_layer=body.file_layer or job.get("file_layer"), encoding=body.encoding)
    return _json(await _inspect(request, job, layer, store, settings))


@router.get("/admin/import/jobs/{job_id}/preview", operation_id="getImportPreview", summary="Preview features")
def get_preview(request: Request, job_id: JobId, who: PlannerDep) -> Response:
    """Return the first rows as GeoJSON in WGS84 as given (``as_is``) and corrected from ``gcj02`` and ``bd09``."""
    jobs = _jobs(request)
    return _json(jobs.preview(jobs.load(job_id, who.user)))


@router.get("/admin/import/jobs/{job_id}/mapping", operation_id="getImportMapping", summary="Mapping choices")
def get_mapping(request: Request, job_id: JobId, registry: RegistryDep, who: PlannerDep) -> Response:
    """Return the target layer's fields (Chinese aliases) and statuses, the file's columns and distinct values."""
    job = _jobs(request).load(job_id, who.user)
    found = job.get("inspection") or {}
    return _json(mapping_choices(registry.get(job["layer"]), found.get("columns", []), found.get("values", {})))


@router.post("/admin/import/jobs/{job_id}/dry-run", operation_id="dryRunImportJob", summary="Dry run", status_code=202)
def dry_run_job(
    request: Request,
    job_id: JobId,
    body: Annotated[DryRunBody, Body()],
    store: StoreDep,
    registry: RegistryDep,
    settings: SettingsDep,
    who: PlannerDep,
) -> Response:
    """Check the file with these options in the background; poll the job for the report (in Chinese)."""
    jobs = _jobs(request)
    job = jobs.load(job_id, who.user)
    layer = registry.get(job["layer"])
    options = _options(request, job, body, layer, settings, who.user)
    return _json(jobs.dry_run(job, store, layer, options, body.model_dump(mode="json")), 202)


@router.post("/admin/import/jobs/{job_id}/commit", operation_id="commitImportJob", summary="Commit", status_code=202)
def commit_job(
    request: Request, job_id: JobId, store: StoreDep, registry: RegistryDep, settings: SettingsDep, who: PlannerDep
) -> Response:
    """Import the file with the options of its dry run, in the background; poll the job for progress."""
    jobs = _jobs(request)
    job = jobs.load(job_id, who.user)
    layer = registry.get(job["layer"])
    body = DryRunBody.model_validate(job.get("choices") or {})
    options = replace(_options(request, job, body, layer, settings, who.user), dry_run=False)
    return _json(jobs.commit(job, store, layer, options), 202)


@router.get("/admin/import/jobs/{job_id}/skipped.csv", operation_id="getImportSkipped", summary="Skipped rows")
def get_skipped(request: Request, job_id: JobId, who: PlannerDep) -> Response:
    """Return the rows the last dry run or commit skipped, with the reasons, as CSV for Excel (UTF-8, BOM)."""
    jobs = _jobs(request)
    job = jobs.load(job_id, who.user)
    headers = {
        "Content-Disposition": f'attachment; filename="skipped-{job["layer"]}.csv"',
        "Cache-Control": NO_STORE,
    }
    return Response(jobs.skipped_csv(job), media_type="text/csv; charset=utf-8", headers=headers)
