"""The plan map: every layer over Xiangtan, coloured by status, with filters, legend and locate control."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Any
from urllib.parse import urlencode

import folium

import geopandas as gpd
import shapely

from geo.storage.base import FeatureStore
from layers.models import Layer, StatusSpec
from layers.registry import LayerRegistry
from server.maps.assets import STATIC_PREFIX, offline_map, vectorgrid_js
from server.maps.data import (
    MapQuery,
    can_be_overdue,
    display_statuses,
    layer_filter,
    layer_frame,
    map_bounds,
    popup_fields,
    to_geojson,
)
from server.maps.elements import PlanControl, PlanOverlay
from server.maps.i18n import Lang, status_label, text, title

DENSE_FEATURES = 5000
"""Above this many features a layer is drawn from vector tiles instead of embedded GeoJSON."""
DENSE_VERTICES = 100_000
"""Above this many vertices in all (about 2.5 MB of GeoJSON) a layer is drawn from vector tiles too, so one
huge outline cannot make a page heavy."""

_GEOMETRY_ORDER = {"MultiPolygon": 0, "MultiLineString": 1, "Point": 2, "MultiPoint": 2}
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
# Tianditu's "w" tile matrix set is Web Mercator, so its WMTS KVP URL works as a plain XYZ template.
_TIANDITU_URL = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
)


def add_base_layers(fmap: folium.Map, lang: Lang, root: str = "", tianditu_key: str | None = None) -> None:
    """Add planmap's offline basemap (shown) and the online ones (listed only: fetched once switched on)."""
    folium.TileLayer(
        f"{root}/basemap/{{z}}/{{x}}/{{y}}.png", name=text("basemap_offline", lang), attr="planmap", max_zoom=18
    ).add_to(fmap)
    folium.TileLayer(_OSM_URL, name=text("basemap_osm", lang), attr="© OpenStreetMap", show=False).add_to(fmap)
    if tianditu_key:
        group = folium.FeatureGroup(name=text("basemap_tianditu", lang), overlay=False, show=False)
        for layer in ("vec", "cva"):
            url = _TIANDITU_URL.format(layer=layer, key=tianditu_key, s="{s}")
            folium.TileLayer(url, attr="© 天地图", subdomains="01234567", max_zoom=18).add_to(group)
        group.add_to(fmap)
    folium.TileLayer(
        _AMAP_URL,
        name=text("basemap_amap", lang),
        attr="© 高德地图",
        subdomains="1234",
        show=False,
        planmap_coordsys="gcj02",
    ).add_to(fmap)


def _query_string(query: MapQuery, *, tiles: bool = False) -> str:
    params: dict[str, str] = {}
    if query.county:
        params["county"] = ",".join(query.county)
    status = [s for s in query.status if not tiles or s != "overdue"]
    if status:
        params["status"] = ",".join(status)
    if query.as_of:
        params["as_of"] = query.as_of.isoformat()
    if query.plan_year is not None:
        params["plan"] = str(query.plan_year)
    return f"?{urlencode(params)}" if params else ""


def overlay_config(layer: Layer, query: MapQuery, root: str = "") -> dict[str, Any]:
    """Return what ``planmap.js`` needs to style a layer and build its popups."""
    statuses = display_statuses(layer)
    return {
        "id": layer.id,
        "title": title(layer, query.lang),
        "labelField": layer.label_field,
        "colors": {s.value: s.color for s in statuses},
        "statusLabels": {s.value: status_label(s, query.lang) for s in statuses},
        "color": "#374151" if layer.kind == "context" else "#2563eb",
        "outline": layer.kind == "context",
        "weight": 2 if layer.kind == "context" else 1.5 if layer.geometry_type != "MultiLineString" else 5,
        "popup": True,
        "fields": popup_fields(layer, query.lang),
        "itemUrl": f"{root}/collections/{layer.id}/items/{{fid}}?f=html",
        "dataUrl": f"{root}/map/data/{layer.id}{_query_string(query)}",
        "overdue": can_be_overdue(layer),
        "done": list(layer.target.done_statuses) if layer.target else ["completed"],
        "today": (query.as_of or date.today()).isoformat(),
        "text": {"progress": text("progress", query.lang), "record": text("record", query.lang)},
    }


