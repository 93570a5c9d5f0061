"""OGC API documents: conformance classes, links, collection metadata and queryables schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from geo.crs import CGCS2000, CRS84, GK_CM111, GK_CM114, WEB_MERCATOR, crs_uri
from geo.types import BBox
from layers.models import FieldSpec, Layer
from layers.query import GEOMETRY_PROPERTY, queryables
from server.responses import MediaType

_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_F4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
CONFORMANCE = [
    *(_F1 + c for c in ("core", "oas30", "html", "geojson")),
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    *(_F3 + c for c in ("filter", "features-filter", "queryables", "queryables-query-parameters")),
    *(
        _CQL2 + c
        for c in (
            "cql2-text",
            "basic-cql2",
            "advanced-comparison-operators",
            "case-insensitive-comparison",
            "basic-spatial-functions",
            "spatial-functions",
            "temporal-functions",
        )
    ),
    # Drafts: sortby (Part 8) and properties (Part 6), the URIs ldproxy and others use.
    "http://www.opengis.net/spec/ogcapi-features-8/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-6/1.0/conf/property-selection",
    # Part 4 (create, replace, update, delete) on the project layers, for planners.
    *(_F4 + c for c in ("create-replace-delete", "update", "features")),
    # OGC API - Tiles (20-057): dataset and per-collection tilesets, MVT and PNG tiles.
    *(
        _TILES + c
        for c in ("core", "tileset", "tilesets-list", "dataset-tilesets", "geodata-tilesets", "mvt", "png", "oas30")
    ),
]
"""Conformance classes declared on ``/conformance``: only what the API implements."""

OUTPUT_CRS = [crs_uri(c) for c in (CRS84, CGCS2000, GK_CM111, GK_CM114, WEB_MERCATOR)]
STORAGE_CRS = crs_uri(CRS84)
PLAN_INTERVAL = ["2025-01-01T00:00:00Z", "2025-12-31T23:59:59Z"]
_GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
_JSON_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "date": "string"}


def link(href: str, rel: str, media: MediaType | str, title: str) -> dict[str, str]:
    """Return one OGC link object."""
    return {"href": href, "rel": rel, "type": media.value if isinstance(media, MediaType) else media, "title": title}


def url(request: Request, path: str, **query: str) -> str:
    """Return an absolute URL for a path of this API (honouring any root path) with query parameters."""
    base = str(request.base_url).rstrip("/")
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base}{path}" + (f"?{params}" if params else "")


def bilingual_title(layer: Layer) -> str:
    """Return ``中文 · English`` for a layer."""
    return f"{layer.title_zh} · {layer.title_en}"


def landing_links(request: Request) -> list[dict[str, str]]:
    """Return the landing page's links (self, alternate, service-desc/doc, conformance, data)."""
    return [
        link(url(request, "/"), "self", MediaType.json, "本页 · This document"),
        link(url(request, "/", f="html"), "alternate", MediaType.html, "本页 (HTML) · This document as HTML"),
        link(url(request, "/openapi.json"), "service-desc", MediaType.openapi, "API 定义 · API definition"),
        link(url(request, "/docs"), "service-doc", MediaType.html, "API 文档 · API documentation"),
        link(url(request, "/conformance"), "conformance", MediaType.json, "符合性 · Conformance classes"),
        link(url(request, "/collections"), "data", MediaType.json, "图层 · Collections"),
        link(url(request, "/tiles"), _REL + "tilesets-vector", MediaType.json, "规划矢量瓦片集 · Plan vector tilesets"),
        link(url(request, "/tileMatrixSets"), _REL + "tiling-schemes", MediaType.json, "瓦片矩阵集 · Tiling schemes"),
    ]


_RELATED = (
    ("/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json", MediaType.json, "矢量瓦片 · Vector tiles"),
    ("/collections/{collectionId}/export", MediaType.json, "导出 · Export"),
    ("/map", MediaType.html, "规划地图 · Plan map"),
)


def _extra_links(request: Request, layer: Layer) -> list[dict[str, Any]]:
    """Links to the collection's tiles, export and map pages, when other routers serve them."""
    paths = request.app.openapi().get("paths", {})
    out: list[dict[str, Any]] = []
    for path, media, title in _RELATED:
        if path in paths:
            href = url(request, path.replace("{collectionId}", layer.id))
            item: dict[str, Any] = link(href, "related", media, title)
            if "{" in href:
                item["templated"] = True
            out.append(item)
    return out


