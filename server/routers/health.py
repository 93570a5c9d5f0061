"""Liveness and data-version report."""

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from layers.store import missing_layers
from server.deps import RegistryDep, StoreDep

router = APIRouter(tags=["Health"])


@router.get(
    "/healthz",
    operation_id="health",
    summary="Service health and data versions",
    responses={503: {"description": "The store lacks plan layers (data not built or not imported)"}},
)
def health(store: StoreDep, registry: RegistryDep) -> Any:
    """Return ok, the answering worker's process id and each layer's data version; 503 naming missing layers."""
    missing = missing_layers(store, registry)
    versions = {layer.id: store.version(layer.id) for layer in registry if layer.id not in missing}
    body: dict[str, Any] = {"status": "ok" if not missing else "incomplete", "pid": os.getpid(), "versions": versions}
    if missing:
        body["missing"] = missing
        return JSONResponse(body, status_code=503)
    return body
