"""Surface-water quality classes after GB 3838-2002, from a section's monthly reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, TypeAlias

WaterBody: TypeAlias = Literal["river", "lake"]
"""``lake`` covers lakes and reservoirs, whose total-phosphorus limits are stricter than rivers'."""

CLASSES = ("I", "II", "III", "IV", "V", "劣V")
"""Water-quality classes from best to worst; anything worse than V is reported as 劣V."""

PARAMETERS = ("DO", "CODMn", "NH3N", "TP")
"""The parameters classified here (mg/L): dissolved oxygen, permanganate index, ammonia nitrogen, total phosphorus."""

# GB 3838-2002 Table 1 limits for classes I..V. DO is a lower bound (>=); the others are upper bounds (<=).
_DO_MIN = (7.5, 6.0, 5.0, 3.0, 2.0)
_UPPER_LIMITS: dict[str, tuple[float, ...]] = {
    "CODMn": (2.0, 4.0, 6.0, 10.0, 15.0),
    "NH3N": (0.15, 0.5, 1.0, 1.5, 2.0),
}
_TP_LIMITS: dict[WaterBody, tuple[float, ...]] = {
    "river": (0.02, 0.1, 0.2, 0.3, 0.4),
    "lake": (0.01, 0.025, 0.05, 0.1, 0.2),
}
_ROMAN = str.maketrans({"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"})


def normalize_class(value: str) -> str:
    """Return a class name in the catalogue's spelling (``I`` ... ``V``, ``劣V``).

    Accepts the Unicode Roman numerals of Chinese bulletins (``Ⅲ``, ``劣Ⅴ``) and a ``类`` suffix.

    Raises
    ------
    ValueError
        If the value is not a GB 3838-2002 class.

    Examples
    --------
    >>> normalize_class("Ⅲ类"), normalize_class("劣Ⅴ")
    ('III', '劣V')
    """
    text = value.strip().translate(_ROMAN).removesuffix("类").upper()
    if text not in CLASSES:
        raise ValueError(f"unknown water-quality class {value!r}; expected one of {', '.join(CLASSES)}")
    return text


def class_rank(value: str) -> int:
    """Return 0 for class I up to 5 for 劣V (larger is worse)."""
    return CLASSES.index(normalize_class(value))


def _rank(parameter: str, value: float, water_body: WaterBody) -> int:
    if parameter == "DO":
        return next((k for k, limit in enumerate(_DO_MIN) if value >= limit), len(_DO_MIN))
    limits = _TP_LIMITS[water_body] if parameter == "TP" else _UPPER_LIMITS[parameter]
    return next((k for k, limit in enumerate(limits) if value <= limit), len(limits))


def classify_parameter(parameter: str, value: float, water_body: WaterBody = "river") -> str:
    """Return the class of one parameter's concentration (mg/L); a value at a class limit is in that class.

    Parameters
    ----------
    parameter : str
        One of ``PARAMETERS``.
    value : float
        Concentration in mg/L.
    water_body : {"river", "lake"}
        Selects the total-phosphorus limits (lakes and reservoirs are stricter).

    Raises
    ------
    ValueError
        If the parameter is unknown or the value is negative or not a number.

    Examples
    --------
    >>> classify_parameter("TP", 0.2), classify_parameter("TP", 0.2, "lake")
    ('III', 'V')
    >>> classify_parameter("DO", 1.5)
    '劣V'
    """
    if parameter not in PARAMETERS:
        raise ValueError(f"unknown parameter {parameter!r}; expected one of {', '.join(PARAMETERS)}")
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{parameter} must be a non-negative concentration, got {value!r}")
    return CLASSES[_rank(parameter, float(value), water_body)]


def classify(reading: Mapping[str, float], water_body: WaterBody = "river") -> str:
    """Return a reading's class: the worst class among its parameters (single-factor assessment).

    Parameters
    ----------
    reading : mapping
        Parameter -> mg/L, using the names of ``PARAMETERS``; other keys (e.g. a stored ``class``) are ignored.
    water_body : {"river", "lake"}
        ``lake`` for lakes and reservoirs.

    Raises
    ------
    ValueError
        If the reading has none of the parameters, or a value is invalid.

    Examples
    --------
    >>> classify({"DO": 7.8, "CODMn": 2.1, "NH3N": 0.2, "TP": 0.08})
    'II'
    >>> classify({"DO": 7.8, "CODMn": 2.1, "NH3N": 0.2, "TP": 0.08}, "lake")
    'IV'
    """
    present = [p for p in PARAMETERS if p in reading]
    if not present:
        raise ValueError(f"reading has none of {', '.join(PARAMETERS)}")
    worst = max(CLASSES.index(classify_parameter(p, reading[p], water_body)) for p in present)
    return CLASSES[worst]


def is_compliant(latest_class: str, target_class: str) -> bool:
    """Return whether a measured class meets the section's target class (same class or better).

    Examples
    --------
    >>> is_compliant("II", "III"), is_compliant("IV", "III"), is_compliant("劣V", "V")
    (True, False, False)
    """
    return class_rank(latest_class) <= class_rank(target_class)
