"""The PostGIS store: one PostgreSQL schema (psycopg 3 with a connection pool, installed with planmap)."""

from geo.storage.postgis.store import PostGISStore

__all__ = ["PostGISStore"]
