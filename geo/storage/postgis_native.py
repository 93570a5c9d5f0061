"""PostGIS-native fast paths of ``PostGISStore``: nearest features (KNN), aggregates and vector tiles.

Kept apart from ``postgis.py`` (connections, layers, history) so each module stays readable; the mixin
relies on the store's ``_conn``, ``_t``, ``_s``, ``_columns`` and ``_where`` helpers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg
from psycopg.rows import TupleRow

import geopandas as gpd

from geo.spatial_index import search_box
from geo.storage import postgis_tiles
from geo.storage.aggregate import Aggregate, aggregate_sql, frame_from_aggregate_rows
from geo.storage.base import Filter
from geo.storage.codec import frame_from_rows, read_columns
from geo.storage.sqlfilter import _q
from geo.storage.tilespec import MvtTile
from geo.types import BBox

Connection = psycopg.Connection[TupleRow]

# Feature-to-point distances on the WGS84 spheroid (geography). The nearest point for the bearing is
# found in lon/lat with longitudes scaled by k (the ratio of a degree's length along the parallel to its
# length along the meridian at the point), a plane that is conformal at the point, so for a city-sized
# radius it is the geodesic nearest point to within a fraction of a degree of bearing.
_NEAREST = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g),
knn AS (
    SELECT ST_Distance(t.geom::geography, p.g::geography) AS d FROM {table} t, p
    WHERE t.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
    ORDER BY t.geom <-> p.g LIMIT %(knn)s
),
bound AS (
    SELECT CASE WHEN %(knn)s = 0 OR count(*) < %(knn)s THEN %(r)s::float8
        ELSE least(%(r)s::float8, max(d)) END AS r FROM knn
),
hits AS (
    SELECT {select}, ST_AsBinary(t.geom) AS wkb, ST_Distance(t.geom::geography, p.g::geography) AS distance_m,
        coalesce(degrees(ST_Azimuth(p.g::geography, ST_Scale(ST_ClosestPoint(
            ST_Scale(t.geom, %(k)s, 1), ST_Scale(p.g, %(k)s, 1)), 1 / %(k)s, 1)::geography)), 0) AS bearing_deg
    FROM {table} t, p, bound
    WHERE t.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
        AND ST_DWithin(t.geom::geography, p.g::geography, bound.r + 1)
)
SELECT * FROM hits WHERE distance_m <= (SELECT r FROM bound) ORDER BY distance_m, "id" LIMIT %(limit)s
"""


