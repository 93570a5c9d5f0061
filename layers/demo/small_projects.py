"""Demo point projects: 33 black-odorous water bodies, 65 dangerous junctions, 10 township emergency stations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import shapely
from shapely.geometry import Point

from geo.storage.base import HistoryEntry
from layers.boundaries import county_name
from layers.demo.context import DemoContext, spread_points
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, Pace, plan_schedules, progress_entries, replay
from layers.demo.places import ROADS, URBAN_AREAS
from layers.demo.result import LayerData
from layers.models import Layer

Placed = list[tuple[str, Point]]
Describe = Callable[[np.random.Generator, int, str, Point], tuple[str, dict[str, Any]]]
"""(rng, index, county, point) -> (name, layer-specific attributes)."""


@dataclass(frozen=True)
class PointProjects:
    """How one point layer is generated: id prefix, schedule, texts, owner and cost."""

    layer: str
    prefix: str
    pace: Pace
    notes: Notes
    owner: str
    investment_wan: tuple[float, float]
    done: tuple[int, int]
    source: str


BLACK_ODOROUS = PointProjects(
    "black-odorous-waters",
    "BO",
    Pace((("2025-06-30", 0.3), ("2025-09-30", 0.3), ("2025-12-31", 0.4)), (60, 180), 0.15, 0.12, 0.3),
    Notes(working=("截污管网施工", "河道清淤", "生态护岸建设", "水质监测评估"), done="消除黑臭,通过评估"),
    "{county}住房和城乡建设局",
    (80.0, 900.0),
    (28, 34),
    demo_source("generated names, positions and progress (the 33 water bodies are not listed publicly)"),
)
JUNCTIONS = PointProjects(
    "road-junctions",
    "RJ",
    Pace((("2025-06-30", 0.25), ("2025-09-30", 0.35), ("2025-12-31", 0.4)), (30, 120), 0.0, 0.12, 0.3),
    Notes(working=("增设信号灯", "渠化改造施工", "增设减速带和警示标志", "人行横道施工"), done="整治完成,通过验收"),
    "湘潭市公安局交通警察支队{county}大队",
    (10.0, 120.0),
    (55, 64),
    demo_source("generated junctions, road names and progress (the 65 junctions are not listed publicly)"),
)
STATIONS = PointProjects(
    "emergency-stations",
    "ES",
    Pace((("2025-06-30", 0.3), ("2025-10-31", 0.3), ("2025-12-31", 0.4)), (60, 180), 0.0, 0.1, 0.5),
    Notes(working=("站点用房改造", "救援装备采购", "队伍组建及培训"), done="建成并投入值守"),
    "{county}应急管理局",
    (40.0, 120.0),
    (8, 11),
    demo_source("real township names; demo station at a generated township seat, demo staffing and progress"),
)

_WATER_STEMS = (
    "东湖",
    "杨柳",
    "荷花",
    "石嘴",
    "板桥",
    "竹埠",
    "枫林",
    "桃花",
    "月光",
    "万家",
    "柳树",
    "马家",
    "黄泥",
    "老街",
    "窑湾",
    "后湖",
)
_WATER_TYPES = {"河段": ("港", "溪", "河"), "沟渠": ("渠", "排水沟"), "坑塘": ("塘",)}
_MEASURES = ("控源截污", "清淤疏浚", "生态修复", "活水补给", "截污纳管+清淤疏浚", "雨污分流改造")
_HAZARDS = (
    "视距不良",
    "信号配时不合理",
    "缺少人行过街设施",
    "交通组织混乱",
    "无减速及警示设施",
    "急弯陡坡接入",
    "大型车辆混行",
)
BLACK_PER_AREA = {"雨湖城区": 10, "岳塘城区": 8, "易俗河": 6, "湘乡城区": 6, "韶山城区": 3}
JUNCTIONS_URBAN = {"雨湖城区": 14, "岳塘城区": 12, "易俗河": 5, "湘乡城区": 5, "韶山城区": 3}
JUNCTIONS_RURAL = {"430321": 10, "430381": 9, "430382": 3, "430302": 4}
STATIONS_PER_COUNTY = {"430321": 4, "430381": 3, "430382": 1, "430302": 1, "430304": 1}


def _build(
    ctx: DemoContext, layer: Layer, spec: PointProjects, placed: Placed, describe: Describe, rng: np.random.Generator
) -> LayerData:
    done = np.zeros(len(placed), dtype=bool)
    done[rng.permutation(len(placed))[: int(rng.integers(*spec.done))]] = True
    schedules = plan_schedules(rng, done, spec.pace, ctx.year)
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    for k, ((county, point), schedule) in enumerate(zip(placed, schedules, strict=True)):
        fid = f"{spec.prefix}-{k + 1:03d}"
        entries = progress_entries(spec.layer, fid, schedule, rng, spec.notes, ctx.year)
        name, extra = describe(rng, k, county, point)
        common = project_fields(
            fid=fid,
            name=name,
            county=county,
            township=ctx.township_at(county, point),
            due_date=schedule.due,
            owner=spec.owner.format(county=county_name(county)),
            investment_wan=round(rng.uniform(*spec.investment_wan), 1),
            source=spec.source,
            current=replay(entries),
        )
        records.append(common | extra)
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(ctx.to_lonlat([p for _, p in placed]))), history)


def _in_towns(ctx: DemoContext, rng: np.random.Generator, counts: dict[str, int], scale: float) -> Placed:
    clear = shapely.union_all(ctx.occupied) if ctx.occupied else None
    out: Placed = []
    for area in URBAN_AREAS:
        region = ctx.urban(area, scale)
        region = region if clear is None else shapely.difference(region, clear)
        out.extend((area.county, p) for p in spread_points(region, counts[area.name], rng))
    return out


def build_black_odorous(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the black-odorous-waters layer: 33 points in and around the towns."""
    rng = ctx.rng(BLACK_ODOROUS.layer)
    taken: set[str] = set()

    def describe(rng: np.random.Generator, k: int, county: str, point: Point) -> tuple[str, dict[str, Any]]:
        kind = str(rng.choice(list(_WATER_TYPES), p=[0.4, 0.35, 0.25]))
        name = ""
        while not name or name in taken:
            name = f"{rng.choice(_WATER_STEMS)}{rng.choice(_WATER_TYPES[kind])}"
        taken.add(name)
        return name, {"water_type": kind, "measure": str(rng.choice(_MEASURES))}

    return _build(ctx, layer, BLACK_ODOROUS, _in_towns(ctx, rng, BLACK_PER_AREA, 1.6), describe, rng)


