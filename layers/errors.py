"""Exceptions raised by the plan domain; ``server/errors.py`` maps them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class LayerError(Exception):
    """Plan layer error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class UnknownLayer(LayerError):
    """Layer not found in the plan catalogue."""


class UnknownCounty(LayerError):
    """County code not found."""


class InvalidProgressQuery(LayerError):
    """Progress query is invalid."""


class InvalidProgressUpdate(LayerError):
    """Progress update is invalid."""


class InvalidQueryParameter(LayerError):
    """Query parameter is invalid."""


class DataNotBuilt(LayerError):
    """The planmap data has not been built yet; run `planmap build-demo`."""


class UnknownRaster(LayerError):
    """Raster not found in the raster registry."""


class InvalidRaster(LayerError):
    """The raster file or its registration is not usable (no CRS, unreadable, bad name)."""


class NotAuthenticated(LayerError):
    """A valid access token is required (Authorization: Bearer <token>)."""


class PermissionDenied(LayerError):
    """The access token does not allow this (role or county outside its scope)."""


class VersionRequired(LayerError):
    """Updates must name the version they change: send If-Match with the feature's ETag."""


class PhotoTooLarge(LayerError):
    """The photo is larger than the server accepts."""


class InvalidMapping(LayerError):
    """The import's mapping file is malformed."""


class InvalidPlan(LayerError):
    """The plan or one of its targets is invalid."""


class UnknownPlan(LayerError):
    """No plan for that year."""


class InvalidFeatureEdit(LayerError):
    """The feature sent for a create, replace or update is not valid for the layer."""


class OutsideCounty(LayerError):
    """The project's outline does not lie within its county."""


class NotEditable(LayerError):
    """This collection is reference data; its features cannot be created, replaced or deleted here."""


class TooManyAttempts(LayerError):
    """Too many failed sign-ins; wait and try again."""

    def __init__(self, message: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CsrfRefused(LayerError):
    """This write came without the page's CSRF token or from another site; reload the page and try again."""


class InvalidAccount(LayerError):
    """The account's details are invalid (user name, role, counties or password)."""


class ReportUnavailable(LayerError):
    """The report cannot be made or served right now."""


class IdempotencyKeyReused(LayerError):
    """This Idempotency-Key was used for a different report; make a new key for a new report."""


class StaleReport(LayerError):
    """The feature changed since the report was made; ``details`` say whether resubmitting is safe."""

    code = "StaleVersion"  # the same error code as any other stale write; the details come on top

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None) -> None:
        """Keep the current state and the verdict to send with the error."""
        super().__init__(message)
        self.details = details or {}


class FontMissing(LayerError):
    """No font covering Chinese is installed; stamped photos cannot be drawn."""


class UnknownReview(LayerError):
    """There is no such report awaiting or past review."""


class ReviewConflict(LayerError):
    """The report cannot be approved or rejected as asked (decided already, or its project changed since)."""


class InvalidAlertSetting(LayerError):
    """The alert destination or rule is invalid."""


class UnknownStyle(LayerError):
    """Style not offered for this layer (planmap draws one style, `default`)."""


class UnknownImportJob(LayerError):
    """There is no such import job (or it was cleaned up, or it is another user's)."""


class ImportJobConflict(LayerError):
    """The import job cannot take this step now (a step is running, or the earlier step is missing)."""
