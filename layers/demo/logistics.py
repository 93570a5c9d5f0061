"""The four logistics hubs the plan names: real names, placeholder outlines, demo milestones and progress."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from geo.measure import area_mu
from geo.storage.base import HistoryEntry
from layers.demo.context import DemoContext
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, progress_entries, replay
from layers.demo.milestones import milestone_schedule, reach_milestones
from layers.demo.result import LayerData
from layers.demo.shapes import rectangle
from layers.models import Layer

LAYER = "logistics-hubs"
JIUHUA = "九华示范区(湘潭经开区)"
NOTES = Notes(working=("主体工程施工", "场地平整", "配套道路施工", "设备采购安装", "手续办理推进"), done="建成投用")


@dataclass(frozen=True)
class Hub:
    """A named hub: where its outline goes (A*/U), its milestones and what of it is real."""

    fid: str
    name: str
    project_type: str
    county: str
    township: str | None
    lon: float
    lat: float
    size_m: tuple[float, float]
    angle_deg: float
    owner: str
    start: str
    due: str
    milestones: tuple[tuple[str, str], ...]
    real: str
    investment_wan: float | None = None


HUBS = (
    Hub(
        "LH-01",
        "一力物流园(湘潭一力九华公铁水联运区)",
        "公铁水多式联运物流园",
        "430302",
        JIUHUA,
        112.955,
        27.925,
        (1200.0, 500.0),
        0.0,
        "湘潭经开区管委会",
        "2024-03-18",
        "2025-12-31",
        (("仓储二期主体完工", "2025-06-30"), ("铁路专用线铺轨", "2025-09-30"), ("公铁水联运区试运营", "2025-12-31")),
        "real project name (2025 work plan; a rail-road-water node of the 长株潭 logistics-hub plan);"
        " location A* (九华, by the 湘江)",
    ),
    Hub(
        "LH-02",
        "长株潭公路港物流园",
        "公路港物流园",
        "430302",
        JIUHUA,
        112.87,
        27.95,
        (950.0, 480.0),
        15.0,
        "湘潭经开区管委会",
        "2024-09-10",
        "2025-10-31",
        (("一期仓库主体完工", "2025-05-31"), ("信息交易平台上线", "2025-08-31"), ("一期投入运营", "2025-10-31")),
        "real project name (2025 work plan); location unknown (U), placeholder in 九华",
    ),
    Hub(
        "LH-03",
        "湘潭东铁路货场",
        "铁路货场扩能改造",
        "430304",
        None,
        112.965,
        27.875,
        (1800.0, 320.0),
        -14.0,
        "湘潭市交通运输局",
        "2025-03-20",
        "2025-12-31",
        (("扩能工程开工", "2025-03-31"), ("新增装卸线铺通", "2025-08-31"), ("货场扩能投用", "2025-12-31")),
        "real project name (2025 work plan); location A* (岳塘区, on the 沪昆铁路 east of 湘潭站)",
    ),
    Hub(
        "LH-04",
        "九华通用机场",
        "通用机场",
        "430302",
        JIUHUA,
        112.855,
        27.965,
        (2400.0, 750.0),
        20.0,
        "湘潭经开区管委会",
        "2025-02-17",
        "2027-12-31",
        (
            ("场址及用地预审", "2025-04-30"),
            ("可行性研究报告批复", "2025-09-30"),
            ("场道工程开工", "2025-12-31"),
            ("建成通航", "2027-12-31"),
        ),
        "real project name; site about 2,700 mu and investment about 70亿 (A, project sheet); location A* in 九华",
        700_000.0,
    ),
)


def _riverside(ctx: DemoContext, hub: Hub) -> list[BaseGeometry]:
    """Outline of 一力: a yard 700 m inland from the 湘江 and a wharf strip by the river, both along the bank."""
    river = shapely.intersection(ctx.county_m["430302"].boundary, ctx.county_m["430304"].boundary)
    at = river.project(ctx.point_m(hub.lon, hub.lat))
    a, b = river.interpolate(at - 300.0), river.interpolate(at + 300.0)
    angle = math.atan2(b.y - a.y, b.x - a.x)
    bank = river.interpolate(at)
    normal = (-math.sin(angle), math.cos(angle))
    if not ctx.county_m[hub.county].contains(Point(bank.x + 500 * normal[0], bank.y + 500 * normal[1])):
        normal = (-normal[0], -normal[1])
    parts = []
    for offset, (length, width) in ((700.0, hub.size_m), (230.0, (450.0, 120.0))):
        centre = Point(bank.x + offset * normal[0], bank.y + offset * normal[1])
        parts.append(rectangle(centre, length, width, math.degrees(angle)))
    return parts


def _outline(ctx: DemoContext, hub: Hub) -> MultiPolygon:
    if hub.fid == "LH-01":
        parts = _riverside(ctx, hub)
    else:
        parts = [rectangle(ctx.point_m(hub.lon, hub.lat), *hub.size_m, hub.angle_deg)]
    outline = MultiPolygon(parts)
    if not ctx.inner(hub.county, 100.0).contains(outline):
        raise RuntimeError(f"demo outline of {hub.name} leaves its county {hub.county}")
    return outline


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the logistics-hubs layer: four named projects with milestones."""
    rng = ctx.rng(LAYER)
    outlines = [_outline(ctx, h) for h in HUBS]
    ctx.occupied.extend(outlines)
    geoms = ctx.to_lonlat(list(outlines))
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    for hub, outline, mu in zip(HUBS, outlines, area_mu(geoms), strict=True):
        start = date.fromisoformat(hub.start)
        milestones = reach_milestones(rng, hub.milestones, start, ctx.year, on_time=0.55, late=0.25)
        schedule = milestone_schedule(milestones, start, date.fromisoformat(hub.due))
        entries = progress_entries(LAYER, hub.fid, schedule, rng, NOTES, ctx.year)
        common = project_fields(
            fid=hub.fid,
            name=hub.name,
            county=hub.county,
            township=hub.township or ctx.township_at(hub.county, outline.centroid),
            due_date=schedule.due,
            owner=hub.owner,
            investment_wan=hub.investment_wan,
            source=demo_source(f"{hub.real}; demo outline, owner, milestones and progress"),
            current=replay(entries),
        )
        extra = {"project_type": hub.project_type, "area_mu": round(float(mu), 1), "milestones": milestones}
        records.append(common | extra)
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(geoms)), history)
