"""LayerRegistry: the closed set of plan layers, loaded from the catalogue data file."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from layers.errors import UnknownLayer
from layers.models import FieldSpec, Layer
from layers.plan_model import Plan, seed_plan

COMMON_PROJECT_FIELDS = "common_project_fields"


class LayerRegistry:
    """An immutable mapping of layer id -> Layer; ``register`` returns a new registry."""

    def __init__(self, layers: Mapping[str, Layer] | None = None) -> None:
        self._layers: dict[str, Layer] = dict(layers or {})

    def get(self, layer_id: str) -> Layer:
        """Return the layer; raise ``UnknownLayer`` naming the known ids when absent."""
        try:
            return self._layers[layer_id]
        except KeyError:
            raise UnknownLayer(f"no layer {layer_id!r}; layers are {', '.join(self._layers)}") from None

    def all(self) -> list[Layer]:
        """Return the layers in catalogue order."""
        return list(self._layers.values())

    def ids(self) -> list[str]:
        """Return the layer ids in catalogue order."""
        return list(self._layers)

    def projects(self) -> list[Layer]:
        """Return the layers that carry plan targets."""
        return [layer for layer in self._layers.values() if layer.kind == "project"]

    def register(self, layer: Layer) -> LayerRegistry:
        """Return a new registry with ``layer`` added (or replaced)."""
        return LayerRegistry({**self._layers, layer.id: layer})

    def with_plan(self, plan: Plan | None) -> LayerRegistry:
        """Return the catalogue with each project layer's target taken from ``plan`` (None: no targets)."""
        layers: dict[str, Layer] = {}
        for layer in self._layers.values():
            target = plan.target(layer.id) if plan else None
            if layer.kind == "project":
                layer = layer.model_copy(update={"target": target.as_layer_target() if target else None})
            layers[layer.id] = layer
        return LayerRegistry(layers)

    def __contains__(self, layer_id: object) -> bool:
        """Return whether a layer id is registered."""
        return layer_id in self._layers

    def __iter__(self) -> Iterator[Layer]:
        """Iterate over the layers in catalogue order."""
        return iter(self._layers.values())

    def __len__(self) -> int:
        """Return the number of layers."""
        return len(self._layers)


def _expand(raw: dict[str, Any], common: list[dict[str, Any]]) -> Layer:
    if "target" in raw:
        raise ValueError(f"layer {raw.get('id')!r} has a target: targets belong to plans (layers/data/plans, /plans)")
    fields = [FieldSpec(**f) for f in raw.pop("fields")]
    if raw.get("kind", "project") == "project":
        own = {f.name for f in fields}
        fields = [FieldSpec(**f) for f in common if f["name"] not in own] + fields
        head = [f for f in fields if f.name in ("id", "name")]
        fields = head + [f for f in fields if f.name not in ("id", "name")]
    return Layer(**raw, fields=tuple(fields))


def load_catalogue(path: str | Path | None = None, plan: Plan | None | Literal["seed"] = "seed") -> LayerRegistry:
    """Load the plan catalogue (``layers/data/catalogue.json`` unless another file is given).

    Project layers get the common project fields (id, name, county, status, progress, dates, demo flag)
    in front of their own; a layer may override a common field by declaring one of the same name. The
    catalogue holds schemas only: targets come from ``plan``, by default the 2025 seed plan (a server
    applies the plan stored for the request instead, see ``layers.plans``).
    """
    if path is None:
        text = resources.files("layers").joinpath("data/catalogue.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    common = data[COMMON_PROJECT_FIELDS]
    registry = LayerRegistry({raw["id"]: _expand(dict(raw), common) for raw in data["layers"]})
    return registry.with_plan(seed_plan() if plan == "seed" else plan)
