"""Delivering report files to people (mail, webhooks): the hook ``planmap report --send`` calls.

planmap has no delivery mechanism yet; :func:`deliver` is where one plugs in. Until then it refuses
plainly, naming the files it was given, so a scheduled run never pretends to have sent anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from layers.errors import ReportUnavailable


class DeliveryUnavailable(ReportUnavailable):
    """No delivery mechanism is configured for reports."""


def deliver(files: Sequence[Path], destinations: Sequence[str]) -> None:
    """Send ``files`` to each of ``destinations`` (mail addresses or webhook URLs).

    Raises
    ------
    DeliveryUnavailable
        Always, for now: planmap has no mail or webhook sender to hand the files to.
    """
    names = ", ".join(p.name for p in files)
    raise DeliveryUnavailable(
        f"reports cannot be sent yet (no mail or webhook sender in planmap): {names} not sent to "
        f"{', '.join(destinations)}"
    )
