"""Progress against the plan's targets, from current attributes or by replaying the history to a date."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from geo.storage.base import FeatureStore, Filter
from layers.models import Layer


@dataclass(frozen=True)
class Progress:
    """How far a layer is towards its target (all features, or those matching a filter).

    ``done`` is in the target's unit (mu for farmland, a count otherwise); ``pct`` is done / target.
    """

    layer: str
    title_zh: str
    target: float | None
    unit_zh: str
    done: float
    done_features: int
    features: int
    by_status: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    as_of: date | None = None

    @property
    def pct(self) -> float | None:
        """Return percent of the target reached, or None for layers without a target."""
        return None if not self.target else 100.0 * self.done / self.target


def initial_status(layer: Layer) -> str:
    """Return the status of a feature with no history yet (``no_data`` where the layer has it)."""
    values = [s.value for s in layer.statuses]
    if "no_data" in values:
        return "no_data"
    return "planned" if "planned" in values or not values else values[0]


def status_as_of(store: FeatureStore, layer: Layer, ids: pd.Series, as_of: date) -> pd.Series:
    """Return each feature's status on ``as_of`` (its latest report dated on or before that day)."""
    hist = store.history(layer.id, until=as_of)
    latest = hist.drop_duplicates("feature_id", keep="last").set_index("feature_id")["status"]
    return ids.map(latest).fillna(initial_status(layer))


def layer_progress(
    store: FeatureStore, layer: Layer, as_of: date | None = None, where: Filter | None = None
) -> Progress:
    """Return the layer's progress; with ``as_of`` the history is replayed to that day.

    Without ``as_of`` the features' current attributes are used, and overdue counts against today.
    """
    columns = ["id", "status", "due_date"] + ([layer.target.field] if layer.target and layer.target.field else [])
    columns = [c for c in columns if c in layer.field_names]
    frame = store.read(layer.id, where, columns=columns)
    status = frame["status"] if as_of is None else status_as_of(store, layer, frame["id"], as_of)
    done_statuses = layer.target.done_statuses if layer.target else ("completed",)
    done_mask = status.isin(done_statuses)
    if layer.target and layer.target.measure == "sum" and layer.target.field:
        done = float(frame.loc[done_mask, layer.target.field].sum())
    else:
        done = float(done_mask.sum())
    overdue = 0
    if "due_date" in frame:
        today = (as_of or date.today()).isoformat()
        overdue = int((frame["due_date"].notna() & (frame["due_date"] < today) & ~done_mask).sum())
    return Progress(
        layer=layer.id,
        title_zh=layer.title_zh,
        target=layer.target.value if layer.target else None,
        unit_zh=layer.target.unit_zh if layer.target else "",
        done=done,
        done_features=int(done_mask.sum()),
        features=len(frame),
        by_status={str(k): int(v) for k, v in status.value_counts().sort_index().items()},
        overdue=overdue,
        as_of=as_of,
    )
