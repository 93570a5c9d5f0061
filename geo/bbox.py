"""Parsing and checking bounding boxes given as text, in any supported CRS, into CRS84."""

from __future__ import annotations

import math

from pyproj.exceptions import ProjError

from geo.crs import CRS84, get_transformer, parse_crs
from geo.errors import InvalidBBox
from geo.geojson import is_north_first
from geo.textlists import split_list
from geo.types import BBox


def parse_bbox(text: str, crs: str | None = None) -> BBox:
    """Parse ``minx,miny,maxx,maxy`` (or the 6-number 3D form) in ``crs`` (default CRS84) into CRS84.

    Parameters
    ----------
    text : comma-separated numbers in the axis order of ``crs`` (OGC API Features Part 2, ``bbox-crs``):
        lon/lat for CRS84 and easting/northing for EPSG:3857, but lat/lon for EPSG:4326 and EPSG:4490 and
        northing/easting for the Gauss-Krüger CRSs EPSG:4546/4547, as EPSG defines them.
    crs : an OGC CRS URI or EPSG code of the box; CRS84 when None.

    Raises
    ------
    InvalidBBox
        When the text does not hold 4 (or 6) finite numbers, min exceeds max, or a CRS84 box leaves
        longitude -180..180 or latitude -90..90.

    Examples
    --------
    >>> parse_bbox("112.8,27.8,113.0,27.9")
    (112.8, 27.8, 113.0, 27.9)
    """
    try:
        values = [float(v) for v in split_list(text, keep_empty=True)]
    except ValueError:
        raise InvalidBBox(f"bbox {text!r} must be 4 comma-separated numbers minx,miny,maxx,maxy") from None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidBBox(f"bbox {text!r} must be 4 (or 6) finite comma-separated numbers")
    minx, miny, maxx, maxy = values
    if crs is not None and is_north_first(parse_crs(crs)):
        minx, miny, maxx, maxy = miny, minx, maxy, maxx
    if minx > maxx or miny > maxy:
        raise InvalidBBox(f"bbox {text!r} has min greater than max")
    if crs is None or parse_crs(crs).equals(parse_crs(CRS84)):
        return _check_lonlat((minx, miny, maxx, maxy), text)
    xs, ys = _densified_edges((minx, miny, maxx, maxy), crs)
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise InvalidBBox(f"bbox {text!r} lies outside the area of use of {crs}")
    return _check_lonlat((float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))), text)


def _densified_edges(box: BBox, crs: str) -> tuple[list[float], list[float]]:
    """Return the CRS84 envelope corners of a box, densified along its edges (they curve in lon/lat)."""
    try:
        transformer = get_transformer(parse_crs(crs), parse_crs(CRS84))
        minx, miny, maxx, maxy = transformer.transform_bounds(*box, densify_pts=21)
    except ProjError as exc:
        raise InvalidBBox(f"bbox {box!r} cannot be transformed from {crs} to CRS84: {exc}") from exc
    return [minx, maxx], [miny, maxy]


def _check_lonlat(box: BBox, text: str) -> BBox:
    minx, miny, maxx, maxy = box
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidBBox(f"bbox {text!r} is outside longitude -180..180 / latitude -90..90")
    return box
