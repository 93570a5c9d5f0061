"""Feature stores: the FeatureStore interface, the GeoPackage default and PostGIS to scale out."""

from __future__ import annotations

import os
from collections.abc import Sequence

from geo.storage.base import FeatureStore, Filter, HistoryEntry, SortKey
from geo.storage.gpkg import GeoPackageStore

__all__ = ["FeatureStore", "Filter", "GeoPackageStore", "HistoryEntry", "SortKey", "open_store"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    url_or_path: str | os.PathLike[str],
    *,
    schema: str = "planmap",
    pool_size: int = 4,
    timeout: float = 10.0,
    replicas: Sequence[str] = (),
    replica_wait_s: float = 0.5,
    version_ttl_s: float = 0.0,
) -> FeatureStore:
    """Open the store a setting names: a PostgreSQL URL or the path of a GeoPackage file.

    Parameters
    ----------
    url_or_path : ``postgresql://`` or ``postgres://`` URL (PostGISStore), or a file path
        (GeoPackageStore; the file is created when absent).
    schema, pool_size, timeout : the PostgreSQL schema holding planmap's tables, the most pooled connections
        and the longest wait for one in seconds (PostGIS only).
    replicas, replica_wait_s : streaming replicas answering reads, and the longest wait for one to replay a
        write a read must see (PostGIS only; see ``PostGISStore``).
    version_ttl_s : how long a worker reuses a layer version it read (PostGIS only, without replicas).

    Returns
    -------
    FeatureStore
        The open store; use it as a context manager or call ``close()``.

    Raises
    ------
    ValueError
        For a URL of any other scheme, or replicas given with a GeoPackage.
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

        return PostGISStore(
            target,
            schema=schema,
            pool_size=pool_size,
            timeout=timeout,
            replicas=replicas,
            replica_wait_s=replica_wait_s,
            version_ttl_s=version_ttl_s,
        )
    if "://" in target:
        raise ValueError(f"unsupported store URL {target!r}: use postgresql://... or a GeoPackage path")
    if replicas:
        raise ValueError("read replicas need a PostgreSQL store: set the database URL too")
    return GeoPackageStore(target)