def build_junctions(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the road-junctions layer: 65 points, 39 in the towns and 26 on rural roads."""
    rng = ctx.rng(JUNCTIONS.layer)
    placed = _in_towns(ctx, rng, JUNCTIONS_URBAN, 1.2)
    for county, n in JUNCTIONS_RURAL.items():
        region = shapely.difference(ctx.inner(county, 300.0), ctx.urban_core(1.2))
        placed.extend((county, p) for p in spread_points(region, n, rng))
    urban = len(placed) - sum(JUNCTIONS_RURAL.values())
    taken: set[str] = set()

    def describe(rng: np.random.Generator, k: int, county: str, point: Point) -> tuple[str, dict[str, Any]]:
        name = ""
        while not name or name in taken:
            if k < urban:
                roads, prefix = [str(r) for r in rng.choice(ROADS[county], size=2, replace=False)], ""
            else:
                roads = [f"X{int(rng.integers(1, 100)):03d}县道", f"Y{int(rng.integers(1, 400)):03d}乡道"]
                prefix = ctx.township_at(county, point)
            name = f"{prefix}{roads[0]}与{roads[1]}交叉口"
        taken.add(name)
        return name, {"roads": "/".join(roads), "hazard": str(rng.choice(_HAZARDS))}

    return _build(ctx, layer, JUNCTIONS, placed, describe, rng)


def build_stations(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the emergency-stations layer: 10 stations, each at a (generated) township seat."""
    rng = ctx.rng(STATIONS.layer)
    placed: Placed = []
    for county, n in STATIONS_PER_COUNTY.items():
        seats = ctx.township_seats(county)
        placed.extend((county, seats[int(i)][1]) for i in rng.choice(len(seats), size=n, replace=False))

    def describe(rng: np.random.Generator, k: int, county: str, point: Point) -> tuple[str, dict[str, Any]]:
        staff = int(rng.integers(8, 21))
        return f"{ctx.township_at(county, point)}应急救援站", {"staff": staff, "vehicles": int(rng.integers(1, 5))}

    return _build(ctx, layer, STATIONS, placed, describe, rng)
