"""Liveness and data-version report."""

import os
from typing import Any

from fastapi import APIRouter

from server.deps import RegistryDep, StoreDep

router = APIRouter(tags=["Health"])


@router.get("/healthz", operation_id="health", summary="Service health and data versions")
def health(store: StoreDep, registry: RegistryDep) -> dict[str, Any]:
    """Return ok, the answering worker's process id and each layer's data version."""
    versions = {layer.id: store.version(layer.id) for layer in registry}
    return {"status": "ok", "pid": os.getpid(), "versions": versions}
