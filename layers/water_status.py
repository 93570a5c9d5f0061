"""Compliance of the water-quality sections: latest class vs target, from the monthly readings in the history."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from geo.storage.base import FeatureStore
from layers.models import Layer
from layers.water import WaterBody, classify, is_compliant, normalize_class

_LAKE_WORDS = ("水库", "湖")


class SectionCompliance(BaseModel):
    """One section's assessment on ``as_of``."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Section id")
    name: str | None = Field(description="Section name")
    river: str | None = Field(description="River or water body")
    level: str | None = Field(description="国控 or 省控")
    county: str | None = Field(description="County adcode")
    water_body: WaterBody = Field(description="`lake` for lakes and reservoirs (stricter TP limits), else `river`")
    target_class: str | None = Field(description="GB 3838-2002 target class")
    latest_class: str | None = Field(description="Class of the latest reading on or before as_of")
    latest_month: str | None = Field(description="Month of that reading, YYYY-MM")
    compliant: bool | None = Field(description="Latest class meets the target (None without readings)")
    months_assessed: int = Field(description="Months with a reading up to as_of")
    months_noncompliant: int = Field(description="Months whose class was worse than the target")
    noncompliant_months: list[str] = Field(description="Those months, YYYY-MM")


class WaterCompliance(BaseModel):
    """How many of the sections meet their target class on ``as_of``."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2025-06-30",
                    "target": 14,
                    "sections_total": 14,
                    "compliant": 13,
                    "noncompliant": 1,
                    "no_data": 0,
                    "sections": [],
                }
            ]
        },
    )

    as_of: date | None = Field(description="Assessment day; None means every reading held")
    target: float | None = Field(description="The plan's target: sections that should comply")
    sections_total: int = Field(description="Sections assessed")
    compliant: int = Field(description="Sections whose latest class meets the target")
    noncompliant: int = Field(description="Sections whose latest class is worse than the target")
    no_data: int = Field(description="Sections without any reading up to as_of")
    sections: list[SectionCompliance] = Field(description="Per section, in id order")


def water_body_of(name: str | None, river: str | None) -> WaterBody:
    """Return ``lake`` for sections on a lake or reservoir (by their name), ``river`` otherwise.

    Examples
    --------
    >>> water_body_of("水府庙水库库心", "涟水"), water_body_of("马家河", "湘江")
    ('lake', 'river')
    """
    text = f"{name or ''} {river or ''}"
    return "lake" if any(word in text for word in _LAKE_WORDS) else "river"


def reading_class(data: Any, water_body: WaterBody) -> str | None:
    """Return the GB 3838 class of one reading (``data`` of a history entry), or None without values.

    The class is recomputed from the measured parameters with :func:`layers.water.classify`; a reading
    that only carries a ``class`` keeps it.
    """
    reading = json.loads(data) if isinstance(data, str) else data
    if not isinstance(reading, dict):
        return None
    values = {k: float(v) for k, v in reading.items() if k in ("DO", "CODMn", "NH3N", "TP") and v is not None}
    if values:
        return classify(values, water_body)
    return normalize_class(str(reading["class"])) if reading.get("class") else None


def monthly_classes(history: pd.DataFrame, water_body: WaterBody) -> pd.Series:
    """Return the class of each month (the month's latest reading), indexed by YYYY-MM, oldest first."""
    rows = history[history["data"].notna()]
    classes = pd.Series([reading_class(d, water_body) for d in rows["data"]], index=rows.index, dtype=object)
    months = rows["date"].astype(str).str[:7]
    frame = pd.DataFrame({"month": months, "cls": classes}).dropna()
    return frame.drop_duplicates("month", keep="last").set_index("month")["cls"].sort_index()


def _section(row: Any, history: pd.DataFrame) -> SectionCompliance:
    body = water_body_of(row.name, row.river)
    classes = monthly_classes(history, body)
    target = normalize_class(row.target_class) if isinstance(row.target_class, str) and row.target_class else None
    bad = [m for m, c in classes.items() if target and not is_compliant(c, target)]
    latest = classes.iloc[-1] if len(classes) else None
    return SectionCompliance(
        id=str(row.id),
        name=row.name,
        river=row.river,
        level=row.level,
        county=row.county,
        water_body=body,
        target_class=target,
        latest_class=latest,
        latest_month=str(classes.index[-1]) if len(classes) else None,
        compliant=None if latest is None or target is None else is_compliant(latest, target),
        months_assessed=len(classes),
        months_noncompliant=len(bad),
        noncompliant_months=[str(m) for m in bad],
    )


def water_compliance(store: FeatureStore, layer: Layer, as_of: date | None = None) -> WaterCompliance:
    """Assess every section on ``as_of`` from the readings in its history entries (``data``).

    A month's class is its latest reading's class (recomputed with GB 3838-2002 single-factor rules);
    the section complies when its latest month's class is its target class or better.
    """
    columns = ["id", "name", "river", "level", "county", "target_class"]
    frame = pd.DataFrame(store.read(layer.id, columns=columns).drop(columns="geometry"))
    frame = frame.reindex(columns=columns).sort_values("id")
    history = store.history(layer.id, until=as_of)
    groups = {str(k): g for k, g in history.groupby("feature_id", sort=False)}
    empty = history.iloc[0:0]
    sections = [_section(row, groups.get(str(row.id), empty)) for row in frame.itertuples(index=False)]
    return WaterCompliance(
        as_of=as_of,
        target=layer.target.value if layer.target else None,
        sections_total=len(sections),
        compliant=sum(s.compliant is True for s in sections),
        noncompliant=sum(s.compliant is False for s in sections),
        no_data=sum(s.compliant is None for s in sections),
        sections=sections,
    )
