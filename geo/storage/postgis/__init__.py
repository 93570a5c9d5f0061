"""The PostGIS store: one PostgreSQL schema (psycopg 3 with a connection pool); install ``planmap[postgis]``."""

from geo.storage.postgis.store import PostGISStore

__all__ = ["PostGISStore"]
