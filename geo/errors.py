"""Exceptions raised by the geospatial core; ``server/errors.py`` maps them to HTTP statuses."""


class GeoError(Exception):
    """Geospatial core error."""

    def __init__(self, message: str | None = None) -> None:
        """Use the class docstring as the message when none is given."""
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidCRS(GeoError):
    """Unsupported or unparseable coordinate reference system."""


class CRSMismatchError(GeoError):
    """Coordinate reference systems are missing or do not match."""


class InvalidBBox(GeoError):
    """Bounding box is malformed or out of range."""


class InvalidGeometry(GeoError):
    """Geometry is invalid or of an unexpected type."""


class UnknownFeature(GeoError):
    """Feature not found."""


class UnknownCollection(GeoError):
    """Collection not found."""


class StoreUnavailable(GeoError):
    """Feature store is unavailable."""


class StaleVersion(GeoError):
    """Record was changed by someone else; reload and retry."""


class InvalidFilter(GeoError):
    """Filter expression is invalid."""


class TileOutsideBounds(GeoError):
    """Tile lies outside the tile matrix set or the data bounds."""


class InvalidFormat(GeoError):
    """Output format is unsupported or cannot hold this data."""


class UnknownTileMatrixSet(GeoError):
    """Tile matrix set not found."""


class InvalidParameter(GeoError):
    """Parameter value is invalid (e.g. an unknown colormap or a malformed rescale range)."""


class InvalidDataFile(GeoError):
    """Data file is unreadable, of an unsupported format or unsafe (e.g. a zip with traversing paths)."""


class FileTooLarge(GeoError):
    """Uploaded file or archive exceeds the size limit."""


class StoreFull(StoreUnavailable):
    """The store's disk is full: nothing more can be written until space is freed."""


class StoreReadOnly(StoreUnavailable):
    """The store cannot be written (a read-only or immutable file, or a read-only database)."""


class StoreBusy(StoreUnavailable):
    """The store is locked by another writer (e.g. a desktop GIS holding the file); try again shortly."""


class FileTooComplex(GeoError):
    """Data file has more features or vertices than an import accepts."""


class RecordExists(GeoError):
    """A document with this key exists already."""


class UnknownRecord(GeoError):
    """Document not found."""


class FeatureExists(GeoError):
    """A feature with this id exists already, or existed and was deleted (ids are never reused)."""


class UnknownUser(GeoError):
    """No account with that user name."""


class UserExists(GeoError):
    """An account with that user name exists already."""


class DuplicateRequest(GeoError):
    """A report with this idempotency key was recorded already; nothing was written."""
