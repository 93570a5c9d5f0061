"""Tile SQL for PostGIS: the candidates rule of ``geo.storage.candidates.thin_frame`` and MVT via ST_AsMVT.

The candidates of a tile are the features whose envelope meets the buffered tile box, thinned to the
largest envelope per grid cell (by envelope centre, cells anchored at -180, -90), largest first, ties by
id, capped. ``ST_AsMVTGeom`` then clips and snaps them to the tile grid; shapes smaller than one 256-px
screen pixel become their point on surface first, as ``geo.mvt.prepare`` does, so they stay visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geo.storage.sqlfilter import _q
from geo.types import BBox

_ENVELOPE = "ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)"


def candidates_sql(table: str, select: Sequence[str], attribute_sql: str, cell: float | None) -> str:
    """Return a query of the thinned, capped candidates (``select`` columns plus ``geom``), largest first.

    ``attribute_sql`` is a condition on ``t`` (or ``TRUE``); parameters: x0, y0, x1, y1 (CRS84 box),
    cell (degrees, when ``cell``) and lim (cap, NULL for none).
    """
    columns = ", ".join(f"t.{_q(c)}" for c in select)
    area = "(ST_XMax(t.geom) - ST_XMin(t.geom)) * (ST_YMax(t.geom) - ST_YMin(t.geom))"
    base = (
        f"SELECT {columns}, t.geom, {area} AS _a, "
        "floor(((ST_XMin(t.geom) + ST_XMax(t.geom)) / 2 + 180.0) / %(cell)s) AS _gx, "
        "floor(((ST_YMin(t.geom) + ST_YMax(t.geom)) / 2 + 90.0) / %(cell)s) AS _gy "
        f"FROM {table} t WHERE t.geom && {_ENVELOPE} AND ({attribute_sql})"
    )
    if cell:
        base = f"SELECT DISTINCT ON (_gx, _gy) * FROM ({base}) AS c ORDER BY _gx, _gy, _a DESC, {_q('id')}"
    return f"SELECT * FROM ({base}) AS k ORDER BY _a DESC, {_q('id')} LIMIT %(lim)s"


def mvt_sql(candidates: str, select: Sequence[str], srid: int) -> str:
    """Return a query of ``(ST_AsMVT bytes, feature count)`` for one layer from a candidates query.

    Parameters: those of :func:`candidates_sql`, plus name (layer), tx0, ty0, tx1, ty1 (tile bounds in
    the TMS CRS ``srid``), extent, buffer (tile units) and tiny (tile units below which shapes become points).
    """
    columns = ", ".join(_q(c) for c in select)
    tile = f"ST_MakeEnvelope(%(tx0)s, %(ty0)s, %(tx1)s, %(ty1)s, {int(srid)})"
    size = "greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)) * %(extent)s / (%(tx1)s - %(tx0)s)"
    shape = (
        f"CASE WHEN GeometryType(g) NOT IN ('POINT', 'MULTIPOINT') AND {size} < %(tiny)s "
        "THEN ST_PointOnSurface(g) ELSE g END"
    )
    return (
        f"WITH c AS ({candidates}), p AS (SELECT {columns}, _a, ST_Transform(geom, {int(srid)}) AS g FROM c), "
        f"m AS (SELECT {columns}, _a, ST_AsMVTGeom({shape}, {tile}, %(extent)s, %(buffer)s, true) AS geom FROM p) "
        f"SELECT ST_AsMVT(m.*, %(name)s, %(extent)s, 'geom'), count(*) "
        f"FROM (SELECT {columns}, geom FROM m WHERE geom IS NOT NULL ORDER BY _a DESC, {_q('id')}) AS m"
    )


def tile_params(bbox: BBox, cell: float | None, limit: int | None) -> dict[str, Any]:
    """Return the candidates query's parameters."""
    return {"x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3], "cell": cell or 1.0, "lim": limit}
