"""LayerRegistry: the closed set of plan layers, loaded from the catalogue data file."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from layers.errors import UnknownLayer
from layers.models import FieldSpec, Layer

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
    fields = [FieldSpec(**f) for f in raw.pop("fields")]
    if raw.get("kind", "project") == "project":
        own = {f.name for f in fields}
        fields = [FieldSpec(**f) for f in common if f["name"] not in own] + fields
        head = [f for f in fields if f.name in ("id", "name")]
        fields = head + [f for f in fields if f.name not in ("id", "name")]
    return Layer(**raw, fields=tuple(fields))


def load_catalogue(path: str | Path | None = None) -> LayerRegistry:
    """Load the plan catalogue (``layers/data/catalogue.json`` unless another file is given).

    Project layers get the common project fields (id, name, county, status, progress, dates, demo flag)
    in front of their own; a layer may override a common field by declaring one of the same name.
    """
    if path is None:
        text = resources.files("layers").joinpath("data/catalogue.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    common = data[COMMON_PROJECT_FIELDS]
    return LayerRegistry({raw["id"]: _expand(dict(raw), common) for raw in data["layers"]})


def catalogue_plan_year(path: str | Path | None = None) -> int:
    """Return the catalogue's plan year (``plan.year``), the default plan year of new projects."""
    if path is None:
        text = resources.files("layers").joinpath("data/catalogue.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return int(json.loads(text)["plan"]["year"])
