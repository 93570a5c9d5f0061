"""Open in QGIS: a map view of the plan as a QGIS project reading planmap's OGC API Features.

A view is what a web map shows (its layers and its county, status and plan-year filters). Each plan layer
becomes an ``OAPIF`` layer of the project, coloured by ``status`` with the catalogue's colours and labelled
with its Chinese name; the filters become each layer's QGIS subset expression, and the project opens on
the view's extent in Web Mercator with the county boundaries drawn underneath.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from geo.crs import WEB_MERCATOR, transform_xy
from geo.errors import InvalidFilter
from geo.qgs import Category, Project, SymbolKind, VectorLayer, oapif_source
from geo.storage.base import FeatureStore
from layers.boundaries import view_bounds
from layers.models import Layer
from layers.plan_scope import PLAN_YEARS
from layers.registry import LayerRegistry

OVERDUE = "overdue"
"""The derived status of projects past their due date and not done (the maps' display status)."""

_SYMBOLS: dict[str, SymbolKind] = {
    "MultiPolygon": "fill",
    "MultiLineString": "line",
    "Point": "marker",
    "MultiPoint": "marker",
}
_DRAW_ORDER = {"fill": 0, "line": 1, "marker": 2}


@dataclass(frozen=True)
class QgisView:
    """The map view to open: layer ids (empty: all), county adcodes, statuses and plan year (None: all)."""

    layers: tuple[str, ...] = ()
    county: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    plan_year: int | None = None
    lang: str = "zh"


def _literal(value: str) -> str:
    """Return a QGIS expression string literal, quoted as ``QgsExpression.quotedString`` does."""
    escaped = value.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\t", "\\t")
    return f"'{escaped}'"


def _in(field: str, values: tuple[str, ...] | list[str]) -> str:
    """Return the expression "``field`` is one of ``values``"."""
    return f'"{field}" IN ({", ".join(_literal(v) for v in values)})'


def _can_be_overdue(layer: Layer) -> bool:
    """Return whether a layer's projects have due dates and a completed state (as the web maps decide)."""
    return "due_date" in layer.field_names and "completed" in {s.value for s in layer.statuses}


def subset_expression(layer: Layer, view: QgisView, today: date) -> str:
    """Return the QGIS expression keeping the view's features of ``layer`` ('' keeps all).

    ``overdue`` selects projects past their due date on ``today`` and not done, as the web maps do.
    """
    if layer.kind != "project":
        return _in("id", view.county) if view.county and layer.id == "counties" else ""
    terms: list[str] = []
    if view.county and "county" in layer.field_names:
        terms.append(_in("county", view.county))
    if view.status:
        raw = [s for s in view.status if s != OVERDUE and s in {x.value for x in layer.statuses}]
        options = [_in("status", raw)] if raw else []
        if OVERDUE in view.status and _can_be_overdue(layer):
            done = layer.target.done_statuses if layer.target else ("completed",)
            options.append(f'("due_date" < {_literal(today.isoformat())} AND NOT {_in("status", done)})')
        terms.append("(" + " OR ".join(options) + ")" if options else "FALSE")
    if view.plan_year is not None and PLAN_YEARS in layer.field_names:
        terms.append(f'"{PLAN_YEARS}" LIKE {_literal(f"%{view.plan_year:04d}%")}')
    return " AND ".join(terms)


def check_view(registry: LayerRegistry, view: QgisView) -> None:
    """Raise ``UnknownLayer``/``InvalidFilter`` naming what the view asks for that does not exist."""
    for layer_id in view.layers:
        registry.get(layer_id)
    known = {s.value for layer in registry for s in layer.statuses} | {OVERDUE}
    unknown = sorted(set(view.status) - known)
    if unknown:
        raise InvalidFilter(f"unknown status {unknown}; statuses are {sorted(known)}")


def qgis_layer(layer: Layer, view: QgisView, base_url: str, today: date) -> VectorLayer:
    """Return the project layer of a plan layer: OAPIF source, status colours, Chinese labels and title."""
    zh = view.lang != "en"
    symbol = _SYMBOLS[layer.geometry_type]
    categories = tuple(Category(s.value, s.label_zh if zh else s.label_en, s.color) for s in layer.statuses)
    context = layer.kind == "context"
    return VectorLayer(
        id=f"planmap_{layer.id.replace('-', '_')}",
        name=layer.title_zh if zh else layer.title_en,
        provider="OAPIF",
        source=oapif_source(base_url.rstrip("/"), layer.id, subset_expression(layer, view, today)),
        symbol=symbol,
        attribute="status" if categories else "",
        categories=categories,
        color="#374151" if context else "#2563eb",
        outline_only=context,
        label_field=layer.label_field if layer.label_field in layer.field_names else "",
        width_mm=0.6 if context else 0.8 if symbol == "line" else 0.4,
    )


def qgis_project(
    store: FeatureStore,
    registry: LayerRegistry,
    view: QgisView,
    base_url: str,
    title: str = "planmap",
    today: date | None = None,
) -> Project:
    """Return the QGIS project of a map view: its layers over the county boundaries, on the view's extent.

    Layers read the OGC API Features of the planmap server at ``base_url`` (absolute); ``today`` dates
    the ``overdue`` status (default: today).
    """
    check_view(registry, view)
    chosen = [registry.get(i) for i in view.layers] if view.layers else registry.all()
    if "counties" in registry and all(layer.id != "counties" for layer in chosen):
        chosen.append(registry.get("counties"))
    # QGIS draws the layer list bottom-up: points on top, then lines, polygons, and the boundaries last.
    chosen.sort(key=lambda layer: (layer.kind != "context", _DRAW_ORDER[_SYMBOLS[layer.geometry_type]]))
    day = today or date.today()
    layers = tuple(qgis_layer(layer, view, base_url, day) for layer in reversed(chosen))
    minx, miny, maxx, maxy = view_bounds(store, view.county)
    xs, ys = transform_xy([minx, maxx], [miny, maxy], "OGC:CRS84", WEB_MERCATOR)
    extent = (float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1]))
    return Project(title=title, crs=f"EPSG:{WEB_MERCATOR}", extent=extent, layers=layers)
