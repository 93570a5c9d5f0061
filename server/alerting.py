"""Alerts after a write: check the written project's rules in a background thread, never failing the write."""

from __future__ import annotations

import logging
import threading

from fastapi import Request

from layers.alerts import run_alerts

logger = logging.getLogger(__name__)


def after_write(request: Request, layer_id: str, feature_id: str) -> threading.Thread | None:
    """Start checking the project's alerts (overdue, red light) and the review rules; return the thread.

    The check reads the store once for destinations and does nothing more when none is configured.
    """
    app = request.app
    settings = app.state.settings.alerts
    if not settings.alerts_on_write:
        return None
    store, registry = app.state.store, app.state.registry
    layers = list(registry.projects())

    def check() -> None:
        try:
            run_alerts(store, layers, settings.config(), feature=(layer_id, feature_id))
        except Exception:  # an alert must never break or slow the report that triggered it
            logger.exception("alerts after a write to %s/%s failed", layer_id, feature_id)

    thread = threading.Thread(target=check, name="planmap-alerts", daemon=True)
    thread.start()
    return thread
