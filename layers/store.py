"""Opening the plan's store and checking that the plan data is there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from geo.errors import StoreUnavailable
from geo.storage import open_store
from geo.storage.base import FeatureStore
from layers.errors import DataNotBuilt
from layers.registry import LayerRegistry


def open_plan_store(
    url: str,
    schema: str = "planmap",
    pool_size: int = 4,
    timeout: float = 10.0,
    replicas: Sequence[str] = (),
    replica_wait_s: float = 0.5,
    version_ttl_s: float = 0.0,
) -> FeatureStore:
    """Open the store at ``url``: a PostGIS DSN (tables in ``schema``, reads on ``replicas``) or a GeoPackage path."""
    return open_store(
        url,
        schema=schema,
        pool_size=pool_size,
        timeout=timeout,
        replicas=replicas,
        replica_wait_s=replica_wait_s,
        version_ttl_s=version_ttl_s,
    )


def missing_layers(store: FeatureStore, registry: LayerRegistry) -> list[str]:
    """Return the catalogue layers the store does not hold."""
    held = set(store.layers())
    return [layer.id for layer in registry if layer.id not in held]


def require_built(store: FeatureStore, registry: LayerRegistry) -> None:
    """Raise ``DataNotBuilt`` naming the missing layers when the store lacks any catalogue layer."""
    missing = missing_layers(store, registry)
    if missing:
        raise DataNotBuilt(f"the store lacks layers {missing}; run `planmap build-demo` or import real data")


def health_report(store: FeatureStore, registry: LayerRegistry) -> dict[str, Any]:
    """Return the service's health: the store readable and writable, plan layers present, data versions.

    ``status`` is ``ok`` only when the store can be read and written and holds every catalogue layer;
    otherwise ``unavailable`` (cannot be read), ``read-only`` (readable, writes would fail: disk full,
    a lock, a read-only file or standby) or ``incomplete`` (plan layers missing), with the problems named.
    With read replicas, ``replicas`` lists each one's state; one out of use leaves the status as it is.
    """
    health = store.health()
    body: dict[str, Any] = {"readable": health.readable, "writable": health.writable}
    problems = list(health.problems)
    if not health.readable:
        return {"status": "unavailable", **body, "problems": problems}
    try:
        missing = missing_layers(store, registry)
        versions = {layer.id: store.version(layer.id) for layer in registry if layer.id not in missing}
    except StoreUnavailable as exc:
        return {"status": "unavailable", **body, "readable": False, "problems": [*problems, str(exc)]}
    status = "incomplete" if missing else "ok" if health.writable else "read-only"
    body = {"status": status, **body, "versions": versions}
    replicas = store.replicas()
    if replicas:  # informative only: reads go to the primary while a replica is out of use
        body["replicas"] = [asdict(state) for state in replicas]
    if missing:
        body["missing"] = missing
    if problems:
        body["problems"] = problems
    return body