def collection_doc(request: Request, layer: Layer, bounds: BBox | None) -> dict[str, Any]:
    """Return the ``/collections/{collectionId}`` document of a layer."""
    base = f"/collections/{layer.id}"
    links = [
        link(url(request, base), "self", MediaType.json, "本图层 · This collection"),
        link(url(request, base, f="html"), "alternate", MediaType.html, "本图层 (HTML) · This collection as HTML"),
        link(url(request, f"{base}/items"), "items", MediaType.geojson, "要素 · Features"),
        link(url(request, f"{base}/items", f="html"), "items", MediaType.html, "要素 (HTML) · Features as HTML"),
        link(
            url(request, f"{base}/queryables"),
            "http://www.opengis.net/def/rel/ogc/1.0/queryables",
            MediaType.schemajson,
            "可查询属性 · Queryables",
        ),
        link(url(request, f"{base}/tiles"), _REL + "tilesets-vector", MediaType.json, "矢量瓦片集 · Vector tilesets"),
        link(url(request, f"{base}/map/tiles"), _REL + "tilesets-map", MediaType.json, "地图瓦片集 · Map tilesets"),
        *_extra_links(request, layer),
    ]
    return {
        "id": layer.id,
        "title": bilingual_title(layer),
        "description": f"{layer.description_zh} · {layer.description_en}",
        "itemType": "feature",
        "extent": {
            "spatial": {"bbox": [list(bounds)] if bounds else [], "crs": STORAGE_CRS},
            "temporal": {"interval": [PLAN_INTERVAL], "trs": _GREGORIAN},
        },
        "crs": OUTPUT_CRS,
        "storageCrs": STORAGE_CRS,
        "links": links,
    }


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": f"{spec.alias_zh} ({spec.alias_en})"}
    if spec.type == "json":
        schema["type"] = ["object", "array"]
    elif spec.type == "datetime":
        schema.update(type="string", format="date-time")
    else:
        schema["type"] = _JSON_TYPES[spec.type]
    if spec.type == "date":
        schema["format"] = "date"
    text = " ".join(p for p in (spec.description, f"[{spec.unit}]" if spec.unit else "") if p)
    if text:
        schema["description"] = text
    if spec.values:
        schema["enum"] = list(spec.values)
    if spec.name == "id":
        schema["x-ogc-role"] = "id"
    return schema


def queryables_doc(request: Request, layer: Layer) -> dict[str, Any]:
    """Return the layer's queryables as a JSON Schema (OGC API Features Part 3, section 6.2)."""
    names = queryables(layer)
    props: dict[str, Any] = {s.name: _field_schema(s) for s in layer.fields if s.name in names}
    props[GEOMETRY_PROPERTY] = {
        "title": "几何 (Geometry)",
        "format": f"geometry-{layer.geometry_type.lower()}",
        "x-ogc-role": "primary-geometry",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url(request, f"/collections/{layer.id}/queryables"),
        "type": "object",
        "title": bilingual_title(layer),
        "properties": props,
        "additionalProperties": False,
    }


def page_links(
    request: Request, media: MediaType, offset: int, limit: int, returned: int, matched: int
) -> list[dict[str, str]]:
    """Return self/alternate and, where there are more features, next/prev links keeping every parameter."""
    here = request.url
    other, other_f = (MediaType.geojson, "json") if media == MediaType.html else (MediaType.html, "html")
    links = [
        link(str(here), "self", media, "本页 · This page"),
        link(str(here.include_query_params(f=other_f)), "alternate", other, "本页其他格式 · This page, other format"),
    ]
    if offset + returned < matched:
        nxt = here.include_query_params(offset=offset + limit, limit=limit)
        links.append(link(str(nxt), "next", media, "下一页 · Next page"))
    if offset > 0:
        prev = here.include_query_params(offset=max(0, offset - limit), limit=limit)
        links.append(link(str(prev), "prev", media, "上一页 · Previous page"))
    return links


def field_labels(layer: Layer) -> Mapping[str, str]:
    """Return attribute name -> ``中文 (English)`` labels for HTML tables."""
    return {s.name: f"{s.alias_zh} ({s.alias_en})" for s in layer.fields}
