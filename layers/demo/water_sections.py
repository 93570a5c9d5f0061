"""The 14 national/provincial water-quality sections: real names, approximate positions, demo readings.

Which 14: the city's 2020 bulletin lists 15 国控/省控 sections plus the 专项 section 泥湾村 (涓水), which is
not 国/省控 and is left out. Of the 15, 水府庙水库库心 is also left out: the reservoir's dam is in 双峰县
(Loudi) and sources differ on how much of the lake lies in 湘乡, so its centre cannot be placed inside
Xiangtan with any confidence. The work report's list of 14 is not public, so this choice is ours.

Positions are A*: 湘江 sections are put on the county boundaries that follow the river, the others by
hand from the river descriptions, then moved 150 m into the section's county. Every section's target is
GB 3838-2002 class III (the bulletins assess all sections against III; no other target was found).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

import shapely
from shapely.geometry import Point

from geo.storage.base import HistoryEntry
from layers.boundaries import county_name
from layers.demo.context import DemoContext
from layers.demo.frames import demo_source, make_frame, project_fields
from layers.demo.history import AUTHOR, replay
from layers.demo.result import LayerData
from layers.demo.shapes import nudge_into
from layers.models import Layer
from layers.water import WaterBody, classify, is_compliant

LAYER = "water-sections"
READING_DAY = 25
TARGET_CLASS = "III"


@dataclass(frozen=True)
class Section:
    """A monitoring section: where it is (approximately) and how clean its water usually is."""

    name: str
    river: str
    level: str
    county: str
    lon: float
    lat: float
    body: WaterBody = "river"
    on_boundary: tuple[str, str] | None = None
    baseline: tuple[float, float, float, float] = (7.6, 2.4, 0.22, 0.07)  # DO, CODMn, NH3N, TP in mg/L


_FAIR = (7.0, 3.2, 0.38, 0.11)
SECTIONS = (
    Section("马家河", "湘江", "省控", "430304", 113.0, 27.815, on_boundary=("430304", "430321")),
    Section("易俗河水厂", "湘江", "省控", "430321", 112.945, 27.797, on_boundary=("430304", "430321")),
    Section("五星(一水厂)", "湘江", "省控", "430302", 112.895, 27.835, on_boundary=("430302", "430304")),
    Section("三水厂", "湘江", "省控", "430304", 112.93, 27.872, on_boundary=("430302", "430304")),
    Section("易家湾", "湘江", "省控", "430304", 112.99, 27.955, on_boundary=("430302", "430304")),
    Section("西阳渡口", "涟水", "国控", "430381", 112.30, 27.615),
    Section("洋潭坝", "涟水", "省控", "430381", 112.36, 27.645),
    Section("湘乡市洙津水厂", "涟水", "省控", "430381", 112.515, 27.728),
    Section("文家滩", "涟水", "省控", "430381", 112.60, 27.745, baseline=_FAIR),
    Section("青年水库", "涟水", "省控", "430381", 112.43, 27.80, body="lake", baseline=(8.0, 2.2, 0.15, 0.02)),
    Section("立山村", "涟水", "省控", "430321", 112.72, 27.79, baseline=_FAIR),
    Section("涟水入河口", "涟水", "国控", "430321", 112.887, 27.806, baseline=_FAIR),
    Section(
        "涓水入湘江口", "涓水", "省控", "430321", 112.915, 27.797, on_boundary=("430304", "430321"), baseline=_FAIR
    ),
    Section("九华湖公园", "九华湖", "省控", "430302", 112.905, 27.945, body="lake", baseline=(7.2, 4.2, 0.3, 0.036)),
)
# Demo excursions beyond class III: (section, parameter, candidate months, how many, value range).
_EXCURSIONS = (
    ("九华湖公园", "TP", (6, 7, 8, 9), (2, 4), (0.055, 0.09)),
    ("涓水入湘江口", "TP", (5, 6, 7, 8), (1, 2), (0.205, 0.26)),
    ("立山村", "NH3N", (1, 2, 12), (0, 2), (1.05, 1.3)),
)
_DIGITS = {"DO": 1, "CODMn": 1, "NH3N": 3, "TP": 3}
SOURCE = demo_source(
    "real section name, river and level (湘潭市水环境质量监测简报 2019-09/2020-02); approximate position"
    " (A*, placed by hand, not surveyed); generated monthly readings"
)


def _position(ctx: DemoContext, section: Section) -> Point:
    point = ctx.point_m(section.lon, section.lat)
    if section.on_boundary is not None:
        a, b = (ctx.county_m[c].boundary for c in section.on_boundary)
        river = shapely.intersection(a, b)
        point = river.interpolate(river.project(point))
    return nudge_into(point, ctx.inner(section.county, 150.0))


def _readings(rng: np.random.Generator, section: Section) -> list[dict[str, float]]:
    """Twelve monthly readings: baseline x season (summer: less oxygen, more nutrients) x noise."""
    months = np.arange(1, 13)
    summer = 0.5 * (1.0 - np.cos(2.0 * np.pi * (months - 1) / 12.0))
    do, codmn, nh3n, tp = section.baseline
    noise = rng.lognormal(0.0, 0.12, (4, 12))
    series = {
        "DO": do * (1.12 - 0.22 * summer) * noise[0],
        "CODMn": codmn * (0.9 + 0.25 * summer) * noise[1],
        "NH3N": nh3n * (1.15 - 0.3 * summer) * noise[2],
        "TP": tp * (0.85 + 0.35 * summer) * noise[3],
    }
    for name, parameter, window, count, bounds in _EXCURSIONS:
        if name == section.name:
            chosen = rng.choice(window, size=int(rng.integers(count[0], count[1] + 1)), replace=False)
            series[parameter][np.asarray(chosen, dtype=int) - 1] = rng.uniform(*bounds, size=len(chosen))
    return [{p: round(float(series[p][m]), _DIGITS[p]) for p in _DIGITS} for m in range(12)]


def section_history(fid: str, section: Section, readings: list[dict[str, float]], year: int) -> list[HistoryEntry]:
    """Return one report per month: the reading, its class, and whether it meets the target class.

    ``percent`` is the share of the year's months so far that met the target.
    """
    entries: list[HistoryEntry] = []
    met = 0
    for month, reading in enumerate(readings, start=1):
        found = classify(reading, section.body)
        ok = is_compliant(found, TARGET_CLASS)
        met += ok
        entries.append(
            HistoryEntry(
                layer=LAYER,
                feature_id=fid,
                date=date(year, month, READING_DAY),
                status="compliant" if ok else "non_compliant",
                percent=round(100.0 * met / month, 1),
                note=f"{month}月监测:{found}类" + ("" if ok else f",超{TARGET_CLASS}类目标"),
                author=AUTHOR,
                data={**reading, "class": found},
                is_demo=True,
            )
        )
    return entries


def water_state(entries: list[HistoryEntry]) -> dict[str, Any]:
    """Return the section's current attributes from its reports: latest class and month, months out of target."""
    last = max(entries, key=lambda e: e.date)
    data: Mapping[str, Any] = last.data or {}
    return {
        "latest_class": str(data["class"]),
        "latest_month": last.date.strftime("%Y-%m"),
        "months_noncompliant": sum(e.status == "non_compliant" for e in entries),
    }


def build(ctx: DemoContext, layer: Layer) -> LayerData:
    """Generate the water-sections layer: 14 points with twelve monthly readings each."""
    rng = ctx.rng(LAYER)
    records: list[dict[str, Any]] = []
    history: list[HistoryEntry] = []
    points = [_position(ctx, s) for s in SECTIONS]
    for k, (section, point) in enumerate(zip(SECTIONS, points, strict=True)):
        fid = f"WS-{k + 1:02d}"
        entries = section_history(fid, section, _readings(rng, section), ctx.year)
        common = project_fields(
            fid=fid,
            name=section.name,
            county=section.county,
            township=ctx.township_at(section.county, point),
            due_date=date(ctx.year, 12, 31),
            owner=f"湘潭市生态环境局{county_name(section.county)}分局",
            investment_wan=None,
            source=SOURCE,
            current=replay(entries),
        )
        extra = {"river": section.river, "level": section.level, "target_class": TARGET_CLASS}
        records.append(common | extra | water_state(entries))
        history.extend(entries)
    return LayerData(make_frame(layer, records, list(ctx.to_lonlat(points))), history)
