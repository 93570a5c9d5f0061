"""Parsing and checking bounding boxes given as text, in any supported CRS, into CRS84."""

from __future__ import annotations

import math

from geo.crs import CRS84, parse_crs, transform_xy
from geo.errors import InvalidBBox
from geo.types import BBox


def parse_bbox(text: str, crs: str | None = None) -> BBox:
    """Parse ``minx,miny,maxx,maxy`` (or the 6-number 3D form) in ``crs`` (default CRS84) into CRS84.

    Parameters
    ----------
    text : comma-separated numbers, lon/lat (easting/northing) order as in OGC API Features.
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
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidBBox(f"bbox {text!r} must be 4 comma-separated numbers minx,miny,maxx,maxy") from None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidBBox(f"bbox {text!r} must be 4 (or 6) finite comma-separated numbers")
    minx, miny, maxx, maxy = values
    if minx > maxx or miny > maxy:
        raise InvalidBBox(f"bbox {text!r} has min greater than max")
    if crs is None or parse_crs(crs).equals(parse_crs(CRS84)):
        return _check_lonlat((minx, miny, maxx, maxy), text)
    xs, ys = transform_xy([minx, maxx, minx, maxx], [miny, miny, maxy, maxy], parse_crs(crs), CRS84)
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        raise InvalidBBox(f"bbox {text!r} lies outside the area of use of {crs}")
    return _check_lonlat((float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))), text)


def _check_lonlat(box: BBox, text: str) -> BBox:
    minx, miny, maxx, maxy = box
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidBBox(f"bbox {text!r} is outside longitude -180..180 / latitude -90..90")
    return box
