"""The progress page: county choropleth, the city total against the target, county bars, burn-up, overdue list."""

from __future__ import annotations

from datetime import date
from typing import Any

from geo.storage.base import FeatureStore
from layers.deadlines import layer_deadlines
from layers.lights import LightRules, has_lights
from layers.lights_report import LightsSummary, lights_report
from layers.models import Layer
from layers.plan_scope import plan_filter
from layers.progress_counties import counties_geojson, county_progress
from layers.registry import LayerRegistry
from layers.timeline import layer_timeline
from server.charts import Bar, bar_chart, line_chart, number
from server.maps.assets import STATIC_PREFIX, offline_map
from server.maps.data import MapQuery, map_bounds
from server.maps.elements import PlanControl, PlanOverlay
from server.maps.i18n import Lang, text, title
from server.maps.pages import nav_links
from server.maps.plan import add_base_layers
from server.maps.render import render_page

PLAN_YEAR = 2025
RAMP = ("#f7fcf5", "#c7e9c0", "#74c476", "#31a354", "#006d2c")
"""Choropleth classes 0-20, 20-40, 40-60, 60-80, 80-100 % of the county's planned amount done."""


def default_as_of(today: date | None = None, year: int = PLAN_YEAR) -> date:
    """Return the day the page replays to by default: today, kept within the plan year."""
    today = today or date.today()
    return min(max(today, date(year, 1, 1)), date(year, 12, 31))


def _bin(pct: float | None) -> str:
    return f"c{min(int((pct or 0.0) // 20), 4)}"


def choropleth_config(data: dict[str, Any], layer: Layer, lang: Lang) -> dict[str, Any]:
    """Return the ``planmap.geojson`` config drawing counties by their share of planned amount done."""
    for feature in data["features"]:
        props = feature["properties"]
        props["pct_planned"] = round(props.get("pct_planned") or 0.0, 1)
        props["_status"] = _bin(props["pct_planned"])
    unit = layer.target.unit_zh if layer.target else ""
    labels = {f"c{i}": f"{i * 20}–{(i + 1) * 20}%" for i in range(5)}
    return {
        "id": "choropleth",
        "title": title(layer, lang),
        "labelField": "name",
        "colors": dict(zip(labels, RAMP, strict=True)),
        "statusLabels": labels,
        "color": "#374151",
        "outline": False,
        "fillOpacity": 0.85,
        "weight": 1.5,
        "popup": True,
        "fields": [
            {"name": "done", "alias": text("done_of_target", lang), "unit": unit},
            {"name": "planned", "alias": text("target", lang), "unit": unit},
            {"name": "pct_planned", "alias": text("progress", lang), "unit": "%"},
            {"name": "overdue", "alias": text("overdue_list", lang), "unit": ""},
        ],
        "itemUrl": "/collections/counties/items/{fid}?f=html",
        "data": data,
        "overdue": False,
        "done": [],
        "today": "",
        "text": {"progress": text("progress", lang), "record": text("record", lang)},
    }


def build_progress_map(
    store: FeatureStore, layer: Layer, as_of: date, lang: Lang = "zh", static: str = STATIC_PREFIX
) -> Any:
    """Return the county choropleth of a layer's progress on ``as_of`` (a ``folium.Map``)."""
    fmap = offline_map((27.83, 112.91), 9, prefix=static)
    add_base_layers(fmap, lang)
    config = choropleth_config(counties_geojson(store, layer, as_of), layer, lang)
    PlanOverlay(title(layer, lang), config).add_to(fmap)
    legend = "".join(
        f'<div><span class="pm-swatch" style="background:{c}"></span>{config["statusLabels"][k]}</div>'
        for k, c in config["colors"].items()
    )
    fmap.add_child(PlanControl("legend", f"<h4>{text('progress', lang)}</h4>{legend}"))
    minx, miny, maxx, maxy = map_bounds(store)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def county_lights(store: FeatureStore, layer: Layer, as_of: date, year: int, rules: LightRules) -> list[LightsSummary]:
    """Return the layer's 序时进度 lights per county and for the city (last row); none for unscheduled layers."""
    if not has_lights(layer):
        return []
    report = lights_report(store, [layer], year, as_of, rules)
    return [*report.counties, report.city]


def progress_context(
    store: FeatureStore,
    layer: Layer,
    as_of: date,
    lang: Lang,
    plan_year: int | None = None,
    rules: LightRules | None = None,
) -> dict[str, Any]:
    """Return the page's figures: total, county rows against quotas, bars, burn-up, overdue rows and lights."""
    where = plan_filter(layer, plan_year)
    progress = county_progress(store, layer, as_of, where)
    unit = (layer.target.unit_en if lang == "en" else layer.target.unit_zh) if layer.target else ""
    bars = [Bar(row.scope_name or row.scope, row.done, row.planned) for row in progress.counties]
    timeline = layer_timeline(store, layer, where)
    points = [p for p in timeline.points if p.as_of <= as_of]
    months = [f"{p.as_of.month}月" if lang == "zh" else p.as_of.strftime("%b") for p in timeline.points]
    found = layer_deadlines(store, layer, as_of, 30, 80.0, plan_year)
    overdue = [item for kind, item in found if kind == "overdue"]
    return {
        "total": progress.total,
        "unit": unit,
        "done_text": number(progress.total.done),
        "target_text": number(progress.total.target) if progress.total.target else "",
        "bars_svg": bar_chart(bars, unit),
        "counties": progress.counties,
        "burnup_svg": line_chart(months, [p.done for p in points], progress.total.target, unit),
        "overdue": sorted(overdue, key=lambda i: (i.due, i.id)),
        "county_names": {row.scope: row.scope_name or row.scope for row in progress.counties},
        "lights": county_lights(store, layer, as_of, plan_year or PLAN_YEAR, rules or LightRules()),
    }


def progress_page(
    store: FeatureStore,
    registry: LayerRegistry,
    query: MapQuery,
    here: str = "",
    plan_year: int | None = None,
    rules: LightRules | None = None,
) -> str:
    """Return the progress page of the query's (first) layer on ``query.as_of`` (default: today in the plan year).

    ``registry`` carries the plan's targets; ``plan_year`` limits the page to that year's projects.
    """
    layer = registry.get(query.layers[0] if query.layers else "farmland")
    year = plan_year or PLAN_YEAR
    as_of = query.as_of or default_as_of(year=year)
    fmap = build_progress_map(store, layer, as_of, query.lang)
    return render_page(
        "map_progress.html",
        fmap,
        query.lang,
        heading=f"{title(layer, query.lang)} · {text('progress_title', query.lang)}",
        layer=layer,
        layers=[(item.id, title(item, query.lang)) for item in registry.projects()],
        as_of=as_of,
        year=year,
        plan_year=plan_year,
        links=nav_links(query.lang, here),
        **progress_context(store, layer, as_of, query.lang, plan_year, rules),
    )
