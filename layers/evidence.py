"""Photo evidence of a report: when the photo was taken, where the phone was, and what looks doubtful.

The browser sends the phone's position with the report (``position_lon``, ``position_lat`` in WGS84 and
``position_accuracy_m``); the photo's EXIF ``DateTimeOriginal`` says when it was taken. A report is flagged,
never refused, when the photo is much older than the report, the phone was far from the project
(geodesic distance to the geometry; 0 inside it) or the position is too coarse to tell: field teams
report late and from the road, and a reviewer decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shapely.geometry.base import BaseGeometry

from geo.measure import distance_to_geometry_m
from layers.errors import InvalidProgressUpdate

POSITION_FIELDS = ("position_lon", "position_lat", "position_accuracy_m")
CAPTURED_FIELD = "captured_at"
"""Form/JSON field: when the phone made the report (ISO 8601), which may be long before it reached the server."""
_FUTURE_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class Position:
    """The phone's WGS84 position when the report was made, and its accuracy radius in metres."""

    lon: float
    lat: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class EvidenceLimits:
    """When to flag a report: photo older than ``max_photo_age_days`` before the report date, phone farther
    than ``max_distance_m`` from the project, position accuracy worse than ``max_accuracy_m``."""

    max_photo_age_days: int = 30
    max_distance_m: float = 500.0
    max_accuracy_m: float = 100.0


def _number(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidProgressUpdate(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:  # also refuses NaN
        raise InvalidProgressUpdate(f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return number


def split_position(fields: Mapping[str, Any]) -> tuple[dict[str, Any], Position | None]:
    """Return the report's other fields and the phone's position (None when not sent).

    Raises
    ------
    InvalidProgressUpdate
        When only one coordinate is sent, or a value is not a number in range.

    Examples
    --------
    >>> split_position({"status": "completed", "position_lon": "112.9", "position_lat": "27.8"})
    ({'status': 'completed'}, Position(lon=112.9, lat=27.8, accuracy_m=None))
    """
    rest = {k: v for k, v in fields.items() if k not in POSITION_FIELDS}
    given = {k: fields[k] for k in POSITION_FIELDS if fields.get(k) not in (None, "")}
    if not given:
        return rest, None
    if "position_lon" not in given or "position_lat" not in given:
        raise InvalidProgressUpdate("send both position_lon and position_lat (WGS84), or neither")
    accuracy = given.get("position_accuracy_m")
    return rest, Position(
        _number("position_lon", given["position_lon"], -180, 180),
        _number("position_lat", given["position_lat"], -90, 90),
        None if accuracy is None else _number("position_accuracy_m", accuracy, 0, 1e6),
    )


def split_captured_at(fields: Mapping[str, Any], now: datetime) -> tuple[dict[str, Any], str | None]:
    """Return the report's other fields and its capture time as ISO 8601 UTC (None when not sent).

    A time without an offset is taken as UTC; ``now`` (aware) bounds it, since a phone's clock may run a
    little fast but a report cannot be made in the future.

    Raises
    ------
    InvalidProgressUpdate
        When the value is not an ISO 8601 time, or is more than ten minutes after ``now``.

    Examples
    --------
    >>> now = datetime(2025, 6, 20, 12, tzinfo=UTC)
    >>> split_captured_at({"status": "completed", "captured_at": "2025-06-20T09:30:00+08:00"}, now)
    ({'status': 'completed'}, '2025-06-20T01:30:00Z')
    """
    rest = {k: v for k, v in fields.items() if k != CAPTURED_FIELD}
    raw = fields.get(CAPTURED_FIELD)
    if raw in (None, ""):
        return rest, None
    try:
        when = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidProgressUpdate(f"captured_at must be an ISO 8601 time, got {str(raw)[:40]!r}") from None
    when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    if when > now + _FUTURE_SLACK:
        raise InvalidProgressUpdate(f"captured_at {when.isoformat()} is in the future")
    return rest, when.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_exif_time(value: Any) -> datetime | None:
    """Return an EXIF ``YYYY:MM:DD HH:MM:SS`` time, or None when absent or malformed."""
    try:
        return datetime.strptime(str(value).strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def evidence(
    geometry: BaseGeometry,
    report_day: date,
    position: Position | None,
    taken_at: datetime | None,
    limits: EvidenceLimits,
) -> dict[str, Any]:
    """Return what a history entry keeps as evidence: position (with distance), photo time, and flags.

    Flags: ``photo_old`` (taken more than ``max_photo_age_days`` before the report date), ``far_from_project``
    and ``poor_accuracy``. A missing position or time raises no flag: there is nothing to doubt.
    """
    found: dict[str, Any] = {"flags": []}
    if taken_at is not None:
        found["photo_taken_at"] = taken_at.isoformat()
        if (report_day - taken_at.date()).days > limits.max_photo_age_days:
            found["flags"].append("photo_old")
    if position is not None:
        distance, _, _ = distance_to_geometry_m(position.lon, position.lat, geometry)
        found["position"] = {
            "lon": round(position.lon, 6),
            "lat": round(position.lat, 6),
            "accuracy_m": position.accuracy_m,
            "distance_m": round(float(distance), 1),
        }
        if distance > limits.max_distance_m:
            found["flags"].append("far_from_project")
        if position.accuracy_m is not None and position.accuracy_m > limits.max_accuracy_m:
            found["flags"].append("poor_accuracy")
    return found
