"""The two road projects the plan names: 下摄司大桥 and G320 湘潭绕城线 (湘乡段), on demo alignments."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np

import shapely
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, transform_geometry
from geo.measure import geodesic_length_m
from geo.storage.base import HistoryEntry
from layers.demo.context import DemoContext
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, progress_entries, replay
from layers.demo.milestones import milestone_schedule, reach_milestones
from layers.demo.result import LayerData
from layers.models import Layer

LAYER = "transport-links"
BRIDGE_POINT = (112.93, 27.79)
"""下摄司大桥 at 1' precision (V, about ±1 km)."""
BRIDGE_ROUTE_M = 4100.0
G320_PARTS_M = (11_748.0, 5_650.0)
"""G320 湘潭绕城线 phase III 湘乡段: urban part (东郊乡石江村 west to 五里桥) and rural part (to G240), 17.398 km."""
_G320_EAST = (112.605, 27.758)  # 东郊乡石江村 (A*)
_G320_WEST = (112.495, 27.765)  # 五里桥 on the old G320 (A*)
_G320_NORTH = (112.627, 27.805)  # 小田家冲, meeting G240 (A*)
BRIDGE_MILESTONES = (
    ("主拱合龙", "2024-11-30"),
    ("桥面系及附属工程完工", "2025-04-30"),
    ("荷载试验", "2025-06-15"),
    ("建成通车", "2025-06-30"),
)
G320_MILESTONES = (
    ("路基工程完成", "2025-06-30"),
    ("跨湘黔铁路桥合龙", "2025-09-30"),
    ("韶山灌渠桥完工", "2025-11-30"),
    ("路面工程完工", "2026-06-30"),
    ("建成通车", "2026-12-31"),
)
NOTES = Notes(working=("桥梁下部结构施工", "路基土石方", "桥面铺装", "交安设施施工", "路面基层施工"), done="建成通车")
BRIDGE_NOTES = Notes(working=NOTES.working, carried="2017年7月开工,2021年9月停工,2023年复工", done="建成通车")


def _bridge_line(ctx: DemoContext) -> LineString:
    """A gently bent north-south route over the 湘江 (岳塘区 north, 湘潭县 south), scaled to 4.1 km."""
    river = shapely.intersection(ctx.county_m["430304"].boundary, ctx.county_m["430321"].boundary)
    cross = river.interpolate(river.project(ctx.point_m(*BRIDGE_POINT)))
    # No vertex on the river itself: the interior vertex nearest the centroid (GEOS's representative point
    # of a line) then lies north, in 岳塘区, where the bridge's north end and city approach are.
    offsets = np.array(
        [(-300.0, 2300.0), (-250.0, 1500.0), (-100.0, 700.0), (60.0, -600.0), (150.0, -1200.0), (200.0, -1750.0)]
    )
    planned = _geodesic(ctx, LineString(offsets + (cross.x, cross.y)))
    offsets *= BRIDGE_ROUTE_M / planned
    return LineString(offsets + (cross.x, cross.y))


def _geodesic(ctx: DemoContext, line: BaseGeometry) -> float:
    return float(geodesic_length_m(transform_geometry(line, ctx.gk_epsg, WGS84)))


def _bent(ctx: DemoContext, a: Point, b: Point, length_m: float, bulge_side: float) -> LineString:
    """A smooth arc from ``a`` to ``b`` whose geodesic length is ``length_m`` (bisection on its bulge)."""
    t = np.linspace(0.0, 1.0, 25)
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy)
    nx, ny = -dy / norm * bulge_side, dx / norm * bulge_side

    def arc(height: float) -> LineString:
        s = height * np.sin(np.pi * t)
        return LineString(np.column_stack([a.x + t * dx + s * nx, a.y + t * dy + s * ny]))

    low, high = 0.0, norm
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if _geodesic(ctx, arc(mid)) < length_m else (low, mid)
    return arc((low + high) / 2)


def _g320(ctx: DemoContext) -> MultiLineString:
    east, west, north = (ctx.point_m(*p) for p in (_G320_EAST, _G320_WEST, _G320_NORTH))
    urban = _bent(ctx, east, west, G320_PARTS_M[0], 1.0)
    rural = _bent(ctx, east, north, G320_PARTS_M[1], 1.0)
    return MultiLineString([urban, rural])


def _record(
    ctx: DemoContext, fid: str, geom: BaseGeometry, spec: dict[str, Any], rng: np.random.Generator
) -> tuple[dict[str, Any], list[HistoryEntry]]:
    start = date.fromisoformat(spec["start"])
    milestones = reach_milestones(rng, spec["milestones"], start, ctx.year, fixed=spec.get("fixed"))
    schedule = milestone_schedule(milestones, start, date.fromisoformat(spec["due"]))
    entries = progress_entries(LAYER, fid, schedule, rng, spec["notes"], ctx.year)
    common = project_fields(
        fid=fid,
        name=spec["name"],
        county=spec["county"],
        township=spec["township"],
        due_date=schedule.due,
        owner=spec["owner"],
        investment_wan=None,
        source=demo_source(spec["real"] + "; demo alignment, owner, other milestones and progress"),
        current=replay(entries),
    )
    extra = {
        "road_class": spec["road_class"],
        "length_km": round(_geodesic(ctx, geom) / 1000.0, 3),
        "lanes": spec["lanes"],
        "milestones": milestones,
    }
    return common | extra, entries


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the transport-links layer: 下摄司大桥 (due to open 2025-06-30) and G320 湘乡段."""
    rng = ctx.rng(LAYER)
    bridge, g320 = _bridge_line(ctx), _g320(ctx)
    if not ctx.inner("430381", 150.0).contains(g320):
        raise RuntimeError("demo alignment of G320 湘乡段 leaves 湘乡市")
    ctx.occupied.extend(line.buffer(40.0, quad_segs=2) for line in (bridge, g320))
    specs = (
        (
            "TL-01",
            bridge,
            {
                "name": "下摄司大桥",
                "county": "430304",
                "township": "下摄司街道",
                "owner": "湘潭市住房和城乡建设局",
                "road_class": "城市主干路",
                "lanes": 6,
                "start": "2017-07-01",
                "due": "2025-06-30",
                "milestones": BRIDGE_MILESTONES,
                "fixed": {"主拱合龙": "2024-11-19"},
                "notes": BRIDGE_NOTES,
                "real": "real project: position 27.79N 112.93E (±1 km), 4.1 km route, 6 lanes, started 2017-07,"
                " arch closed 2024-11-19, planned opening end of June 2025 (V)",
            },
        ),
        (
            "TL-02",
            g320,
            {
                "name": "G320湘潭绕城线(湘乡段)",
                "county": "430381",
                "township": "东郊乡",
                "owner": "湘乡市交通运输局",
                "road_class": "一级公路",
                "lanes": 6,
                "start": "2024-04-15",
                "due": "2026-12-31",
                "milestones": G320_MILESTONES,
                "notes": NOTES,
                "real": "real project: 17.398 km = 11.748 km urban (东郊乡石江村 west to 五里桥)"
                " + 5.65 km rural to G240, class-1 road, 6 lanes (A, route description)",
            },
        ),
    )
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    for fid, geom, spec in specs:
        record, entries = _record(ctx, fid, geom, spec, rng)
        records.append(record)
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(ctx.to_lonlat([bridge, g320]))), history)
