"""What the PostGIS store answers in SQL: nearest features (KNN), tile candidates, vector tiles, aggregates."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

import geopandas as gpd

from geo.spatial_index import search_box
from geo.storage.codec import frame_from_rows, read_columns
from geo.storage.postgis import tiles
from geo.storage.postgis.aggregate import aggregate_sql, frame_from_aggregate_rows
from geo.storage.postgis.database import Connection, Database
from geo.storage.postgis.dialect import POSTGIS
from geo.storage.sql import Params, render_where
from geo.storage.sql import quote_ident as q
from geo.storage.values import Aggregate, Filter, MvtTile
from geo.types import BBox

_ID = "id"
MVT_SRID = {"WebMercatorQuad": 3857}
"""Tile matrix sets whose tiles ST_AsMVT makes (their CRS by EPSG code); others are encoded in Python."""

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
box AS (
    SELECT r + 1 AS r, ST_MakeEnvelope(
        greatest(-180, %(lon)s - %(sx)s * (r + 1)), greatest(-90, %(lat)s - %(sy)s * (r + 1)),
        least(180, %(lon)s + %(sx)s * (r + 1)), least(90, %(lat)s + %(sy)s * (r + 1)), 4326) AS b
    FROM bound
),
hits AS (
    SELECT {select}, t.geom, ST_Distance(t.geom::geography, p.g::geography) AS distance_m
    FROM {table} t, p, box
    WHERE t.geom && box.b AND ST_DWithin(t.geom::geography, p.g::geography, box.r)
),
top AS (
    SELECT * FROM hits WHERE distance_m <= (SELECT r FROM bound) ORDER BY distance_m, "id" LIMIT %(limit)s
)
SELECT {columns}, ST_AsBinary(top.geom) AS wkb, top.distance_m,
    coalesce(degrees(ST_Azimuth(p.g::geography, ST_Scale(ST_ClosestPoint(
        ST_Scale(top.geom, %(k)s, 1), ST_Scale(p.g, %(k)s, 1)), 1 / %(k)s, 1)::geography)), 0) AS bearing_deg
FROM top, p ORDER BY top.distance_m, top."id"
"""


def nearest(
    db: Database, layer: str, lon: float, lat: float, radius_m: float, limit: int | None, columns: Sequence[str] | None
) -> gpd.GeoDataFrame:
    """Return the features within ``radius_m`` of a point, nearest first, measured on the spheroid.

    The GiST index's KNN order (``<->``) finds the ``limit`` nearest candidates first; their largest
    geodesic distance bounds the exact search, whose index box shrinks to that bound, so a large radius
    does not measure every feature in it. The box of a bound ``r`` below the radius scales the radius's
    box by ``r / radius_m``: its longitude span was taken at the far latitude of the larger box, so the
    smaller box still holds every point within ``r``.
    """
    x0, y0, x1, y1 = search_box(lon, lat, radius_m)
    per_m = max(float(radius_m), 1.0)
    with db.read() as conn:
        types = db.columns(conn, layer)
        wanted = read_columns(columns, types, _ID)
        select = ", ".join(f"t.{q(c)}" for c in wanted)
        # The WKB and the bearing are made for the answer's rows only, after the LIMIT.
        columns_sql = ", ".join(f"top.{q(c)}" for c in wanted)
        sql = _NEAREST.format(table=db.t(layer), select=select, columns=columns_sql)
        params: dict[str, Any] = {"lon": lon, "lat": lat, "r": float(radius_m), "k": _lon_scale(lat)}
        params |= {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "knn": limit or 0, "limit": limit}
        whole = x1 - x0 >= 360.0  # near a pole the box already spans every longitude: keep it so
        params |= {"sx": 360.0 if whole else max(x1 - lon, lon - x0) / per_m, "sy": max(y1 - lat, lat - y0) / per_m}
        rows = conn.execute(sql, params).fetchall()
    frame = frame_from_rows([r[: len(wanted) + 1] for r in rows], wanted, types)
    frame["distance_m"] = [float(r[-2]) for r in rows]
    frame["bearing_deg"] = [float(r[-1]) % 360.0 for r in rows]
    return frame


def _condition(layer: str, where: Filter | None, types: dict[str, str], p: Params) -> str:
    """Render the selection's non-bbox conditions on the tile table ``t`` (``TRUE`` when there are none)."""
    cond = render_where(replace(where, bbox=None) if where else None, types, dialect=POSTGIS, params=p, layer=layer)
    return cond or "TRUE"


