"""WMTS 1.0.0 documents (OGC 07-057r7, RESTful binding): the capabilities and the OWS exception report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from morecantile import TileMatrixSet

from geo.errors import TileOutsideBounds, UnknownTileMatrixSet
from geo.tms import TileGrid, get_tms, tile_grid, tile_limits
from layers.errors import UnknownLayer, UnknownStyle
from layers.wmts import DEFAULT_STYLE, TiledLayer
from server.responses import TEMPLATES

VERSION = "1.0.0"
PREFIX = f"/wmts/{VERSION}"
WMTS_TMS = ("WebMercatorQuad", "CGCS2000Quad")
"""Tile matrix sets offered over WMTS, in listing order."""

WELL_KNOWN_SCALE_SETS = {"WebMercatorQuad": "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"}
"""OGC 07-057r7 Annex E.4: WebMercatorQuad's matrices are the GoogleMapsCompatible scale set."""

PNG = "image/png"
TILE_PATH = "/{layer}/{style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png"


@dataclass(frozen=True)
class Service:
    """What the capabilities say about the service itself, with its absolute URLs."""

    title: str
    abstract: str
    capabilities_url: str
    tiles_url: str


def crs_urn(tms: TileMatrixSet) -> str:
    """Return the OGC URN of a tile matrix set's CRS (``urn:ogc:def:crs:EPSG::4490``), as WMTS writes it.

    Examples
    --------
    >>> crs_urn(get_tms("CGCS2000Quad"))
    'urn:ogc:def:crs:EPSG::4490'
    """
    parts = str(tms.crs.root).rstrip("/").split("/")
    authority, version, code = parts[-3], parts[-2], parts[-1]
    return f"urn:ogc:def:crs:{authority}:{'' if version == '0' else version}:{code}"


def _matrix_set(tms_id: str) -> dict[str, Any]:
    # morecantile keeps pointOfOrigin in the CRS's axis order (TMS 2.0), which is what WMTS's
    # TopLeftCorner wants too: northing first for EPSG:4490 (lat, lon), easting first for EPSG:3857.
    tms = get_tms(tms_id)
    matrices = [
        {
            "id": m.id,
            "scale": repr(m.scaleDenominator),
            "top_left": " ".join(repr(float(v)) for v in m.pointOfOrigin),
            "tile_width": m.tileWidth,
            "tile_height": m.tileHeight,
            "width": m.matrixWidth,
            "height": m.matrixHeight,
        }
        for m in tms.tileMatrices
    ]
    return {
        "id": tms_id,
        "title": tms.title or tms_id,
        "crs": crs_urn(tms),
        "well_known": WELL_KNOWN_SCALE_SETS.get(tms_id),
        "matrices": matrices,
    }


def matrix_sets() -> list[dict[str, Any]]:
    """Return the ``TileMatrixSet`` entries of the capabilities."""
    return [_matrix_set(tms_id) for tms_id in WMTS_TMS]


def tile_template(base_url: str, layer_id: str) -> str:
    """Return a layer's ``ResourceURL`` template (WMTS template variables in braces)."""
    path = TILE_PATH.replace("{layer}", layer_id).replace("{style}", "{Style}")
    return f"{base_url}{PREFIX}{path}"


def layer_entry(base_url: str, tiled: TiledLayer) -> dict[str, Any]:
    """Return one ``Layer`` entry: titles, CRS84 box, style, format, matrix-set links with limits, template."""
    bbox = tiled.bbox or (-180.0, -90.0, 180.0, 90.0)
    title = tiled.title_zh if tiled.title_zh == tiled.title_en else f"{tiled.title_zh} · {tiled.title_en}"
    links = [{"tms": t, "limits": tile_limits(t, tuple(bbox))} for t in WMTS_TMS]
    return {
        "id": tiled.id,
        "title": title,
        "abstract": tiled.abstract,
        "bbox": [repr(float(v)) for v in bbox],
        "style": DEFAULT_STYLE,
        "style_title": "默认 · Default",
        "format": PNG,
        "links": links,
        "template": tile_template(base_url, tiled.id),
    }


def capabilities(service: Service, layers: Sequence[TiledLayer], base_url: str) -> str:
    """Return the WMTS capabilities document (XML text; every value escaped by the template)."""
    context = {
        "service": service,
        "layers": [layer_entry(base_url, t) for t in layers],
        "matrix_sets": matrix_sets(),
    }
    return TEMPLATES.get_template("wmts_capabilities.xml").render(context)


def exception_report(code: str, text: str, locator: str | None = None) -> str:
    """Return an OWS 1.1 ``ExceptionReport`` (OGC 06-121r3 section 8) with one escaped exception."""
    return TEMPLATES.get_template("ows_exception.xml").render({"code": code, "text": text, "locator": locator})


class TileOutOfRange(TileOutsideBounds):
    """A WMTS tile address outside its matrix set; ``locator`` names the parameter at fault."""

    def __init__(self, locator: str, message: str) -> None:
        """Keep the locator with the message."""
        super().__init__(message)
        self.locator = locator


def wmts_grid(tms_id: str, matrix: str, row: int, col: int) -> TileGrid:
    """Return the grid of a WMTS tile address (matrix identifier, row, column).

    Raises
    ------
    UnknownTileMatrixSet
        For a tile matrix set not offered over WMTS.
    TileOutsideBounds
        For a matrix identifier the set lacks, or a row or column outside the matrix.
    """
    if tms_id not in WMTS_TMS:
        raise UnknownTileMatrixSet(f"no tile matrix set {tms_id!r}; WMTS offers {', '.join(WMTS_TMS)}")
    tms = get_tms(tms_id)
    ids = [m.id for m in tms.tileMatrices]
    if matrix not in ids:
        raise TileOutOfRange("TileMatrix", f"no tile matrix {matrix!r} in {tms_id}; matrices are {ids[0]}..{ids[-1]}")
    size = tms.matrix(int(matrix))
    for name, value, count in (("TileRow", row, size.matrixHeight), ("TileCol", col, size.matrixWidth)):
        if not 0 <= value < count:
            raise TileOutOfRange(name, f"{name} {value} outside 0..{count - 1} of {tms_id} matrix {matrix}")
    return tile_grid(tms_id, int(matrix), col, row)


_LOCATORS: dict[type[Exception], tuple[str, str]] = {
    UnknownLayer: ("InvalidParameterValue", "layer"),
    UnknownStyle: ("InvalidParameterValue", "style"),
    UnknownTileMatrixSet: ("InvalidParameterValue", "TileMatrixSet"),
    TileOutsideBounds: ("TileOutOfRange", "TileMatrix"),
}
"""OGC 07-057r7 table 28: the exception code and the parameter (locator) of each request error."""


def exception_code(exc: Exception) -> tuple[str, str | None]:
    """Return the OWS exception code and locator of a domain error (``NoApplicableCode`` for the rest)."""
    if isinstance(exc, TileOutOfRange):
        return "TileOutOfRange", exc.locator
    for cls in type(exc).__mro__:
        if cls in _LOCATORS:
            return _LOCATORS[cls]
    return "NoApplicableCode", None