class PostGISNative:
    """Mixin: the FeatureStore methods PostGIS answers in SQL."""

    native_nearest = True
    native_aggregate = True
    native_mvt = True
    id_column = "id"
    schema: str
    _s: str

    if TYPE_CHECKING:

        def _conn(self, transaction: bool = False) -> AbstractContextManager[Connection]: ...
        def _t(self, table: str) -> str: ...
        def _columns(self, conn: Connection, layer: str) -> dict[str, str]: ...
        def layers(self) -> list[str]: ...  # noqa: D102
        @staticmethod
        def _where(layer: str, where: Filter | None, types: dict[str, str]) -> tuple[str, list[Any]]: ...

    def nearest(
        self,
        layer: str,
        lon: float,
        lat: float,
        radius_m: float,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """Return the features within ``radius_m`` of a point, nearest first, measured on the spheroid.

        The GiST index's KNN order (``<->``) finds the ``limit`` nearest candidates first; their
        largest geodesic distance bounds the exact search, so a large radius does not measure every
        feature in it.
        """
        x0, y0, x1, y1 = search_box(lon, lat, radius_m)
        with self._conn() as conn:
            types = self._columns(conn, layer)
            wanted = read_columns(columns, types, self.id_column)
            select = ", ".join(f"t.{_q(c)}" for c in wanted)
            sql = _NEAREST.format(table=self._t(layer), select=select)
            params: dict[str, Any] = {"lon": lon, "lat": lat, "r": float(radius_m), "k": _lon_scale(lat)}
            params |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "knn": limit or 0, "limit": limit}
            rows = conn.execute(sql, params).fetchall()
        frame = frame_from_rows([r[: len(wanted) + 1] for r in rows], wanted, types)
        frame["distance_m"] = [float(r[-2]) for r in rows]
        frame["bearing_deg"] = [float(r[-1]) % 360.0 for r in rows]
        return frame

    def read_tile_candidates(
        self,
        layer: str,
        bbox: BBox,
        *,
        where: Filter | None = None,
        columns: Sequence[str] | None = None,
        limit: int | None = None,
        cell: float | None = None,
    ) -> gpd.GeoDataFrame:
        """Choose the tile's rows in SQL on the GiST index (``thin_frame``'s rule) and read only those."""
        with self._conn() as conn:
            types, wanted, cond, params = self._tile_query(conn, layer, where, columns)
            sql, tile = self._candidates(conn, layer, wanted, cond, bbox, cell, limit)
            rows = conn.execute(
                f"SELECT {', '.join(_q(c) for c in wanted)}, ST_AsBinary(geom) FROM ({sql}) AS q", {**params, **tile}
            ).fetchall()
        return frame_from_rows(rows, wanted, types)

    def mvt_layer(self, layer: str, tile: MvtTile, where: Filter | None = None) -> tuple[bytes, int]:
        """Return one MVT layer message made by ST_AsMVT, and its feature count."""
        if not tile.srid:
            raise ValueError("ST_AsMVT needs the tile CRS's EPSG code")
        with self._conn() as conn:
            _, wanted, cond, params = self._tile_query(conn, layer, where, tile.properties)
            candidates, box_params = self._candidates(conn, layer, wanted, cond, tile.bbox, tile.cell, tile.limit)
            tx0, ty0, tx1, ty1 = tile.xy_bounds
            params |= box_params
            params |= {"tx0": tx0, "ty0": ty0, "tx1": tx1, "ty1": ty1, "name": tile.name, "extent": tile.extent}
            params |= {"buffer": tile.buffer, "tiny": tile.extent / 256.0}
            row = conn.execute(postgis_tiles.mvt_sql(candidates, wanted, tile.srid), params).fetchone()
        return (bytes(row[0]), int(row[1])) if row and row[0] is not None else (b"", 0)

    def _overview_table(self, layer: str) -> str:
        """Return the quoted name of a layer's low-zoom overview table (``planmap_`` names are reserved)."""
        digest = hashlib.md5(layer.encode(), usedforsecurity=False).hexdigest()[:16]
        return self._t(f"planmap_ov_{digest}")

    def _build_overview(self, conn: Connection, layer: str) -> None:
        """Rebuild the layer's overview inside the caller's transaction (after the layer was written)."""
        for sql, params in postgis_tiles.overview_build_sql(self._t(layer), self._overview_table(layer)):
            conn.execute(sql, params)

    def _candidates(
        self,
        conn: Connection,
        layer: str,
        wanted: list[str],
        cond: str,
        bbox: BBox,
        cell: float | None,
        limit: int | None,
    ) -> tuple[str, dict[str, Any]]:
        """Return the candidates query of a tile and its box parameters, from the overview when it applies."""
        z = postgis_tiles.overview_level(cell)
        if cond == "TRUE" and z is not None and cell:
            overview = self._overview_table(layer)
            if conn.execute("SELECT to_regclass(%s)", [overview]).fetchone() != (None,):
                sql = postgis_tiles.overview_candidates_sql(self._t(layer), overview, wanted)
                return sql, postgis_tiles.overview_params(bbox, cell, z, limit)
        sql = postgis_tiles.candidates_sql(self._t(layer), wanted, cond, cell)
        return sql, postgis_tiles.tile_params(bbox, cell, limit)

    def _tile_query(
        self, conn: Connection, layer: str, where: Filter | None, columns: Sequence[str] | None
    ) -> tuple[dict[str, str], list[str], str, dict[str, Any]]:
        """Return the layer's types, the columns to read and the non-bbox conditions as named-parameter SQL."""
        types = self._columns(conn, layer)
        wanted = read_columns(columns, types, self.id_column)
        clause, values = self._where(layer, replace(where, bbox=None) if where else None, types)
        # The translator's positional %s become named parameters so they mix with the tile's own.
        parts = clause.removeprefix(" WHERE ").split("%s")
        cond = "".join(f"{part}%(w{i})s" for i, part in enumerate(parts[:-1])) + parts[-1]
        return types, wanted, cond or "TRUE", {f"w{i}": v for i, v in enumerate(values)}

    def aggregate(self, layer: str, spec: Aggregate, where: Filter | None = None) -> pd.DataFrame:
        """Count and sum per group with one GROUP BY query."""
        with self._conn() as conn:
            types = self._columns(conn, layer)
            clause, where_params = self._where(layer, where, types)
            sql, params = aggregate_sql(self._t(layer), spec, types, _q, clause)
            rows = conn.execute(sql, [*params, *where_params]).fetchall()
        return frame_from_aggregate_rows(rows, spec)


def _lon_scale(lat: float) -> float:
    """Return (metres per degree of longitude) / (metres per degree of latitude) at ``lat`` on WGS84."""
    e2 = 0.00669437999014
    phi = math.radians(lat)
    return max(math.cos(phi) * (1 - e2 * math.sin(phi) ** 2) / (1 - e2), 1e-9)
