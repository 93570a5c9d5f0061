"""The planmap system tables, defined once for both stores, and the Alembic revisions that build them.

``tables.metadata`` is the schema; ``upgrade(connection, schema)`` brings a GeoPackage or a PostgreSQL schema
to it. Databases made before Alembic was used are recognised by the baseline revision, which creates only
what they lack, so they upgrade in place.
"""

from geo.storage.schema.migrate import head, revision, upgrade, upgrade_geopackage, upgrade_postgis
from geo.storage.schema.tables import VERSION_TABLE, metadata

__all__ = ["VERSION_TABLE", "head", "metadata", "revision", "upgrade", "upgrade_geopackage", "upgrade_postgis"]
