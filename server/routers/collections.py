"""OGC API collections: the list, one collection's metadata and its queryables."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from server.caching import NOT_MODIFIED, conditional, make_etag
from server.deps import LayerDep, RegistryDep, StoreDep
from server.ogc import collection_doc, field_labels, link, queryables_doc, url
from server.responses import (
    ERROR_RESPONSES,
    MediaType,
    NaNSafeJSONResponse,
    OutputFormat,
    SchemaJSONResponse,
    choose_format,
    html_response,
)
from server.routers.landing import FormatParam

router = APIRouter(tags=["OGC API - Features"], responses=ERROR_RESPONSES)

_JSON_OR_HTML: dict[str, Any] = {"content": {"application/json": {}, "text/html": {}}}


@router.get(
    "/collections",
    operation_id="getCollections",
    name="getCollections",
    summary="Plan layers served as collections",
    response_class=NaNSafeJSONResponse,
    responses={
        **NOT_MODIFIED,
        200: {**_JSON_OR_HTML, "description": "Every plan layer with its extent, CRSs and links"},
    },
)
def collections(request: Request, store: StoreDep, registry: RegistryDep, f: FormatParam = None) -> Response:
    """Return every plan layer as an OGC collection."""
    fmt = choose_format(request, f)
    version = "|".join(store.version(layer.id) for layer in registry)

    def build() -> Response:
        docs = [collection_doc(request, layer, store.bounds(layer.id)) for layer in registry]
        links = [
            link(url(request, "/collections"), "self", MediaType.json, "图层列表 · Collections"),
            link(url(request, "/collections", f="html"), "alternate", MediaType.html, "图层列表 (HTML) · as HTML"),
        ]
        doc = {"links": links, "collections": docs}
        if fmt == OutputFormat.html:
            return html_response(request, "collections.html", {"doc": doc})
        return NaNSafeJSONResponse(doc)

    return conditional(request, make_etag(version, request, fmt), build)


@router.get(
    "/collections/{collectionId}",
    operation_id="getCollection",
    name="getCollection",
    summary="One collection's metadata",
    response_class=NaNSafeJSONResponse,
    responses={
        **NOT_MODIFIED,
        200: {**_JSON_OR_HTML, "description": "Title, extent, CRSs and links of one plan layer"},
    },
)
def collection(request: Request, layer: LayerDep, store: StoreDep, f: FormatParam = None) -> Response:
    """Return one plan layer's metadata: title, extent, CRSs and links to its items and queryables."""
    fmt = choose_format(request, f)

    def build() -> Response:
        doc = collection_doc(request, layer, store.bounds(layer.id))
        if fmt == OutputFormat.html:
            return html_response(request, "collection.html", {"doc": doc, "layer": layer})
        return NaNSafeJSONResponse(doc)

    return conditional(request, make_etag(store.version(layer.id), request, fmt), build)


@router.get(
    "/collections/{collectionId}/queryables",
    operation_id="getQueryables",
    name="getQueryables",
    summary="Queryable properties (JSON Schema)",
    response_class=SchemaJSONResponse,
    responses={200: {"content": {"application/schema+json": {}, "text/html": {}}, "description": "JSON Schema"}},
)
def queryables(request: Request, layer: LayerDep, f: FormatParam = None) -> Response:
    """Return the properties usable in `filter`, `sortby` and attribute parameters, as JSON Schema."""
    doc = queryables_doc(request, layer)
    if choose_format(request, f) == OutputFormat.html:
        return html_response(request, "queryables.html", {"doc": doc, "layer": layer, "labels": field_labels(layer)})
    return SchemaJSONResponse(doc)
