"""Demo reinforcement of 25 unsafe (三类坝) small and medium reservoirs in the hilly rural counties.

The 2025 list is not public, so names are generated, never the real reservoir names of the fact sheet
(using them would suggest which reservoirs are on the list).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from geo.storage.base import HistoryEntry
from layers.boundaries import county_name
from layers.demo.context import DemoContext, spread_points
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, Pace, plan_schedules, progress_entries, replay
from layers.demo.places import CITY_FRINGE_BOX, JIUHUA_BOX, URBAN_AREAS
from layers.demo.result import LayerData
from layers.models import Layer

LAYER = "reservoirs"
COUNT = 25
PER_COUNTY = {"430321": 9, "430381": 10, "430382": 3, "430302": 3}
# Total storage (万m³) and dam height (m) ranges per size class (SL 252: 小(2) 10-100, 小(1) 100-1000, 中型 1000-10000).
SIZE_CLASSES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "小(2)型": ((10.0, 100.0), (6.0, 15.0), (80.0, 350.0)),
    "小(1)型": ((100.0, 1000.0), (12.0, 30.0), (300.0, 1500.0)),
    "中型": ((1000.0, 6000.0), (20.0, 45.0), (1500.0, 5000.0)),
}
"""size class -> (storage 万m³, dam height m, investment 万元) ranges."""
DAM_TYPES = {"均质土坝": 0.55, "黏土心墙坝": 0.25, "黏土斜墙坝": 0.08, "浆砌石重力坝": 0.08, "混凝土重力坝": 0.04}
REAL_NAMES = ("花石", "红日", "南海", "新塘", "石罗冲", "坳头", "白云栗山", "青沟", "青年", "水府庙")
_FIRST = "枫樟桐竹松柏桃梨茶杨龙凤狮象鹤雁金银白黄长大高双三五"
_SECOND = "木树山岭坡溪泉石家林田"
_SUFFIX = ("冲", "坝", "湾", "垅", "坳", "")
PACE = Pace(
    due_dates=(("2025-05-31", 0.35), ("2025-09-30", 0.2), ("2025-12-31", 0.45)),
    duration_days=(100, 240),
    carry_over=0.35,
    late=0.15,
    unstarted=0.2,
)
NOTES = Notes(
    working=("坝体防渗处理", "溢洪道改建", "放水设施更换", "坝坡整治", "白蚁防治", "观测设施建设"),
    carried="上年冬修开工,汛前抢工",
    done="完工,通过蓄水验收",
)
SOURCE = demo_source(
    "size-class storage and height ranges per SL 252 and 三类坝 per 水库大坝安全鉴定办法;"
    " generated names and positions (the 2025 list is not public), demo progress"
)


def _region(ctx: DemoContext, county: str) -> BaseGeometry:
    """Hilly rural land (A*): southern 湘潭县, 湘乡 away from its town, 韶山, north-western 雨湖."""
    region = shapely.difference(ctx.inner(county, 600.0), ctx.urban_core(scale=1.8))
    if county == "430321":
        region = shapely.intersection(region, ctx.box_m((112.3, 27.3, 113.1, 27.68)))
    elif county == "430381":
        town = next(a for a in URBAN_AREAS if a.county == county)
        region = shapely.difference(region, ctx.point_m(town.lon, town.lat).buffer(10_000.0))
    elif county == "430302":
        region = shapely.difference(region, shapely.union(ctx.box_m(JIUHUA_BOX), ctx.box_m(CITY_FRINGE_BOX)))
    clear = shapely.union_all(ctx.occupied).buffer(300.0, quad_segs=2) if ctx.occupied else None
    return region if clear is None else shapely.difference(region, clear)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        stem = str(rng.choice(list(_FIRST))) + str(rng.choice(list(_SECOND))) + str(rng.choice(_SUFFIX))
        if stem not in names and not any(real in stem for real in REAL_NAMES):
            names.append(stem)
    return [f"{stem}水库" for stem in names]


def _sizes(rng: np.random.Generator) -> list[str]:
    medium, small1 = int(rng.integers(1, 3)), int(rng.integers(7, 11))
    sizes = ["中型"] * medium + ["小(1)型"] * small1 + ["小(2)型"] * (COUNT - medium - small1)
    return [sizes[i] for i in rng.permutation(COUNT)]


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


def _river(county: str, point: Point, ctx: DemoContext) -> str:
    if county in ("430381", "430382"):
        return "涟水水系"
    if county == "430321" and point.y < ctx.point_m(112.9, 27.55).y:
        return "涓水水系"
    return "湘江水系"


def _attributes(rng: np.random.Generator, size: str, county: str, point: Point, ctx: DemoContext) -> dict[str, Any]:
    storage, height, _ = SIZE_CLASSES[size]
    return {
        "size_class": size,
        "dam_type": str(rng.choice(list(DAM_TYPES), p=list(DAM_TYPES.values()))),
        "dam_height_m": round(rng.uniform(*height), 1),
        "storage_wan_m3": round(_log_uniform(rng, storage), 1),
        "safety_class": "三类坝",
        "river": _river(county, point, ctx),
    }


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the reservoirs layer: 25 points, 20-24 of them reinforced by the end of 2025."""
    rng = ctx.rng(LAYER)
    placed = [(c, p) for c, n in PER_COUNTY.items() for p in spread_points(_region(ctx, c), n, rng)]
    done = np.zeros(COUNT, dtype=bool)
    done[rng.permutation(COUNT)[: int(rng.integers(20, 25))]] = True
    schedules = plan_schedules(rng, done, PACE, ctx.year)
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    for k, ((county, point), name, size, schedule) in enumerate(
        zip(placed, _names(rng, COUNT), _sizes(rng), schedules, strict=True)
    ):
        fid = f"RS-{k + 1:03d}"
        entries = progress_entries(LAYER, fid, schedule, rng, NOTES, ctx.year)
        common = project_fields(
            fid=fid,
            name=name,
            county=county,
            township=ctx.township_at(county, point),
            due_date=schedule.due,
            owner=f"{county_name(county)}水利局",
            investment_wan=round(rng.uniform(*SIZE_CLASSES[size][2]), 1),
            source=SOURCE,
            current=replay(entries),
        )
        records.append(common | _attributes(rng, size, county, point, ctx))
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(ctx.to_lonlat([p for _, p in placed]))), history)
