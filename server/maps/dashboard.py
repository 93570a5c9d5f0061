"""The dashboard page: a map of the plan's projects coloured by their light, cards and tables filled by
``/static/planmap/dashboard.js`` from ``/dashboard/data`` as the time slider moves."""

from __future__ import annotations

from datetime import date

from geo.storage.base import FeatureStore
from layers.lights import LightRules
from server.maps.assets import STATIC_PREFIX, offline_map
from server.maps.data import map_bounds
from server.maps.i18n import Lang
from server.maps.pages import nav_links
from server.maps.plan import add_base_layers
from server.maps.render import render_page

LIGHT_COLORS = {"green": "#16a34a", "yellow": "#f59e0b", "red": "#dc2626"}
"""The lights' colours on the map and in the cards."""


def default_day(year: int, today: date | None = None) -> date:
    """Return the slider's first day: the month end at or after today within the plan year (its last day after it)."""
    today = today or date.today()
    if today.year != year:
        return date(year, 12, 31) if today.year > year else date(year, 1, 31)
    return today


def dashboard_page(
    store: FeatureStore, year: int, title_zh: str, as_of: date, rules: LightRules, lang: Lang, here: str = ""
) -> str:
    """Return the dashboard's HTML: the map with the offline basemap and the page frame the script fills."""
    fmap = offline_map((27.83, 112.91), 9, prefix=STATIC_PREFIX)
    add_base_layers(fmap, lang)
    minx, miny, maxx, maxy = map_bounds(store)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return render_page(
        "dashboard.html",
        fmap,
        lang,
        map_name=fmap.get_name(),
        year=year,
        title_zh=title_zh,
        as_of=as_of,
        rules=rules,
        colors=LIGHT_COLORS,
        links=nav_links(lang, here),
    )
