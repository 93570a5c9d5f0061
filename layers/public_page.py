"""What a project's public page (公示牌 QR code target) shows: citizen-facing facts only.

Only a fixed list of fields is shown, and only those the layer declares public, so a field the
catalogue keeps private (investment figures) can never appear, even when a signed-in planner opens the
page. Progress reports are not shown: their notes and authors are internal, and their photos have no
review step yet that would mark one fit for the public, so the page shows no photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from geo.storage.base import FeatureStore, Filter
from layers.errors import UnknownLayer
from layers.models import Layer

PUBLIC_PAGE_FIELDS = (
    "county_name",
    "township",
    "owner",
    "planned_start",
    "start_date",
    "due_date",
    "completed_date",
    "updated_at",
)
"""The facts a public page may show besides name, status and progress, in display order."""


@dataclass(frozen=True)
class PublicProject:
    """One project as the public sees it: name, status, progress, labelled facts and its geometry (GeoJSON)."""

    layer_title: str
    name: str
    status: str
    status_color: str
    percent: float | None
    facts: tuple[tuple[str, str], ...]
    geometry: dict[str, Any]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def public_project(store: FeatureStore, layer: Layer, feature_id: str) -> PublicProject:
    """Return the public facts of one project.

    ``layer`` must come from the public catalogue (not a signed-in user's private view).

    Raises
    ------
    UnknownLayer
        For a context layer (boundaries, places), which has no public project pages.
    UnknownFeature
        When there is no such project.
    """
    if layer.kind != "project":
        raise UnknownLayer(f"{layer.id!r} has no public project pages")
    public = {f.name: f for f in layer.fields if f.public}
    columns = [c for c in ("status", "progress_pct", layer.label_field, *PUBLIC_PAGE_FIELDS) if c in public]
    frame = store.read(layer.id, Filter(ids=[feature_id]), limit=1, columns=list(dict.fromkeys(columns)))
    if frame.empty:
        store.get(layer.id, feature_id)  # raises UnknownFeature with the usual message
    row = frame.iloc[0]
    statuses = {s.value: s for s in layer.statuses}
    spec = statuses.get(str(row.get("status")))
    pct = row.get("progress_pct")
    facts = tuple(
        (public[name].alias_zh, text)
        for name in PUBLIC_PAGE_FIELDS
        if name in public and (text := _text(row.get(name))) is not None
    )
    return PublicProject(
        layer_title=layer.title_zh,
        name=_text(row.get(layer.label_field)) or feature_id,
        status=spec.label_zh if spec else (_text(row.get("status")) or "—"),
        status_color=spec.color if spec else "#6b7280",
        percent=None if _text(pct) is None else round(float(pct), 1),
        facts=facts,
        geometry=row.geometry.__geo_interface__ if row.geometry is not None else {},
    )