def _embeddable(store: FeatureStore, layer: Layer, query: MapQuery, dense_features: int) -> gpd.GeoDataFrame | None:
    """Return the layer's frame when it is small enough to embed in the page, else None (draw from tiles)."""
    if store.count(layer.id, layer_filter(store, layer, query)) > dense_features:
        return None
    frame = layer_frame(store, layer, query)
    vertices = int(shapely.get_num_coordinates(frame.geometry.to_numpy()).sum())
    return frame if vertices <= DENSE_VERTICES else None


def add_overlay(
    fmap: folium.Map,
    store: FeatureStore,
    layer: Layer,
    query: MapQuery,
    root: str = "",
    static: str = STATIC_PREFIX,
    dense_features: int = DENSE_FEATURES,
) -> None:
    """Add one layer: embedded GeoJSON when small, vector tiles above ``dense_features`` or ``DENSE_VERTICES``."""
    config = overlay_config(layer, query, root)
    frame = _embeddable(store, layer, query, dense_features)
    dense = frame is None
    if frame is None:
        config["tileUrl"] = f"{root}/collections/{layer.id}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
        config["tileUrl"] += _query_string(query, tiles=True)
        config["tileLayer"] = layer.id
        fmap.add_js_link(*vectorgrid_js(static))
    else:
        config["data"] = to_geojson(frame)
    PlanOverlay(title(layer, query.lang), config, tiles=dense).add_to(fmap)


def legend_html(layers: list[Layer], lang: Lang) -> str:
    """Return the legend: one swatch per display status of the layers shown."""
    seen: dict[str, StatusSpec] = {}
    for layer in layers:
        for spec in display_statuses(layer):
            seen.setdefault(spec.value, spec)  # layers share status values and colours; the first label names it
    rows = "".join(
        f'<div data-status="{value}"><span class="pm-swatch" style="background:{spec.color}"></span>'
        f"{escape(status_label(spec, lang))}</div>"
        for value, spec in seen.items()
    )
    return f"<h4>{text('legend', lang)}</h4>{rows}"


def select_layers(registry: LayerRegistry, query: MapQuery) -> list[Layer]:
    """Return the layers the query names (all when none), polygons first so points stay clickable on top."""
    chosen = [registry.get(i) for i in query.layers] if query.layers else registry.all()
    return sorted(chosen, key=lambda layer: (layer.kind == "project", _GEOMETRY_ORDER[layer.geometry_type]))


def build_plan_map(
    store: FeatureStore,
    registry: LayerRegistry,
    query: MapQuery | None = None,
    *,
    root: str = "",
    static: str = STATIC_PREFIX,
    tianditu_key: str | None = None,
    dense_features: int = DENSE_FEATURES,
) -> folium.Map:
    """Return the plan map of the query's layers (all by default), fitted to the city or selected counties.

    ``root`` is the planmap server's URL for links, data and tiles ('' for same-origin pages); ``static``
    where its scripts are served. Layers with more than ``dense_features`` matching features are drawn from
    the vector tiles (``/collections/{id}/tiles/WebMercatorQuad/{z}/{x}/{y}``) instead of embedded GeoJSON.
    """
    query = query or MapQuery()
    fmap = offline_map((27.83, 112.91), 10, prefix=static)
    add_base_layers(fmap, query.lang, root, tianditu_key)
    layers = select_layers(registry, query)
    for layer in layers:
        add_overlay(fmap, store, layer, query, root, static, dense_features)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.add_child(PlanControl("watchBase"))
    fmap.add_child(
        PlanControl("locate", {"locate": text("locate", query.lang), "failed": text("locate_failed", query.lang)})
    )
    fmap.add_child(PlanControl("legend", legend_html([x for x in layers if x.kind == "project"], query.lang)))
    minx, miny, maxx, maxy = map_bounds(store, query.county)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap
