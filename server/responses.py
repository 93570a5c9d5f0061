"""Media types, NaN-safe JSON responses, output-format negotiation, HTML pages and documented errors."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from geo import geojson
from geo.textlists import split_list
from layers.errors import InvalidQueryParameter
from server.errors import ErrorBody
from server.security import csp_nonce


class MediaType(StrEnum):
    """Media types planmap serves."""

    json = "application/json"
    geojson = "application/geo+json"
    schemajson = "application/schema+json"
    openapi = "application/vnd.oai.openapi+json;version=3.0"
    html = "text/html"
    mvt = "application/vnd.mapbox-vector-tile"
    png = "image/png"
    csv = "text/csv"
    gpkg = "application/geopackage+sqlite3"
    xml = "application/xml"


class OutputFormat(StrEnum):
    """Values of the ``f`` query parameter."""

    json = "json"
    geojson = "geojson"
    html = "html"


FORMAT_MEDIA = {OutputFormat.json: MediaType.json, OutputFormat.geojson: MediaType.geojson}

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.globals["csp_nonce"] = csp_nonce


class NaNSafeJSONResponse(JSONResponse):
    """JSON with Chinese text as UTF-8 and NaN/inf written as null (Starlette's JSONResponse rejects NaN)."""

    def render(self, content: Any) -> bytes:
        """Serialise compactly; NaN becomes null."""
        return geojson.dumps(content)


class GeoJSONResponse(NaNSafeJSONResponse):
    """A GeoJSON document (``application/geo+json``)."""

    media_type = MediaType.geojson.value


class SchemaJSONResponse(NaNSafeJSONResponse):
    """A JSON Schema document (``application/schema+json``)."""

    media_type = MediaType.schemajson.value


def _accepts_html(accept: str) -> bool:
    """Return whether the Accept header prefers text/html over JSON (browsers send text/html first)."""
    best_html = best_json = 0.0
    for item in split_list(accept):
        kind, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        kind = kind.strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, quality)
        elif kind.endswith("json"):
            best_json = max(best_json, quality)
    return best_html > best_json


def choose_format(request: Request, f: OutputFormat | None, default: OutputFormat = OutputFormat.json) -> OutputFormat:
    """Choose the output format: the ``f`` parameter first, then the Accept header, else ``default``."""
    if f is not None:
        return f
    return OutputFormat.html if _accepts_html(request.headers.get("accept", "")) else default


def html_response(request: Request, template: str, context: dict[str, Any]) -> Response:
    """Render a Jinja2 page from ``server/templates``."""
    return TEMPLATES.TemplateResponse(request, template, context, media_type=MediaType.html.value)


def clamp_limit(limit: int | None, default: int, maximum: int) -> tuple[int, bool]:
    """Return the effective page size and whether the requested one was clamped to ``maximum``.

    OGC API Features Part 1 (/rec/core/fc-limit-response) lets servers clamp rather than reject.
    """
    if limit is None:
        return min(default, maximum), False
    if limit < 1:
        raise InvalidQueryParameter(f"limit must be at least 1, got {limit}")
    return (maximum, True) if limit > maximum else (limit, False)


_ERROR = {"model": ErrorBody}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "Invalid parameter (bad bbox, crs, filter, property, limit or datetime)"},
    404: {**_ERROR, "description": "Unknown collection or feature"},
    406: {**_ERROR, "description": "Requested output format not available"},
    500: {**_ERROR, "description": "Server error"},
    503: {**_ERROR, "description": "Data store unavailable or the plan data not built"},
}
"""``responses=`` for routes: every error is an ``ErrorBody`` (see also :func:`document_errors`)."""

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {**_ERROR, "description": "No token, or a token that is not valid (`WWW-Authenticate: Bearer`)"},
    403: {**_ERROR, "description": "The token's role or counties do not allow this"},
}
"""``responses=`` additions for routes that need a token."""


_ANY_ROUTE = {
    "400": "Invalid parameter, or a path or query string that is not UTF-8 or holds %00",
    "414": "URL (path and query string) longer than the server accepts",
    "500": "Server error",
}
"""Errors any route can answer: request checks (server/limits.py), validation and the last-resort handler."""


def _generic_errors(operation: dict[str, Any]) -> dict[str, str]:
    errors = dict(_ANY_ROUTE)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        errors["404"] = "Unknown id in the path"
    if "requestBody" in operation:
        errors["413"] = "Request body larger than the server accepts"
    return errors


def _patch_errors(spec: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            # Validation failures are answered 400 with an ErrorBody (server/errors.py): FastAPI's own 422 goes;
            # a 422 a route declares itself (e.g. an unreadable data file) stays.
            if "HTTPValidationError" in str(responses.get("422", {})):
                del responses["422"]
            for code, description in _generic_errors(operation).items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45":  # JSON errors are ErrorBody; a page a route declares (HTML sign-in) stays
                    response.setdefault("content", {})["application/json"] = {"schema": ref}
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def document_errors(app: FastAPI) -> None:
    """Publish every error response in OpenAPI, FastAPI's own 422 included, as a 400 ``ErrorBody``."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _patch_errors(original())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
