"""Ids of new projects: the layer's own prefix and the next number no feature, live or deleted, has used."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from geo.storage.base import FeatureStore, tombstone_kind
from layers.models import Layer

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
_WIDTH = 4


def following_id(ids: Iterable[str], default_prefix: str) -> str:
    """Return the id after the largest number of the most common ``<prefix><digits>`` pattern in ``ids``.

    Examples
    --------
    >>> following_id(["farmland-0001", "farmland-0041", "farmland-0007"], "farmland-")
    'farmland-0042'
    >>> following_id([], "reservoirs-")
    'reservoirs-0001'
    """
    parts = [m.groups() for m in map(_NUMBERED.match, ids) if m]
    prefixes = Counter(prefix for prefix, _ in parts)
    prefix = prefixes.most_common(1)[0][0] if prefixes else default_prefix
    numbers = [(int(n), len(n)) for p, n in parts if p == prefix]
    top = max((n for n, _ in numbers), default=0)
    width = max((w for _, w in numbers), default=_WIDTH)
    return f"{prefix}{top + 1:0{width}d}"


def next_id(store: FeatureStore, layer: Layer) -> str:
    """Return the next free id of ``layer``: after every stored id and every deleted project's id."""
    ids = store.read(layer.id, columns=[store.id_column])[store.id_column].astype(str).tolist()
    retired = [r.key for r in store.records(tombstone_kind(layer.id))]
    return following_id([*ids, *retired], f"{layer.id}-")
