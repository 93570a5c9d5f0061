"""Feature stores: the FeatureStore interface, the GeoPackage default and PostGIS to scale out."""

from __future__ import annotations

import os

from geo.storage.base import FeatureStore, Filter, HistoryEntry, SortKey
from geo.storage.gpkg import GeoPackageStore

__all__ = ["FeatureStore", "Filter", "GeoPackageStore", "HistoryEntry", "SortKey", "open_store"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    url_or_path: str | os.PathLike[str], *, schema: str = "planmap", pool_size: int = 4, timeout: float = 10.0
) -> FeatureStore:
    """Open the store a setting names: a PostgreSQL URL or the path of a GeoPackage file.

    Parameters
    ----------
    url_or_path : ``postgresql://`` or ``postgres://`` URL (PostGISStore), or a file path
        (GeoPackageStore; the file is created when absent).
    schema, pool_size, timeout : the PostgreSQL schema holding planmap's tables, the most pooled connections
        and the longest wait for one in seconds (PostGIS only).

    Returns
    -------
    FeatureStore
        The open store; use it as a context manager or call ``close()``.

    Raises
    ------
    ValueError
        For a URL of any other scheme.
    StoreUnavailable
        When the database cannot be reached.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with open_store(pathlib.Path(tempfile.mkdtemp()) / "plan.gpkg") as store:
    ...     store.layers()
    []
    """
    target = os.fspath(url_or_path)
    if target.lower().startswith(_POSTGRES_SCHEMES):
        # Imported here so psycopg stays optional for GeoPackage-only installs.
        from geo.storage.postgis import PostGISStore

        return PostGISStore(target, schema=schema, pool_size=pool_size, timeout=timeout)
    if "://" in target:
        raise ValueError(f"unsupported store URL {target!r}: use postgresql://... or a GeoPackage path")
    return GeoPackageStore(target)
