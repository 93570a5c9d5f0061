"""A print-ready map as PDF: title, map, legend, true scale bar and 1:N, north arrow, source, date and 审图号."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from geo.mapframe import MapFrame, nice_scale, rounded_scale
from geo.storage.base import FeatureStore
from layers.boundaries import SOURCE, county_name
from layers.models import Layer
from layers.plan_scope import plan_filter
from layers.reports.maps import Overlay, draw_map, extent, status_overlay
from server.maps.render import environment
from server.reports.fonts import cjk_family
from server.reports.pdf import data_uri, html_to_pdf
from server.settings import MapSettings

PageSize = Literal["A4", "A3"]
Orientation = Literal["portrait", "landscape"]
PAGES_MM = {"A4": (210.0, 297.0), "A3": (297.0, 420.0)}
MARGIN_MM, TITLE_MM, FOOTER_MM = 10.0, 14.0, 40.0


@dataclass(frozen=True)
class PrintRequest:
    """What to print: layers, county, page size and orientation, plan year and the day printed."""

    layers: Sequence[Layer]
    county: str | None
    size: PageSize
    orientation: Orientation
    plan: int | None
    day: date


def page_mm(size: PageSize, orientation: Orientation) -> tuple[float, float]:
    """Return the page's (width, height) in mm."""
    short, long = PAGES_MM[size]
    return (long, short) if orientation == "landscape" else (short, long)


def map_frame(store: FeatureStore, request: PrintRequest, dpi: int) -> MapFrame:
    """Return the frame the page's map area shows: the county or the city, fitted to the area left by the margins."""
    width, height = page_mm(request.size, request.orientation)
    area = (width - 2 * MARGIN_MM, height - 2 * MARGIN_MM - TITLE_MM - FOOTER_MM)
    return MapFrame.fit(extent(store, request.county), *area, dpi=dpi)


def _overlays(store: FeatureStore, request: PrintRequest) -> list[Overlay]:
    out = []
    for layer in request.layers:
        columns = [c for c in ("id", "status", "county") if c in layer.field_names]
        frame = store.read(layer.id, plan_filter(layer, request.plan), columns=columns)
        if request.county and "county" in frame:
            frame = frame[frame["county"] == request.county]
        out.append(status_overlay(layer, frame))
    return out


def _scale_bar(length_m: float, length_mm: float) -> tuple[str, str]:
    """Return an SVG scale bar ``length_mm`` wide in four alternating segments, labelled in km or m."""
    label = f"{length_m / 1000:g} 千米" if length_m >= 1000 else f"{length_m:g} 米"
    segments = "".join(
        f'<rect x="{i * 25}" y="0" width="25" height="6" fill="{"#111827" if i % 2 == 0 else "#ffffff"}" '
        f'stroke="#111827" stroke-width="0.6" vector-effect="non-scaling-stroke"/>'
        for i in range(4)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{length_mm:.3f}mm" height="3mm" viewBox="0 0 100 6" '
        f'preserveAspectRatio="none">{segments}</svg>'
    ), label


NORTH_ARROW = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="12mm" height="18mm" viewBox="0 0 40 60">'
    '<polygon points="20,2 34,44 20,36 6,44" fill="#111827"/><polygon points="20,2 20,36 6,44" fill="#ffffff" '
    'stroke="#111827" stroke-width="1.5"/><text x="20" y="58" text-anchor="middle" font-size="14" '
    'font-family="sans-serif" font-weight="bold">N</text></svg>'
)


def print_map_pdf(store: FeatureStore, request: PrintRequest, settings: MapSettings) -> bytes:
    """Return the printed map as a one-page PDF."""
    frame = map_frame(store, request, settings.print_dpi)
    png = draw_map(store, frame, _overlays(store, request), request.county)
    scale = frame.scale()
    length_m, length_mm = nice_scale(scale, frame.width_mm / 4)
    bar, bar_label = _scale_bar(length_m, length_mm)
    width, height = page_mm(request.size, request.orientation)
    scope = county_name(request.county) if request.county else "湘潭市"
    html = (
        environment()
        .get_template("print_map.html")
        .render(
            font=cjk_family(),
            page=f"{request.size} {request.orientation}",
            width=width,
            height=height,
            frame=frame,
            title=f"{scope}{'、'.join(x.title_zh for x in request.layers)}分布图",
            map_uri=data_uri(png, "image/png"),
            north_uri=data_uri(NORTH_ARROW.encode(), "image/svg+xml"),
            bar_uri=data_uri(bar.encode(), "image/svg+xml"),
            bar_label=bar_label,
            bar_mm=length_mm,
            scale_text=f"1:{rounded_scale(scale):,}",
            edges=frame.edges(),
            layers=request.layers,
            source=settings.map_source or f"planmap 项目库；行政区划：{SOURCE}",
            approval=settings.map_approval_no,
            disclaimer=settings.map_disclaimer,
            day=request.day,
            footer_mm=FOOTER_MM,
            title_mm=TITLE_MM,
            margin_mm=MARGIN_MM,
        )
    )
    return html_to_pdf(html)
