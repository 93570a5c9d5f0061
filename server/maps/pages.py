"""Whole HTML pages around the maps: the plan map and the per-layer page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from geo.errors import InvalidFilter
from geo.storage.base import FeatureStore
from layers.registry import LayerRegistry
from server.maps.data import MapQuery, display_statuses, layer_frame
from server.maps.i18n import Lang, text, title
from server.maps.plan import build_plan_map
from server.maps.qgis import qgis_href
from server.maps.render import render_page


def check_statuses(registry: LayerRegistry, status: tuple[str, ...]) -> None:
    """Raise ``InvalidFilter`` naming the known statuses when the URL asks for an unknown one."""
    known = {s.value for layer in registry for s in display_statuses(layer)}
    unknown = sorted(set(status) - known)
    if unknown:
        raise InvalidFilter(f"unknown status {unknown}; statuses are {sorted(known)}")


def nav_links(lang: Lang, here: str = "") -> list[dict[str, str]]:
    """Return the links between the map pages (and the language switch for ``here``)."""
    suffix = "?lang=en" if lang == "en" else ""
    links = [
        {"href": f"/map{suffix}", "label": text("plan_map", lang)},
        {"href": f"/map/progress{suffix}", "label": text("progress_title", lang)},
        {"href": f"/dashboard{suffix}", "label": text("dashboard", lang)},
        {"href": f"/map/nearby{suffix}", "label": text("nearby_title", lang)},
    ]
    if here:
        sep = "&" if "?" in here else "?"
        links.append({"href": f"{here}{sep}lang={'zh' if lang == 'en' else 'en'}", "label": text("language", lang)})
    return links


def qgis_link(query: MapQuery) -> dict[str, str]:
    """Return the "Open in QGIS" link: the view (layers and filters) as a downloadable QGIS project."""
    return {"href": qgis_href(query), "label": text("open_in_qgis", query.lang)}


def plan_page(
    store: FeatureStore, registry: LayerRegistry, query: MapQuery, here: str = "", tianditu_key: str | None = None
) -> str:
    """Return the plan map page: the map full-screen under a title bar."""
    check_statuses(registry, query.status)
    fmap = build_plan_map(store, registry, query, tianditu_key=tianditu_key)
    return render_page(
        "map_plan.html",
        fmap,
        query.lang,
        heading=text("plan_title", query.lang),
        links=[*nav_links(query.lang, here), qgis_link(query)],
        summary="",
    )


def layer_page(store: FeatureStore, registry: LayerRegistry, layer_id: str, query: MapQuery, here: str = "") -> str:
    """Return a layer's page: its map and a table of its records, each linked to the record's HTML view."""
    layer = registry.get(layer_id)
    check_statuses(registry, query.status)
    query = replace(query, layers=(layer.id,))
    context = ("counties",) if layer.id != "counties" and "counties" in registry else ()
    fmap = build_plan_map(store, registry, replace(query, layers=(*context, layer.id)))
    frame = layer_frame(store, layer, query)
    labels = {s.value: s.label_en if query.lang == "en" else s.label_zh for s in display_statuses(layer)}
    rows: list[dict[str, Any]] = [
        {
            "id": row["id"],
            "name": row.get(layer.label_field, row["id"]),
            "county": row.get("county_name", ""),
            "status": labels.get(row["_status"], row["_status"]),
            "href": f"/collections/{layer.id}/items/{row['id']}?f=html",
        }
        for row in frame.drop(columns=frame.geometry.name).to_dict("records")
    ]
    back = "/map?" + urlencode({"layers": layer.id, **({"lang": "en"} if query.lang == "en" else {})})
    return render_page(
        "map_layer.html",
        fmap,
        query.lang,
        heading=title(layer, query.lang),
        layer=layer,
        rows=rows,
        links=[*nav_links(query.lang, here), qgis_link(query)],
        back=back,
    )
