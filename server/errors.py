"""One table mapping domain errors to HTTP statuses, and the handlers that answer them as JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo import errors as geo_errors
from layers import errors as layer_errors
from server.forms import MalformedBody

logger = logging.getLogger(__name__)

STATUS_CODES: dict[type[Exception], int] = {
    geo_errors.UnknownCollection: 404,
    geo_errors.UnknownFeature: 404,
    geo_errors.TileOutsideBounds: 404,
    geo_errors.UnknownTileMatrixSet: 404,
    geo_errors.InvalidParameter: 400,
    MalformedBody: 400,
    geo_errors.InvalidBBox: 400,
    geo_errors.InvalidCRS: 400,
    geo_errors.InvalidFilter: 400,
    geo_errors.InvalidFormat: 400,
    geo_errors.InvalidGeometry: 400,
    geo_errors.CRSMismatchError: 400,
    geo_errors.StaleVersion: 412,
    geo_errors.RecordExists: 409,
    geo_errors.UnknownRecord: 404,
    geo_errors.FeatureExists: 409,
    geo_errors.StoreUnavailable: 503,
    geo_errors.StoreFull: 507,
    layer_errors.UnknownLayer: 404,
    layer_errors.UnknownRaster: 404,
    layer_errors.UnknownStyle: 404,
    layer_errors.InvalidRaster: 422,
    layer_errors.UnknownCounty: 404,
    layer_errors.InvalidProgressQuery: 400,
    layer_errors.InvalidProgressUpdate: 400,
    layer_errors.InvalidQueryParameter: 400,
    layer_errors.InvalidMapping: 400,
    layer_errors.InvalidPlan: 400,
    layer_errors.UnknownPlan: 404,
    layer_errors.InvalidFeatureEdit: 400,
    layer_errors.OutsideCounty: 422,
    layer_errors.NotEditable: 405,
    layer_errors.DataNotBuilt: 503,
    layer_errors.ReportUnavailable: 503,
    layer_errors.NotAuthenticated: 401,
    layer_errors.PermissionDenied: 403,
    layer_errors.CsrfRefused: 403,
    layer_errors.TooManyAttempts: 429,
    layer_errors.InvalidAccount: 400,
    geo_errors.UnknownUser: 404,
    geo_errors.UserExists: 409,
    layer_errors.VersionRequired: 428,
    layer_errors.PhotoTooLarge: 413,
    layer_errors.IdempotencyKeyReused: 422,
    layer_errors.FontMissing: 503,
    layer_errors.StaleReport: 412,
    geo_errors.DuplicateRequest: 409,
    layer_errors.UnknownReview: 404,
    layer_errors.ReviewConflict: 409,
    layer_errors.InvalidAlertSetting: 400,
    layer_errors.UnknownImportJob: 404,
    layer_errors.ImportJobConflict: 409,
    geo_errors.InvalidDataFile: 422,
    geo_errors.FileTooLarge: 413,
    geo_errors.FileTooComplex: 413,
}

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="planmap"'}
"""RFC 6750 section 3: a 401 names the authentication scheme the client should use."""


class ErrorBody(BaseModel):
    """The JSON body of every error response (the OGC API exception shape plus the status)."""

    code: str
    description: str
    status: int


def error_response(status: int, code: str, description: str, details: Mapping[str, Any] | None = None) -> JSONResponse:
    """Return a JSON error response; ``details`` add fields a client can act on (e.g. a 412's current state)."""
    body = ErrorBody(code=code, description=description, status=status).model_dump()
    return JSONResponse({**(details or {}), **body}, status_code=status)


RETRY_AFTER_S = 5
"""``Retry-After`` on store errors that pass by themselves (a restart, a lock, space freed)."""


def response_for(exc: Exception) -> JSONResponse:
    """Return the JSON error response for a domain error (its status from ``STATUS_CODES``).

    Used by the exception handlers and by middleware, which runs outside them (authentication reads the
    store too, and a store that is down must answer 503 there as everywhere).
    """
    status = status_for(exc)
    response = error_response(status, getattr(exc, "code", type(exc).__name__), str(exc), getattr(exc, "details", None))
    if status == 401:
        response.headers.update(_CHALLENGE)
    if isinstance(exc, geo_errors.StoreUnavailable):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    if isinstance(exc, layer_errors.TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def status_for(exc: Exception) -> int:
    """Return the HTTP status of an exception from ``STATUS_CODES`` (by its nearest listed class; else 500)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def add_exception_handlers(app: FastAPI) -> None:
    """Answer domain errors, validation errors and HTTP errors with ``ErrorBody`` JSON."""

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        if status_for(exc) >= 500:
            logger.error("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return response_for(exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "InvalidParameterValue", _validation_message(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable"}.get(exc.status_code, "HTTPError")
        response = error_response(exc.status_code, code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
        return error_response(500, "InternalServerError", "the server failed to answer this request")

    for cls in (geo_errors.GeoError, layer_errors.LayerError):
        app.add_exception_handler(cls, domain_error)
    app.add_exception_handler(Exception, server_error)  # a bug still answers ErrorBody JSON, without internals
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
