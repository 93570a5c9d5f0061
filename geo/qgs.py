"""QGIS 3 project files (``.qgs``): vector layers with categorized styles and labels, written with ElementTree.

Only the part of the project format that QGIS 3.22+ needs to open layers styled and labelled is written;
QGIS fills in defaults for the rest. ElementTree escapes every attribute and text node, so names and
values taken from users or catalogues cannot break the XML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from geo.crs import as_crs
from geo.types import BBox

QGIS_VERSION = "3.22.0-Białowieża"
"""The oldest QGIS release the files are written for (QGIS reads older project versions without asking)."""

SymbolKind = Literal["fill", "line", "marker"]
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_LAYER_GEOMETRY = {
    "fill": ("Polygon", "MultiPolygon"),
    "line": ("Line", "MultiLineString"),
    "marker": ("Point", "Point"),
}


@dataclass(frozen=True)
class Category:
    """One class of a categorized style: features whose attribute equals ``value`` drawn in ``color``."""

    value: str
    label: str
    color: str
    """``#rrggbb``."""


@dataclass(frozen=True)
class VectorLayer:
    """A vector layer of the project: where its features come from and how they are drawn.

    ``provider`` and ``source`` are QGIS's provider key and data source string (e.g. ``OAPIF`` and
    ``url='…' typename='…'``, see :func:`oapif_source`). With ``categories``
    the layer is styled by ``attribute``; without, every feature gets ``color`` (outline only when
    ``outline_only``). ``label_field`` names the field whose value labels each feature.
    """

    id: str
    name: str
    provider: str
    source: str
    symbol: SymbolKind
    crs: str = "EPSG:4326"
    attribute: str = ""
    categories: tuple[Category, ...] = ()
    color: str = "#2563eb"
    outline_only: bool = False
    label_field: str = ""
    width_mm: float = 0.4


@dataclass(frozen=True)
class Project:
    """A QGIS project: its title, CRS, initial extent (in that CRS) and layers, drawn last-listed first."""

    title: str
    crs: str
    extent: BBox
    layers: tuple[VectorLayer, ...] = field(default_factory=tuple)
    label_font: str = "Noto Sans CJK SC"


def _quoted(value: str) -> str:
    """Return ``value`` quoted as QgsDataSourceUri quotes values: in single quotes, backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def oapif_source(url: str, typename: str, subset: str = "") -> str:
    """Return QGIS's ``OAPIF`` data source of collection ``typename`` of the OGC API at ``url``.

    ``subset`` is a QGIS expression keeping some features (QGIS 3.22 filters them as it reads the pages);
    features are requested for the visible extent only (``restrictToRequestBBOX``).
    """
    source = f"url={_quoted(url)} typename={_quoted(typename)} restrictToRequestBBOX='1'"
    return source + (f" filter={_quoted(subset)}" if subset else "")


def _rgba(color: str, alpha: int = 255) -> str:
    """Return QGIS's ``r,g,b,a`` colour text for ``#rrggbb``."""
    value = color.lstrip("#")
    return ",".join(str(int(value[i : i + 2], 16)) for i in (0, 2, 4)) + f",{alpha}"


def _options(parent: ET.Element, values: dict[str, str]) -> None:
    """Add QGIS's ``<Option type="Map">`` property map of strings."""
    options = ET.SubElement(parent, "Option", type="Map")
    for key, value in values.items():
        ET.SubElement(options, "Option", type="QString", name=key, value=value)


