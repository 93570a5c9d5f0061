"""The data version of a report: a short hash of everything its figures are read from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from geo.storage.base import FeatureStore
from layers.models import Layer
from layers.plan_model import StoredPlan

REPORT_FORMAT = 1
"""Bumped when the reports' content or layout changes, so an archived report of an older layout is not reused."""
BOUNDARIES = "counties"


def data_version(store: FeatureStore, plan: StoredPlan, layers: Sequence[Layer]) -> str:
    """Return a 12-hex-digit version that changes whenever the plan, a report layer or the boundaries change.

    It hashes the plan's year and version, each layer's store version (which changes on every write,
    progress reports included) and :data:`REPORT_FORMAT`.
    """
    parts = {
        "format": REPORT_FORMAT,
        "plan": [plan.plan.year, plan.version],
        "layers": {layer.id: store.version(layer.id) for layer in [*layers]},
        "boundaries": store.version(BOUNDARIES),
    }
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
