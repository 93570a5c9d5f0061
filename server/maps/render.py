"""Rendering: a folium map split into head, body and script, placed into planmap's Jinja page templates."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import folium
import jinja2
from markupsafe import Markup

from server.maps.i18n import Lang, text
from server.security import csp_nonce, with_nonce


@dataclass(frozen=True)
class MapParts:
    """A rendered map: what goes into ``<head>``, the map's ``<div>``, and its ``<script>``."""

    head: Markup
    body: Markup
    script: Markup


def map_parts(fmap: folium.Map) -> MapParts:
    """Render a map into its three parts (links and styles, the div, the script)."""
    figure = folium.Figure()
    fmap.add_to(figure)
    figure.render()
    return MapParts(
        head=Markup(with_nonce(figure.header.render())),  # Folium's own set-up script, no data in it
        body=Markup(figure.html.render()),
        script=Markup(figure.script.render()),
    )


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the Jinja environment of ``server/templates`` (autoescaping on; ``csp_nonce()`` for inline scripts)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("server", "templates"), autoescape=True)
    env.globals["csp_nonce"] = csp_nonce
    return env


def render_page(template: str, fmap: folium.Map, lang: Lang, **context: Any) -> str:
    """Render ``template`` with the map's parts, the language and a ``t(key)`` translator."""
    return (
        environment()
        .get_template(template)
        .render(
            map=map_parts(fmap),
            lang=lang,
            html_lang="en" if lang == "en" else "zh-CN",
            t=lambda key: text(key, lang),
            **context,
        )
    )
