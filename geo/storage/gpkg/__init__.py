"""The GeoPackage store: one .gpkg file (sqlite3 for reads and history, GDAL for writing layers)."""

from geo.storage.gpkg.store import GeoPackageStore

__all__ = ["GeoPackageStore"]
