"""Liveness and data-version report."""

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from layers.store import health_report
from server.deps import RegistryDep, StoreDep

router = APIRouter(tags=["Health"])


@router.get(
    "/healthz",
    operation_id="health",
    summary="Service health and data versions",
    responses={
        503: {
            "description": "The store cannot be read or written (status `unavailable` or `read-only`, problems "
            "named) or lacks plan layers (`incomplete`, missing layers named)"
        }
    },
)
def health(store: StoreDep, registry: RegistryDep) -> Any:
    """Return the store's health (readable, writable), the worker's process id and each layer's data version."""
    body = {**health_report(store, registry), "pid": os.getpid()}
    return body if body["status"] == "ok" else JSONResponse(body, status_code=503)