def _symbol(parent: ET.Element, name: str, kind: SymbolKind, color: str, outline_only: bool, width: float) -> None:
    """Add one simple symbol (fill, line or marker) of ``color``."""
    symbol = ET.SubElement(parent, "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    if kind == "fill":
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1", "locked": "0", "pass": "0"})
        _options(
            layer,
            {
                "color": _rgba(color, 150),
                "style": "no" if outline_only else "solid",
                "outline_color": _rgba(color) if outline_only else "255,255,255,255",
                "outline_style": "solid",
                "outline_width": str(width if outline_only else 0.2),
                "outline_width_unit": "MM",
            },
        )
    elif kind == "line":
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleLine", "enabled": "1", "locked": "0", "pass": "0"})
        _options(layer, {"line_color": _rgba(color), "line_width": str(width), "line_width_unit": "MM"})
    else:
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleMarker", "enabled": "1", "locked": "0", "pass": "0"})
        _options(
            layer,
            {
                "name": "circle",
                "color": _rgba(color),
                "size": "2.6",
                "size_unit": "MM",
                "outline_color": "255,255,255,255",
                "outline_width": "0.3",
            },
        )


def _renderer(parent: ET.Element, layer: VectorLayer) -> None:
    """Add the layer's renderer: categorized by ``attribute`` when it has categories, else a single symbol."""
    width = layer.width_mm
    if not layer.categories:
        renderer = ET.SubElement(parent, "renderer-v2", type="singleSymbol", symbollevels="0", forceraster="0")
        symbols = ET.SubElement(renderer, "symbols")
        _symbol(symbols, "0", layer.symbol, layer.color, layer.outline_only, width)
        return
    renderer = ET.SubElement(
        parent, "renderer-v2", type="categorizedSymbol", attr=layer.attribute, symbollevels="0", forceraster="0"
    )
    categories = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for index, category in enumerate(layer.categories):
        ET.SubElement(
            categories, "category", render="true", symbol=str(index), value=category.value, label=category.label
        )
        _symbol(symbols, str(index), layer.symbol, category.color, False, width)


def _labeling(parent: ET.Element, layer: VectorLayer, font: str) -> None:
    """Add simple labels of ``label_field``, haloed in white so they read over any fill."""
    labeling = ET.SubElement(parent, "labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    style = ET.SubElement(
        settings,
        "text-style",
        fieldName=layer.label_field,
        isExpression="0",
        fontFamily=font,
        fontSize="9",
        fontSizeUnit="Point",
        textColor="31,41,55,255",
        textOpacity="1",
    )
    ET.SubElement(
        style, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM", bufferColor="255,255,255,255"
    )
    placement = {"fill": "1", "line": "2", "marker": "0"}[layer.symbol]  # OverPoint, Line, AroundPoint
    ET.SubElement(settings, "placement", placement=placement, dist="1", distUnits="MM")
    ET.SubElement(settings, "rendering", obstacle="1", drawLabels="1", scaleVisibility="0")


def _srs(parent: ET.Element, authid: str) -> None:
    """Add ``<spatialrefsys>``: the CRS's WKT, which QGIS reads first (it ignores an authority id alone)."""
    srs = ET.SubElement(parent, "spatialrefsys")
    ET.SubElement(srs, "wkt").text = as_crs(authid).to_wkt()
    ET.SubElement(srs, "authid").text = authid


def _extent(parent: ET.Element, tag: str, bbox: BBox) -> None:
    element = ET.SubElement(parent, tag)
    for name, value in zip(("xmin", "ymin", "xmax", "ymax"), bbox, strict=True):
        ET.SubElement(element, name).text = repr(float(value))


def _map_layer(parent: ET.Element, layer: VectorLayer, font: str) -> None:
    """Add a ``<maplayer>``: source, CRS, provider, renderer and labels."""
    geometry, wkb = _LAYER_GEOMETRY[layer.symbol]
    element = ET.SubElement(
        parent,
        "maplayer",
        type="vector",
        geometry=geometry,
        wkbType=wkb,
        labelsEnabled="1" if layer.label_field else "0",
        hasScaleBasedVisibilityFlag="0",
    )
    ET.SubElement(element, "id").text = layer.id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.name
    _srs(ET.SubElement(element, "srs"), layer.crs)
    ET.SubElement(element, "provider", encoding="UTF-8").text = layer.provider
    _renderer(element, layer)
    if layer.label_field:
        _labeling(element, layer, font)


def project_xml(project: Project) -> bytes:
    """Return the project as ``.qgs`` XML (UTF-8)."""
    root = ET.Element("qgis", projectname=project.title, version=QGIS_VERSION)
    ET.SubElement(root, "title").text = project.title
    _srs(ET.SubElement(root, "projectCrs"), project.crs)
    # QGIS reads <projectCrs> only when this project property says the project has a CRS.
    properties = ET.SubElement(ET.SubElement(root, "properties"), "SpatialRefSys")
    ET.SubElement(properties, "ProjectionsEnabled", type="int").text = "1"
    tree = ET.SubElement(root, "layer-tree-group")
    for layer in project.layers:
        ET.SubElement(
            tree,
            "layer-tree-layer",
            id=layer.id,
            name=layer.name,
            source=layer.source,
            providerKey=layer.provider,
            checked="Qt::Checked",
            expanded="1",
        )
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "meters"
    _extent(canvas, "extent", project.extent)
    ET.SubElement(canvas, "rotation").text = "0"
    _srs(ET.SubElement(canvas, "destinationsrs"), project.crs)
    # QGIS desktop opens on the canvas extent above; the view settings give the same extent to QGIS's API
    # (print layouts, scripts) and make "zoom to full extent" return to it.
    view = ET.SubElement(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
    ET.SubElement(view, "Scales")
    for tag in ("DefaultViewExtent", "PresetFullExtent"):
        keys = ("xmin", "ymin", "xmax", "ymax")
        extent = ET.SubElement(view, tag, {k: repr(float(v)) for k, v in zip(keys, project.extent, strict=True)})
        _srs(extent, project.crs)
    layers = ET.SubElement(root, "projectlayers")
    for layer in project.layers:
        _map_layer(layers, layer, project.label_font)
    ET.indent(root)
    return (_DOCTYPE + ET.tostring(root, encoding="unicode") + "\n").encode("utf-8")
