"""Alerts after a write: check the written project's rules in a background thread, never failing the write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from fastapi import Request

from layers.alerts import run_alerts

logger = logging.getLogger(__name__)


class AlertChecks:
    """The alert checks writes start, run one at a time in a background thread.

    The app's shutdown waits for them before it closes the store they read: a check still reading when the
    store closed its connections crashed the process (SQLite freed a connection in use).
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planmap-alerts")

    def submit(self, check: Callable[[], None]) -> Future[None]:
        """Queue one check."""
        return self._executor.submit(check)

    def shutdown(self) -> None:
        """Run the checks already queued to their end, then stop the thread."""
        self._executor.shutdown(wait=True)


def after_write(request: Request, layer_id: str, feature_id: str) -> Future[None] | None:
    """Queue a check of the project's alerts (overdue, red light) and the review rules; return its future.

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

    return app.state.alert_checks.submit(check)