def tile_candidates(
    db: Database,
    layer: str,
    bbox: BBox,
    where: Filter | None,
    columns: Sequence[str] | None,
    limit: int | None,
    cell: float | None,
) -> gpd.GeoDataFrame:
    """Choose the tile's rows in SQL on the GiST index (``thin_frame``'s rule) and read only those."""
    with db.read() as conn:
        types = db.columns(conn, layer)
        wanted = read_columns(columns, types, _ID)
        p = POSTGIS.params()
        sql = _candidates(db, conn, layer, wanted, _condition(layer, where, types, p), bbox, cell, limit, p)
        select = ", ".join(q(c) for c in wanted)
        rows = conn.execute(f"SELECT {select}, ST_AsBinary(geom) FROM ({sql}) AS q", p.values).fetchall()
    return frame_from_rows(rows, wanted, types)


def mvt_layer(db: Database, layer: str, tile: MvtTile, where: Filter | None) -> tuple[bytes, int] | None:
    """Return one MVT layer made by ST_AsMVT and its feature count; None for a tile ST_AsMVT cannot make."""
    srid = MVT_SRID.get(str(tile.grid.tms.id))
    if srid is None:
        return None
    with db.read() as conn:
        types = db.columns(conn, layer)
        wanted = read_columns(tile.properties, types, _ID)
        p = POSTGIS.params()
        cond = _condition(layer, where, types, p)
        candidates = _candidates(db, conn, layer, wanted, cond, tile.bbox, tile.cell, tile.limit, p)
        tx0, ty0, tx1, ty1 = tile.grid.xy_bounds
        p.values.update({"tx0": tx0, "ty0": ty0, "tx1": tx1, "ty1": ty1, "name": tile.name})
        p.values.update({"extent": tile.extent, "buffer": tile.buffer, "tiny": tile.extent / 256.0})
        row = conn.execute(tiles.mvt_sql(candidates, wanted, srid), p.values).fetchone()
    return (bytes(row[0]), int(row[1])) if row and row[0] is not None else (b"", 0)


def overview_table(db: Database, layer: str) -> str:
    """Return the quoted name of a layer's low-zoom overview table (``planmap_`` names are reserved)."""
    digest = hashlib.md5(layer.encode(), usedforsecurity=False).hexdigest()[:16]
    return db.t(f"planmap_ov_{digest}")


def build_overview(db: Database, conn: Connection, layer: str) -> None:
    """Rebuild the layer's overview inside the caller's transaction (after the layer was written)."""
    for sql, params in tiles.overview_build_sql(db.t(layer), overview_table(db, layer)):
        conn.execute(sql, params)


def _candidates(
    db: Database,
    conn: Connection,
    layer: str,
    wanted: list[str],
    cond: str,
    bbox: BBox,
    cell: float | None,
    limit: int | None,
    p: Params,
) -> str:
    """Return the candidates query of a tile, its box parameters added to ``p``; from the overview when it applies."""
    z = tiles.overview_level(cell)
    if cond == "TRUE" and z is not None and cell:
        overview = overview_table(db, layer)
        if conn.execute("SELECT to_regclass(%s)", [overview]).fetchone() != (None,):
            p.values.update(tiles.overview_params(bbox, cell, z, limit))
            return tiles.overview_candidates_sql(db.t(layer), overview, wanted)
    p.values.update(tiles.tile_params(bbox, cell, limit))
    return tiles.candidates_sql(db.t(layer), wanted, cond, cell)


def aggregate(db: Database, layer: str, spec: Aggregate, where: Filter | None) -> pd.DataFrame:
    """Count and sum per group with one GROUP BY query."""
    with db.read() as conn:
        types = db.columns(conn, layer)
        p = POSTGIS.params()
        cond = render_where(where, types, dialect=POSTGIS, params=p, layer=layer)
        rows = conn.execute(aggregate_sql(db.t(layer), spec, types, cond, p), p.values).fetchall()
    return frame_from_aggregate_rows(rows, spec)


def _lon_scale(lat: float) -> float:
    """Return (metres per degree of longitude) / (metres per degree of latitude) at ``lat`` on WGS84."""
    e2 = 0.00669437999014
    phi = math.radians(lat)
    return max(math.cos(phi) * (1 - e2 * math.sin(phi) ** 2) / (1 - e2), 1e-9)
