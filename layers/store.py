"""Opening the plan's store and checking that the plan data is there."""

from __future__ import annotations

from geo.storage import open_store
from geo.storage.base import FeatureStore
from layers.errors import DataNotBuilt
from layers.registry import LayerRegistry


def open_plan_store(url: str, schema: str = "planmap", pool_size: int = 4) -> FeatureStore:
    """Open the store at ``url``: a PostGIS DSN (postgresql://..., tables in ``schema``) or a GeoPackage path."""
    return open_store(url, schema=schema, pool_size=pool_size)


def missing_layers(store: FeatureStore, registry: LayerRegistry) -> list[str]:
    """Return the catalogue layers the store does not hold."""
    held = set(store.layers())
    return [layer.id for layer in registry if layer.id not in held]


def require_built(store: FeatureStore, registry: LayerRegistry) -> None:
    """Raise ``DataNotBuilt`` naming the missing layers when the store lacks any catalogue layer."""
    missing = missing_layers(store, registry)
    if missing:
        raise DataNotBuilt(f"the store lacks layers {missing}; run `planmap build-demo` or import real data")
