"""OGC API - Tiles tileset lists and tileset metadata: the plan's dataset tiles and each collection's tiles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from geo.storage.base import FeatureStore
from geo.tms import get_tms
from layers.models import Layer
from layers.tiles import held_layers
from server.caching import NOT_MODIFIED, conditional, make_etag
from server.deps import LayerDep, RegistryDep, StoreDep
from server.deps_tiles import TmsId
from server.responses import ERROR_RESPONSES, NaNSafeJSONResponse
from server.tilesets import MAP, VECTOR, TilesetKind, tileset_doc, tileset_list, union_bounds

router = APIRouter(tags=["Tiles"], responses=ERROR_RESPONSES)

PLAN_TITLE = "湘潭市2025年重点项目 · Xiangtan 2025 plan projects"
_JSON: dict[int | str, dict[str, Any]] = {**NOT_MODIFIED, 200: {"content": {"application/json": {}}}}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(request: Request, version: str, build: Any) -> Response:
    return conditional(request, make_etag(version, request, "json"), lambda: NaNSafeJSONResponse(build()))


@router.get("/tiles", operation_id="datasetTilesets", summary="Tilesets of the whole plan", responses=_JSON)
def dataset_tilesets(request: Request) -> Response:
    """List the tilesets of the composite plan tiles (vector, one per tile matrix set)."""
    here = f"{_base(request)}/tiles"
    return _json(request, "", lambda: tileset_list(here, _base(request), "", [VECTOR], PLAN_TITLE))


@router.get("/tiles/{tileMatrixSetId}", operation_id="datasetTileset", summary="Plan tileset metadata", responses=_JSON)
def dataset_tileset(request: Request, store: StoreDep, registry: RegistryDep, tileMatrixSetId: TmsId) -> Response:
    """Return the metadata of the composite plan tileset in one tile matrix set."""
    get_tms(tileMatrixSetId)
    layers = held_layers(store, registry.projects())
    version = ",".join(store.version(layer.id) for layer in layers)

    def build() -> dict[str, Any]:
        bounds = union_bounds([store.bounds(layer.id) for layer in layers])
        return tileset_doc(_base(request), "", VECTOR, tileMatrixSetId, PLAN_TITLE, layers, bounds)

    return _json(request, version, build)


def _title(layer: Layer) -> str:
    return f"{layer.title_zh} · {layer.title_en}"


@router.get(
    "/collections/{collectionId}/tiles",
    operation_id="collectionTilesets",
    summary="Tilesets of a collection (vector and map)",
    responses=_JSON,
)
def collection_tilesets(request: Request, layer: LayerDep) -> Response:
    """List a collection's tilesets: vector tiles (MVT) and map tiles (PNG) in every tile matrix set."""
    prefix, base = f"/collections/{layer.id}", _base(request)
    here = f"{base}{prefix}/tiles"
    return _json(request, "", lambda: tileset_list(here, base, prefix, [VECTOR, MAP], _title(layer)))


@router.get(
    "/collections/{collectionId}/map/tiles",
    operation_id="collectionMapTilesets",
    summary="Map tilesets of a collection",
    responses=_JSON,
)
def collection_map_tilesets(request: Request, layer: LayerDep) -> Response:
    """List a collection's map tilesets (PNG by status colour) in every tile matrix set."""
    prefix, base = f"/collections/{layer.id}", _base(request)
    here = f"{base}{prefix}/map/tiles"
    return _json(request, "", lambda: tileset_list(here, base, prefix, [MAP], _title(layer)))


def _collection_tileset(
    request: Request, layer: Layer, store: FeatureStore, kind: TilesetKind, tms_id: str
) -> Response:
    get_tms(tms_id)
    prefix = f"/collections/{layer.id}"

    def build() -> dict[str, Any]:
        return tileset_doc(_base(request), prefix, kind, tms_id, _title(layer), [layer], store.bounds(layer.id))

    return _json(request, store.version(layer.id), build)


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}",
    operation_id="collectionTileset",
    summary="Vector tileset metadata of a collection",
    responses=_JSON,
)
def collection_tileset(request: Request, layer: LayerDep, store: StoreDep, tileMatrixSetId: TmsId) -> Response:
    """Return the metadata of a collection's vector tileset in one tile matrix set."""
    return _collection_tileset(request, layer, store, VECTOR, tileMatrixSetId)


@router.get(
    "/collections/{collectionId}/map/tiles/{tileMatrixSetId}",
    operation_id="collectionMapTileset",
    summary="Map tileset metadata of a collection",
    responses=_JSON,
)
def collection_map_tileset(request: Request, layer: LayerDep, store: StoreDep, tileMatrixSetId: TmsId) -> Response:
    """Return the metadata of a collection's map (PNG) tileset in one tile matrix set."""
    return _collection_tileset(request, layer, store, MAP, tileMatrixSetId)
