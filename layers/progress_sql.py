"""Progress from the store's grouped aggregates: the current state counted by ``FeatureStore.aggregate``.

For the plain case (current attributes, no area weighting) progress is a sum per status, so the store
answers it with one grouped aggregate (one GROUP BY on PostGIS) instead of shipping every feature. The
answers are those of :func:`layers.progress.summarise` over :func:`layers.progress.with_state`.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from geo.storage.base import Aggregate, FeatureStore, Filter
from geo.storage.values import BEFORE
from layers.models import Layer
from layers.progress_model import Progress, SecondarySum, done_statuses


def uses_aggregates(layer: Layer, as_of: date | None, area: object) -> bool:
    """Return whether the layer's progress is a grouped aggregate for this query.

    It is for the current state of a layer with statuses; a replay (``as_of``) needs the history and an
    area needs each feature's geometry (area weighting), so those read the features.
    """
    return as_of is None and area is None and "status" in layer.field_names


def _spec(layer: Layer, by_county: bool) -> Aggregate:
    field = layer.target.field if layer.target and layer.target.measure == "sum" else None
    value = (field,) if field and field in layer.field_names else ()
    pct = ("progress_pct",) if "progress_pct" in layer.field_names else None
    sums: dict[str, tuple[str, ...]] = {"value": value}
    if pct is not None:
        sums["value_pct"] = (*value, *pct)
    for name in layer.target.secondary if layer.target else ():
        if name in layer.field_names:
            sums[f"secondary:{name}"] = (name,)
    by = ("county", "status") if by_county and "county" in layer.field_names else ("status",)
    before = ("due_date", date.today().isoformat()) if "due_date" in layer.field_names else None
    return Aggregate(by=by, sums=sums, clip={"progress_pct": (0.0, 100.0)}, before=before)


def grouped_state(store: FeatureStore, layer: Layer, where: Filter | None, by_county: bool = False) -> pd.DataFrame:
    """Return the layer's aggregate rows (by status, and by county when asked) with a ``done`` column."""
    groups = store.aggregate(layer.id, _spec(layer, by_county), where)
    groups["done"] = groups["status"].isin(done_statuses(layer))
    return groups


def summarise_groups(
    layer: Layer, groups: pd.DataFrame, scope: str = "city", scope_name: str | None = None
) -> Progress:
    """Build a :class:`Progress` (current state) from :func:`grouped_state` rows."""
    done = groups["done"].to_numpy(dtype=bool)
    value = groups["value"]
    pct = groups["value_pct"] if "value_pct" in groups else pd.Series(0.0, index=groups.index)
    overdue = int(groups.loc[groups[BEFORE] & ~groups["done"], "count"].sum()) if BEFORE in groups else 0
    by_status = groups[groups["status"].notna()].groupby("status")["count"].sum().sort_index()
    secondary = {
        name: SecondarySum(
            label_zh=label,
            done=float(groups.loc[done, f"secondary:{name}"].sum()),
            total=float(groups[f"secondary:{name}"].sum()),
        )
        for name, label in (layer.target.secondary.items() if layer.target else ())
        if f"secondary:{name}" in groups
    }
    return Progress(
        layer=layer.id,
        title_zh=layer.title_zh,
        target=layer.target.value if layer.target else None,
        unit_zh=layer.target.unit_zh if layer.target else "",
        done=float(value[done].sum()),
        done_weighted=float(value[done].sum() + pct[~done].sum() / 100.0),
        planned=float(value.sum()),
        done_features=int(groups.loc[done, "count"].sum()),
        features=int(groups["count"].sum()),
        by_status={str(k): int(v) for k, v in by_status.items()},
        overdue=overdue,
        as_of=None,
        secondary=secondary,
        scope=scope,
        scope_name=scope_name,
    )
