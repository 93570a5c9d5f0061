"""Demo high-standard farmland (高标准农田) projects: irregular parcels in rural 湘潭县, 湘乡, 韶山 and 雨湖."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import shapely
from shapely import affinity
from shapely.geometry import MultiPolygon, Point
from shapely.geometry.base import BaseGeometry

from geo.measure import MU_M2, area_mu
from geo.storage.base import HistoryEntry
from layers.boundaries import county_name
from layers.demo.context import DemoContext
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import Notes, Pace, plan_schedules, progress_entries, replay
from layers.demo.places import CITY_FRINGE_BOX, CITY_GOVERNMENT, JIUHUA_BOX
from layers.demo.result import LayerData
from layers.demo.shapes import ShapeMaker, blob, place
from layers.models import Layer

LAYER = "farmland"
TARGET_MU = 100_000.0
COUNTY_SHARE = {"430321": 0.44, "430381": 0.36, "430382": 0.12, "430302": 0.08}
"""Share of the demo area per county; none in 岳塘区, the urban core."""
MIN_DISTANCE_FROM_CITY_M = 9_000.0
# Per 1000 mu, from the city's 2017-18 batch: 5.72万 mu with 72.8 km canals, 117 ponds, 12 stations, 31.5 km roads.
_PER_1000_MU = {"canal_km": 1.27, "ponds": 2.05, "pumping_stations": 0.21, "road_km": 0.55}
_YUAN_PER_MU = (1400.0, 1700.0)
PACE = Pace(
    due_dates=(("2025-06-30", 0.15), ("2025-10-31", 0.25), ("2025-11-30", 0.3), ("2025-12-31", 0.3)),
    duration_days=(90, 240),
    carry_over=0.2,
    late=0.12,
    unstarted=0.25,
)
NOTES = Notes(
    working=("渠系衬砌施工", "田间道路硬化", "山塘清淤扩容", "土地平整", "电灌站设备安装", "机耕桥涵施工", "土壤改良"),
    done="完工,通过县级初验",
)
SOURCE = demo_source(
    "real township names and Xiangtan-like quantities and unit costs (GB/T 30600-2022 fields);"
    " demo parcels, names and progress"
)


def _region(ctx: DemoContext, county: str) -> BaseGeometry:
    """Rural land of a county: off its edges, away from the city, the towns and 九华."""
    city = ctx.point_m(*CITY_GOVERNMENT).buffer(MIN_DISTANCE_FROM_CITY_M, quad_segs=16)
    boxes = [ctx.box_m(JIUHUA_BOX), ctx.box_m(CITY_FRINGE_BOX)]
    keep_out = shapely.union_all([city, *boxes, ctx.urban_core(scale=1.3)])
    return shapely.difference(ctx.inner(county, 400.0), keep_out)


def _project_shape(area_m2: float, parts: int) -> ShapeMaker:
    """Return a maker of a 1-3 parcel project of ``area_m2`` around a centre (parcels 600-1600 m apart)."""

    def make(centre: Point, rng: np.random.Generator) -> BaseGeometry:
        shares = rng.dirichlet(np.full(parts, 4.0))
        pieces, angle = [], rng.uniform(0.0, 2 * math.pi)
        for k, share in enumerate(shares):
            offset = 0.0 if k == 0 else rng.uniform(600.0, 1600.0)
            heading = angle + k * rng.uniform(1.6, 2.6)
            at = affinity.translate(centre, offset * math.cos(heading), offset * math.sin(heading))
            pieces.append(blob(at, area_m2 * share, rng, vertices=16, roughness=0.3, aspect=rng.uniform(1.0, 2.5)))
        merged = shapely.union_all(pieces)
        return merged if merged.geom_type == "MultiPolygon" else MultiPolygon([merged])

    return make


def _parcels(ctx: DemoContext, rng: np.random.Generator) -> list[tuple[str, BaseGeometry]]:
    total_mu = rng.uniform(114_000.0, 122_000.0)
    out: list[tuple[str, BaseGeometry]] = []
    for county, share in COUNTY_SHARE.items():
        region, quota = _region(ctx, county), total_mu * share
        while quota > 0:
            mu = float(np.clip(rng.lognormal(math.log(800.0), 0.6), 250.0, 3500.0))
            parts = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
            shapes = place(region, 1, _project_shape(mu * MU_M2, parts), rng, gap_m=200.0, avoid=ctx.occupied)
            if not shapes:
                continue
            ctx.occupied.append(shapes[0])
            out.append((county, shapes[0]))
            quota -= mu
    return out


def _done_mask(rng: np.random.Generator, areas: np.ndarray) -> np.ndarray:
    """Pick finished projects until their area reaches 88-102 % of the 10万 mu target."""
    goal = rng.uniform(0.88, 1.02) * TARGET_MU
    order = rng.permutation(len(areas))
    done = np.zeros(len(areas), dtype=bool)
    done[order[np.cumsum(areas[order]) - areas[order] < goal]] = True
    return done


def _quantities(rng: np.random.Generator, mu: float) -> dict[str, Any]:
    per = mu / 1000.0
    return {
        "build_type": str(rng.choice(["新建", "改造提升"], p=[0.6, 0.4])),
        "canal_km": round(per * _PER_1000_MU["canal_km"] * rng.uniform(0.6, 1.4), 2),
        "ponds": int(rng.poisson(per * _PER_1000_MU["ponds"])),
        "pumping_stations": int(rng.poisson(per * _PER_1000_MU["pumping_stations"])),
        "road_km": round(per * _PER_1000_MU["road_km"] * rng.uniform(0.6, 1.4), 2),
    }


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the farmland layer (about 118,000 mu in some 130 projects) and its history."""
    rng = ctx.rng(LAYER)
    parcels = _parcels(ctx, rng)
    geoms = ctx.to_lonlat([g for _, g in parcels])
    areas = area_mu(geoms)
    schedules = plan_schedules(rng, _done_mask(rng, areas), PACE, ctx.year)
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    seen: dict[str, int] = {}
    for k, ((county, shape), mu, schedule) in enumerate(zip(parcels, areas, schedules, strict=True)):
        fid = f"FL-{k + 1:03d}"
        entries = progress_entries(LAYER, fid, schedule, rng, NOTES, ctx.year)
        current = replay(entries)
        year = ctx.year if current["start_date"] is None else min(current["start_date"].year, ctx.year)
        extra = _quantities(rng, float(mu))
        township = ctx.township_at(county, shape.centroid)
        kind = "建设" if extra["build_type"] == "新建" else "改造提升"
        base = f"{county_name(county)}{township}{year}年高标准农田{kind}项目"
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}({seen[base]}片区)"
        records.append(
            project_fields(
                fid=fid,
                name=name,
                county=county,
                township=township,
                due_date=schedule.due,
                owner=f"{county_name(county)}农业农村局",
                investment_wan=round(float(mu) * rng.uniform(*_YUAN_PER_MU) / 10_000.0, 1),
                source=SOURCE,
                current=current,
            )
            | extra
            | {"area_mu": round(float(mu), 2), "project_year": year}
        )
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(geoms)), history)
