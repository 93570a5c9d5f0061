"""Tile SQL for PostGIS: the candidates rule of ``geo.storage.generic.thin_frame`` and MVT via ST_AsMVT.

The candidates of a tile are the features whose envelope meets the buffered tile box, thinned to the
largest envelope per grid cell (by envelope centre, cells anchored at -180, -90), largest first, ties by
id, capped. ``ST_AsMVTGeom`` then clips and snaps them to the tile grid; shapes smaller than one 256-px
screen pixel become their point on surface first, as ``geo.mvt.prepare`` does, so they stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from geo.storage.sql import quote_ident as q
from geo.types import BBox

_ENVELOPE = "ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)"


def candidates_sql(table: str, select: Sequence[str], attribute_sql: str, cell: float | None) -> str:
    """Return a query of the thinned, capped candidates (``select`` columns plus ``geom``), largest first.

    ``attribute_sql`` is a condition on ``t`` (or ``TRUE``); parameters: x0, y0, x1, y1 (CRS84 box),
    cell (degrees, when ``cell``) and lim (cap, NULL for none).
    """
    columns = ", ".join(f"t.{q(c)}" for c in select)
    area = "(ST_XMax(t.geom) - ST_XMin(t.geom)) * (ST_YMax(t.geom) - ST_YMin(t.geom))"
    base = (
        f"SELECT {columns}, t.geom, {area} AS _a, "
        "floor(((ST_XMin(t.geom) + ST_XMax(t.geom)) / 2 + 180.0) / %(cell)s) AS _gx, "
        "floor(((ST_YMin(t.geom) + ST_YMax(t.geom)) / 2 + 90.0) / %(cell)s) AS _gy "
        f"FROM {table} t WHERE t.geom && {_ENVELOPE} AND ({attribute_sql})"
    )
    if cell:
        base = f"SELECT DISTINCT ON (_gx, _gy) * FROM ({base}) AS c ORDER BY _gx, _gy, _a DESC, {q('id')}"
    return f"SELECT * FROM ({base}) AS k ORDER BY _a DESC, {q('id')} LIMIT %(lim)s"


def mvt_sql(candidates: str, select: Sequence[str], srid: int) -> str:
    """Return a query of ``(ST_AsMVT bytes, feature count)`` for one layer from a candidates query.

    Parameters: those of :func:`candidates_sql`, plus name (layer), tx0, ty0, tx1, ty1 (tile bounds in
    the TMS CRS ``srid``), extent, buffer (tile units) and tiny (tile units below which shapes become points).
    """
    columns = ", ".join(q(c) for c in select)
    tile = f"ST_MakeEnvelope(%(tx0)s, %(ty0)s, %(tx1)s, %(ty1)s, {int(srid)})"
    size = "greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)) * %(extent)s / (%(tx1)s - %(tx0)s)"
    shape = (
        f"CASE WHEN GeometryType(g) NOT IN ('POINT', 'MULTIPOINT') AND {size} < %(tiny)s "
        "THEN ST_PointOnSurface(g) ELSE g END"
    )
    # MATERIALIZED: inlined, ST_Transform ran once for every reference to g in the CASE, and ST_AsMVTGeom
    # twice (in the NULL test and in the output): 20-25% of a z12-13 tile's time.
    return (
        f"WITH c AS ({candidates}), "
        f"p AS MATERIALIZED (SELECT {columns}, _a, ST_Transform(geom, {int(srid)}) AS g FROM c), "
        f"m AS MATERIALIZED (SELECT {columns}, _a, "
        f"ST_AsMVTGeom({shape}, {tile}, %(extent)s, %(buffer)s, true) AS geom FROM p) "
        f"SELECT ST_AsMVT(m.*, %(name)s, %(extent)s, 'geom'), count(*) "
        f"FROM (SELECT {columns}, geom FROM m WHERE geom IS NOT NULL ORDER BY _a DESC, {q('id')}) AS m"
    )


def tile_params(bbox: BBox, cell: float | None, limit: int | None) -> dict[str, Any]:
    """Return the candidates query's parameters."""
    return {"x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3], "cell": cell or 1.0, "lim": limit}


# Low-zoom overviews. At WebMercatorQuad z <= OVERVIEW_MAX_Z a tile box holds up to the whole layer, and
# thinning it on every request reads every row (821 ms per tile at 1M parcels). The thinning rule groups
# features by the cell of their envelope centre on a global grid, so a cell's layer-wide winner is the tile's
# winner for that cell whenever it meets the tile box. The overview stores those winners per zoom; a tile
# takes them, and searches the spatial index only where a winner lies outside the box (see
# overview_candidates_sql). The result is the on-the-fly rule exactly.
OVERVIEW_MAX_Z = 13
WEBMERCATOR_CELL_Z0 = 360.0 / 256 * 8
"""Thinning cell (degrees) at z0 of WebMercatorQuad: a tile's longitude span / 256 px * 8 px."""


def overview_level(cell: float | None) -> int | None:
    """Return the zoom whose WebMercatorQuad thinning cell is ``cell`` (if it has an overview), else None."""
    if not cell:
        return None
    for z in range(OVERVIEW_MAX_Z + 1):
        if abs(cell - WEBMERCATOR_CELL_Z0 / 2**z) <= 1e-12 * cell:
            return z
    return None


def overview_build_sql(table: str, overview: str) -> list[tuple[str, dict[str, Any]]]:
    """Return the statements (with parameters) that build ``overview`` from ``table``, finest level first.

    Each coarser level is the winner of the 2x2 finer cells' winners (same order: area, then id), which is
    the winner of the coarser cell itself, so only the finest level reads the layer.
    """
    area = "(ST_XMax(geom) - ST_XMin(geom)) * (ST_YMax(geom) - ST_YMin(geom))"
    finest = (
        f"INSERT INTO {overview} SELECT DISTINCT ON (gx, gy) %(z)s, gx, gy, fid, a, id FROM ("
        f"SELECT fid, id, {area} AS a, "
        "floor(((ST_XMin(geom) + ST_XMax(geom)) / 2 + 180.0) / %(cell)s) AS gx, "
        "floor(((ST_YMin(geom) + ST_YMax(geom)) / 2 + 90.0) / %(cell)s) AS gy "
        f"FROM {table} WHERE geom IS NOT NULL) s ORDER BY gx, gy, a DESC, id"
    )
    coarser = (
        f"INSERT INTO {overview} SELECT DISTINCT ON (gx, gy) %(z)s, gx, gy, fid, a, id FROM ("
        f"SELECT floor(gx / 2) AS gx, floor(gy / 2) AS gy, fid, a, id FROM {overview} WHERE z = %(z)s + 1) s "
        "ORDER BY gx, gy, a DESC, id"
    )
    statements = [
        (f"DROP TABLE IF EXISTS {overview}", {}),
        (
            f"CREATE TABLE {overview} (z smallint NOT NULL, gx double precision NOT NULL, "
            'gy double precision NOT NULL, fid bigint NOT NULL, a double precision, id text COLLATE "C")',
            {},
        ),
        (finest, {"z": OVERVIEW_MAX_Z, "cell": WEBMERCATOR_CELL_Z0 / 2**OVERVIEW_MAX_Z}),
    ]
    statements += [(coarser, {"z": z}) for z in range(OVERVIEW_MAX_Z - 1, -1, -1)]
    statements.append((f"CREATE INDEX ON {overview} (z, gx, gy)", {}))
    return statements


def overview_candidates_sql(table: str, overview: str, select: Sequence[str]) -> str:
    """Return the candidates query of an unfiltered tile that has an overview (same output as candidates_sql).

    Every cell's layer-wide winner that meets the tile box is also the tile's winner (it is the best of the
    cell, and in the tile's group). The overview holds one winner per cell, so the cells whose winner misses
    the box are read off the same join (an anti-join of the two CTEs cost 64 ms at z12 with 800 cells).
    A cell whose winner lies outside the box keeps as group the features
    centred in it that meet the box, which (axis-aligned boxes) all meet the cell's part of the box: that small
    rectangle is searched on the spatial index for its best feature. Cells beyond the box's cells take part
    through the features crossing the box's edges. Parameters: those of
    :func:`overview_params`.
    """
    columns = ", ".join(f"t.{q(c)}" for c in select)
    area = "(ST_XMax(t.geom) - ST_XMin(t.geom)) * (ST_YMax(t.geom) - ST_YMin(t.geom))"
    gx = "floor(((ST_XMin(t.geom) + ST_XMax(t.geom)) / 2 + 180.0) / %(cell)s)"
    gy = "floor(((ST_YMin(t.geom) + ST_YMax(t.geom)) / 2 + 90.0) / %(cell)s)"
    part = (
        "ST_MakeEnvelope(greatest(b.gx * %(cell)s - 180.0, %(x0)s), greatest(b.gy * %(cell)s - 90.0, %(y0)s), "
        "least((b.gx + 1) * %(cell)s - 180.0, %(x1)s), least((b.gy + 1) * %(cell)s - 90.0, %(y1)s), 4326)"
    )
    # Features centred in a cell beyond the box's cells meet the box only by crossing one of its edges.
    edges = " OR ".join(
        f"t.geom && ST_MakeEnvelope({a}, {b}, {c}, {d}, 4326)"
        for a, b, c, d in (
            ("%(x0)s", "%(y0)s", "%(x1)s", "%(y0)s"),
            ("%(x0)s", "%(y1)s", "%(x1)s", "%(y1)s"),
            ("%(x0)s", "%(y0)s", "%(x0)s", "%(y1)s"),
            ("%(x1)s", "%(y0)s", "%(x1)s", "%(y1)s"),
        )
    )
    return f"""
WITH ov AS (
    SELECT o.gx, o.gy, o.fid, o.a FROM {overview} o
    WHERE o.z = %(z)s AND o.gx BETWEEN %(bx0)s AND %(bx1)s AND o.gy BETWEEN %(by0)s AND %(by1)s),
won AS (
    SELECT {columns}, t.geom, ov.a AS _a, ov.gx AS _gx, ov.gy AS _gy, t.geom && {_ENVELOPE} AS _in
    FROM ov JOIN {table} t ON t.fid = ov.fid),
good AS (SELECT {", ".join(q(c) for c in select)}, geom, _a, _gx, _gy FROM won WHERE _in),
bad AS (SELECT _gx AS gx, _gy AS gy FROM won WHERE NOT _in),
edge AS (
    SELECT e.* FROM bad b CROSS JOIN LATERAL (
        SELECT {columns}, t.geom, {area} AS _a, {gx} AS _gx, {gy} AS _gy FROM {table} t
        WHERE t.geom && {part} AND {gx} = b.gx AND {gy} = b.gy
        ORDER BY _a DESC, t.{q("id")} LIMIT 1) AS e),
outside AS (
    SELECT DISTINCT ON (_gx, _gy) * FROM (
        SELECT {columns}, t.geom, {area} AS _a, {gx} AS _gx, {gy} AS _gy FROM {table} t
        WHERE t.geom && {_ENVELOPE} AND ({edges})) AS o
    WHERE _gx < %(bx0)s OR _gx > %(bx1)s OR _gy < %(by0)s OR _gy > %(by1)s
    ORDER BY _gx, _gy, _a DESC, {q("id")})
SELECT * FROM (SELECT * FROM good UNION ALL SELECT * FROM edge UNION ALL SELECT * FROM outside) AS k
ORDER BY _a DESC, {q("id")} LIMIT %(lim)s
"""


def overview_params(bbox: BBox, cell: float, z: int, limit: int | None) -> dict[str, Any]:
    """Return the parameters of :func:`overview_candidates_sql`: the box, and the cells it meets."""
    x0, y0, x1, y1 = bbox
    params: dict[str, Any] = {**tile_params(bbox, cell, limit), "z": z}
    params |= {"bx0": math.floor((x0 + 180.0) / cell), "bx1": math.floor((x1 + 180.0) / cell)}
    params |= {"by0": math.floor((y0 + 90.0) / cell), "by1": math.floor((y1 + 90.0) / cell)}
    return params
