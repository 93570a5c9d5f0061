"""The field page: projects near a phone's position, nearest first, with distance and compass direction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import folium

from geo.navigation import NavigationLinks, destination, navigation_links
from geo.storage.base import FeatureStore
from layers.basemap import BOUNDARY_LAYER
from layers.models import Layer
from layers.nearby import NearbyResult, find_nearby, resolve_layers
from layers.registry import LayerRegistry
from server.maps.assets import STATIC_PREFIX, offline_map
from server.maps.data import MapQuery, display_statuses, layer_frame, map_bounds, to_geojson
from server.maps.elements import PlanControl, PlanOverlay
from server.maps.i18n import Lang, direction, status_label, text, title
from server.maps.pages import nav_links
from server.maps.plan import add_base_layers, overlay_config
from server.maps.render import render_page


@dataclass(frozen=True)
class NearbyQuery:
    """Where the phone is (``lon``/``lat`` in ``coordsys``; None asks the browser), how far to look, what to show."""

    lon: float | None = None
    lat: float | None = None
    coordsys: str = "wgs84"
    radius_m: float = 2000.0
    layers: tuple[str, ...] = ()
    lang: Lang = "zh"


def distance_text(metres: float, lang: Lang) -> str:
    """Return a distance for people: 350 米 / 1.2 公里 (350 m / 1.2 km)."""
    if metres < 1000:
        return f"{metres:.0f} {'m' if lang == 'en' else '米'}"
    return f"{metres / 1000:.1f} {'km' if lang == 'en' else '公里'}"


Destinations = dict[tuple[str, str], NavigationLinks]
"""Navigation links of the projects found, by (layer, id)."""


def _rows(result: NearbyResult, registry: LayerRegistry, lang: Lang, nav: Destinations) -> list[dict[str, Any]]:
    rows = []
    for project in result.projects:
        layer = registry.get(project.layer)
        labels = {s.value: status_label(s, lang) for s in display_statuses(layer)}
        rows.append(
            {
                "id": project.id,
                "layer": project.layer,
                "layer_title": title(layer, lang),
                "name": project.name or project.id,
                "distance_m": project.distance_m,
                "distance": distance_text(project.distance_m, lang),
                "direction": direction(project.bearing_deg, lang),
                "status": labels.get(project.status or "", project.status or ""),
                "href": project.href,
                "nav": nav.get((project.layer, project.id)),
            }
        )
    return rows


def _add_found(
    fmap: folium.Map, store: FeatureStore, layers: list[Layer], result: NearbyResult, lang: Lang
) -> Destinations:
    """Draw the projects found; return their navigation links (to a point on each geometry)."""
    nav: Destinations = {}
    found: dict[str, list[str]] = {}
    for project in result.projects:
        found.setdefault(project.layer, []).append(project.id)
    for layer in layers:
        if layer.id not in found:
            continue
        config = overlay_config(layer, MapQuery(lang=lang))
        frame = layer_frame(store, layer, MapQuery(lang=lang, ids=tuple(found[layer.id])))
        names = frame[layer.label_field] if layer.label_field in frame.columns else frame["id"]
        for fid, name, geometry in zip(frame["id"], names, frame.geometry, strict=True):
            nav[(layer.id, str(fid))] = navigation_links(*destination(geometry), str(name or fid))
        config["data"] = to_geojson(frame)
        config["dataUrl"] = None
        PlanOverlay(title(layer, lang), config).add_to(fmap)
    return nav


def build_nearby_map(
    store: FeatureStore, registry: LayerRegistry, query: NearbyQuery, static: str = STATIC_PREFIX
) -> tuple[folium.Map, NearbyResult | None, Destinations]:
    """Return the field map (search circle, phone's position, projects found), the result and navigation links."""
    layers = resolve_layers(registry, list(query.layers))
    fmap = offline_map((27.83, 112.91), 10, prefix=static)
    add_base_layers(fmap, query.lang)
    result, nav = None, {}
    if query.lon is not None and query.lat is not None:
        href = "/collections/{layer}/items/{id}?f=html"
        result = find_nearby(
            store, layers, query.lon, query.lat, query.radius_m, coordsys=query.coordsys, href_template=href
        )
        nav = _add_found(fmap, store, layers, result, query.lang)
        circle = folium.Circle(
            (result.lat, result.lon),
            radius=result.radius_m,
            color="#2563eb",
            weight=2,
            fill_opacity=0.05,
            class_name="pm-radius",
        )
        circle.add_to(fmap)
        folium.CircleMarker(
            (result.lat, result.lon),
            radius=8,
            color="#ffffff",
            weight=3,
            fill_color="#2563eb",
            fill_opacity=1,
            class_name="pm-here",
            tooltip=text("you_are_here", query.lang),
        ).add_to(fmap)
        dlat = result.radius_m / 111_320
        dlon = dlat / max(0.2, math.cos(math.radians(result.lat)))
        fmap.fit_bounds([[result.lat - dlat, result.lon - dlon], [result.lat + dlat, result.lon + dlon]])
    else:
        minx, miny, maxx, maxy = map_bounds(store)
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    fmap.add_child(
        PlanControl("locate", {"locate": text("locate", query.lang), "failed": text("locate_failed", query.lang)})
    )
    return fmap, result, nav


def _counties(store: FeatureStore) -> list[dict[str, str]]:
    """Return the county-level divisions (not the city) a phone may take offline."""
    frame = store.read(BOUNDARY_LAYER, columns=["id", "name", "level"])
    frame = frame[frame["level"] != "city"].sort_values("id")
    return [{"id": str(i), "name": str(n)} for i, n in zip(frame["id"], frame["name"], strict=True)]


def nearby_page(store: FeatureStore, registry: LayerRegistry, query: NearbyQuery, here: str = "") -> str:
    """Return the phone-friendly field page."""
    fmap, result, nav = build_nearby_map(store, registry, query)
    rows = _rows(result, registry, query.lang, nav) if result else []
    return render_page(
        "map_nearby.html",
        fmap,
        query.lang,
        heading=text("nearby_title", query.lang),
        query=query,
        result=result,
        rows=rows,
        links=nav_links(query.lang, here),
        radius_text=distance_text(query.radius_m, query.lang),
        counties=_counties(store),
    )
