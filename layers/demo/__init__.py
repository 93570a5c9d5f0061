"""Deterministic demo data: real county boundaries plus generated plan layers and their 2025 progress history.

>>> from geo.storage.gpkg import GeoPackageStore          # doctest: +SKIP
>>> from layers.registry import load_catalogue           # doctest: +SKIP
>>> with GeoPackageStore("demo.gpkg") as store:          # doctest: +SKIP
...     report = build_demo(store, load_catalogue(), seed=2025)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import geopandas as gpd

from geo.storage.base import FeatureStore, HistoryEntry
from layers.boundaries import SOURCE as BOUNDARY_SOURCE
from layers.demo import communities, farmland, logistics, reservoirs, small_projects, transport, water_sections
from layers.demo.context import GK_REASON, DemoContext
from layers.demo.frames import PLAN_YEAR, annual_plan, investment_done, make_frame
from layers.demo.result import LayerData
from layers.models import Layer
from layers.plans import ensure_seed
from layers.progress_model import INVESTMENT_DONE
from layers.registry import LayerRegistry

BUILDER_VERSION = "1.0"
COUNTIES_LAYER = "counties"
Builder = Callable[[DemoContext, Layer], LayerData]
StepCallback = Callable[[str, int, int], None]
"""``on_step(label, done, total)``, called after each step (for a progress bar)."""

# Order matters only through DemoContext.occupied: later layers keep clear of earlier footprints.
BUILDERS: dict[str, Builder] = {
    "logistics-hubs": logistics.build,
    "transport-links": transport.build,
    "farmland": farmland.build,
    "reservoirs": reservoirs.build,
    "water-sections": water_sections.build,
    "old-communities": communities.build,
    "black-odorous-waters": small_projects.build_black_odorous,
    "road-junctions": small_projects.build_junctions,
    "emergency-stations": small_projects.build_stations,
}


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: features per layer, history entries, seed and wall-clock seconds."""

    counts: dict[str, int]
    history_entries: int
    seed: int
    seconds: float
    gk_epsg: int
    built_at: str = field(default="")


def _counties(ctx: DemoContext, layer: Layer) -> LayerData:
    frame = ctx.boundaries
    records = frame[layer.field_names].to_dict("records")
    return LayerData(make_frame(layer, records, list(frame.geometry)))


def _with_investment(data: LayerData) -> LayerData:
    """Add the cumulative investment completed to each report and the annual plan to each project."""
    frame = data.frame
    if "investment_wan" not in frame.columns:
        return data
    totals = frame.set_index("id")["investment_wan"].to_dict()
    history, before = [], dict.fromkeys(totals, 0.0)
    for entry in data.history:
        done = investment_done(totals.get(entry.feature_id), entry.percent)
        extra = {} if done is None else {INVESTMENT_DONE: done}
        history.append(dataclasses.replace(entry, data={**(entry.data or {}), **extra} or None))
        if done is not None and entry.date.year < PLAN_YEAR:
            before[entry.feature_id] = done
    frame = frame.copy()
    frame["investment_plan_wan"] = [
        annual_plan(totals[fid], before[fid], years)
        for fid, years in zip(frame["id"], frame["plan_years"], strict=True)
    ]
    return LayerData(frame, history)


def generate(
    registry: LayerRegistry, *, seed: int = 2025, boundaries: gpd.GeoDataFrame | None = None
) -> dict[str, LayerData]:
    """Return every catalogue layer, generated in memory (no store): layer id -> frame and history.

    Parameters
    ----------
    registry : LayerRegistry
        The plan catalogue; each frame gets exactly its layer's fields.
    seed : int
        Same seed, identical frames and history; each layer draws from its own stream of it.
    boundaries : geopandas.GeoDataFrame, optional
        The ``counties`` frame of :func:`layers.boundaries.load_boundaries` (loaded when not given).

    Raises
    ------
    KeyError
        If the catalogue has a layer the generator does not know.
    """
    ctx = DemoContext.create(seed, boundaries)
    out = {COUNTIES_LAYER: _counties(ctx, registry.get(COUNTIES_LAYER))}
    out.update({layer_id: _with_investment(build(ctx, registry.get(layer_id))) for layer_id, build in BUILDERS.items()})
    unknown = [layer.id for layer in registry if layer.id not in out]
    if unknown:
        raise KeyError(f"no demo generator for catalogue layers {unknown}")
    return out


def build_demo(
    store: FeatureStore, registry: LayerRegistry, *, seed: int = 2025, on_step: StepCallback | None = None
) -> BuildReport:
    """Generate every catalogue layer and its 2025 progress history and write them into ``store``.

    Parameters
    ----------
    store : FeatureStore
        Should be new: the history is append-only, so building twice into one store repeats it.
    registry : LayerRegistry
        The plan catalogue.
    seed : int
        Seed of the generator; the same seed writes identical layers and history.
    on_step : callable, optional
        ``on_step(label, done, total)`` after each layer, the history and the metadata.

    Returns
    -------
    BuildReport
        Features per layer, history entries written, seed, GK zone used and seconds taken.

    Raises
    ------
    ValueError
        If the store already holds progress history.
    """
    started = time.perf_counter()
    if len(store.history()):
        raise ValueError("the store already holds progress history; build the demo into a new store")
    ctx = DemoContext.create(seed)
    steps: list[tuple[str, Builder]] = [(COUNTIES_LAYER, _counties), *BUILDERS.items()]
    total = len(steps) + 2
    history: list[HistoryEntry] = []
    counts: dict[str, int] = {}
    for done, (layer_id, builder) in enumerate(steps, start=1):
        data = _with_investment(builder(ctx, registry.get(layer_id)))
        store.write_layer(layer_id, data.frame, types=registry.get(layer_id).column_types)
        counts[layer_id] = len(data.frame)
        history.extend(data.history)
        if on_step:
            on_step(layer_id, done, total)
    store.append_history(history)
    ensure_seed(store, author="demo")
    if on_step:
        on_step("history", total - 1, total)
    built_at = datetime.now(UTC).isoformat(timespec="seconds")
    store.set_meta("build", _meta(ctx, counts, len(history), built_at))
    if on_step:
        on_step("metadata", total, total)
    return BuildReport(counts, len(history), seed, time.perf_counter() - started, ctx.gk_epsg, built_at)


def _meta(ctx: DemoContext, counts: dict[str, int], entries: int, built_at: str) -> dict[str, object]:
    return {
        "builder": "layers.demo",
        "builder_version": BUILDER_VERSION,
        "seed": ctx.seed,
        "built_at": built_at,
        "plan_year": ctx.year,
        "gk_epsg": ctx.gk_epsg,
        "gk_reason": GK_REASON,
        "boundaries": BOUNDARY_SOURCE,
        "counts": counts,
        "history_entries": entries,
        "is_demo": "every layer except counties is generated demo data",
    }


__all__ = ["BUILDERS", "BuildReport", "build_demo", "generate"]
