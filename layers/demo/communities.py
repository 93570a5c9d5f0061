"""Demo renovation of 144 old residential communities (老旧小区): small blocks in the towns, built before 2000."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shapely import affinity
from shapely.geometry import Point, Polygon
from shapely.geometry.base import BaseGeometry

from geo.storage.base import HistoryEntry
from layers.boundaries import county_name
from layers.demo.context import DemoContext
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, Pace, plan_schedules, progress_entries, replay
from layers.demo.places import ROADS, UNITS, URBAN_AREAS, UrbanArea
from layers.demo.result import LayerData
from layers.demo.shapes import place, rectangle
from layers.models import Layer

LAYER = "old-communities"
COUNT = 144
PER_AREA = {"雨湖城区": 56, "岳塘城区": 54, "易俗河": 14, "湘乡城区": 14, "韶山城区": 6}
RENOVATION = {"基础类": 0.6, "完善类": 0.3, "提升类": 0.1}
_ROAD_SUFFIXES = ("小区", "新村", "公寓")
_UNIT_SUFFIXES = ("宿舍", "家属区")
PACE = Pace(
    due_dates=(("2025-08-31", 0.2), ("2025-10-31", 0.35), ("2025-11-30", 0.25), ("2025-12-31", 0.2)),
    duration_days=(90, 210),
    carry_over=0.1,
    late=0.12,
    unstarted=0.3,
)
NOTES = Notes(
    working=(
        "雨污分流管网施工",
        "屋面防水及外墙整治",
        "道路及停车位改造",
        "水电气管线改造",
        "加装适老化设施",
        "楼道照明及安防",
    ),
    done="完工,居民代表参与验收",
)
SOURCE = demo_source(
    "scope and classes per 国办发〔2020〕23号, Xiangtan-like household and cost ratios;"
    " generated names, blocks and progress"
)


def _block(centre: Point, rng: np.random.Generator) -> BaseGeometry:
    """A 1-6 ha block: a rectangle, sometimes with a corner cut out (an L-shaped estate)."""
    hectares = float(np.clip(rng.lognormal(math.log(2.4), 0.45), 1.0, 6.0))
    aspect = rng.uniform(1.0, 2.2)
    width = math.sqrt(hectares * 10_000.0 / aspect)
    block = rectangle(centre, width * aspect, width, 0.0)
    if rng.random() < 0.35:
        minx, miny, maxx, maxy = block.bounds
        cut = Polygon(
            [
                (maxx - width * aspect * 0.4, maxy - width * 0.45),
                (maxx, maxy - width * 0.45),
                (maxx, maxy),
                (maxx - width * aspect * 0.4, maxy),
            ]
        )
        block = block.difference(cut)
        block = affinity.scale(block, *(2 * [math.sqrt(hectares * 10_000.0 / block.area)]), origin=centre)
    return affinity.rotate(block, float(rng.uniform(-25.0, 25.0)), origin=centre)


def _names(rng: np.random.Generator, county: str, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.45:
            name = f"{rng.choice(UNITS)}{rng.choice(['', '一', '二', '三'])}{rng.choice(_UNIT_SUFFIXES)}"
        else:
            name = f"{rng.choice(ROADS[county])}{rng.choice(_ROAD_SUFFIXES)}"
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


def _attributes(rng: np.random.Generator, block: BaseGeometry) -> dict[str, Any]:
    buildings = int(np.clip(round(block.area / 10_000.0 * rng.uniform(1.2, 2.4)), 2, 12))
    households = int(np.clip(buildings * rng.integers(40, 61), 90, 600))
    return {
        "build_year": int(rng.choice(np.arange(1978, 2000), p=_year_weights())),
        "buildings": buildings,
        "households": households,
        "floor_area_wan_m2": round(households * rng.uniform(70.0, 110.0) / 10_000.0, 2),
        "renovation_class": str(rng.choice(list(RENOVATION), p=list(RENOVATION.values()))),
    }


def _year_weights() -> np.ndarray:
    years = np.arange(1978, 2000)
    weights = np.where(years < 1985, 0.5, 1.0) + np.where((years >= 1988) & (years <= 1997), 0.6, 0.0)
    return weights / weights.sum()


def _blocks(ctx: DemoContext, rng: np.random.Generator) -> list[tuple[UrbanArea, BaseGeometry]]:
    out: list[tuple[UrbanArea, BaseGeometry]] = []
    for area in URBAN_AREAS:
        region = ctx.urban(area)
        blocks = place(region, PER_AREA[area.name], _block, rng, gap_m=25.0, avoid=ctx.occupied, max_tries=200)
        if len(blocks) < PER_AREA[area.name]:
            raise RuntimeError(f"could only place {len(blocks)} demo communities in {area.name}")
        ctx.occupied.extend(blocks)
        out.extend((area, b) for b in blocks)
    return out


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the old-communities layer: 144 blocks, 124-140 of them renovated by the end of 2025."""
    rng = ctx.rng(LAYER)
    blocks = _blocks(ctx, rng)
    done = np.zeros(COUNT, dtype=bool)
    done[rng.permutation(COUNT)[: int(rng.integers(124, 141))]] = True
    schedules = plan_schedules(rng, done, PACE, ctx.year)
    taken: set[str] = set()
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    for k, ((area, block), schedule) in enumerate(zip(blocks, schedules, strict=True)):
        fid = f"OC-{k + 1:03d}"
        entries = progress_entries(LAYER, fid, schedule, rng, NOTES, ctx.year)
        extra = _attributes(rng, block)
        common = project_fields(
            fid=fid,
            name=_names(rng, area.county, 1, taken)[0],
            county=area.county,
            township=ctx.township_at(area.county, block.centroid),
            due_date=schedule.due,
            owner=f"{county_name(area.county)}住房和城乡建设局",
            investment_wan=round(extra["households"] * rng.uniform(0.45, 0.7), 1),
            source=SOURCE,
            current=replay(entries),
        )
        records.append(common | extra)
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(ctx.to_lonlat([b for _, b in blocks]))), history)
