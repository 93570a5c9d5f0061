"""Tests for layers.water: GB 3838-2002 classes of readings and compliance with a target class."""

import math

import pytest

from layers.water import CLASSES, class_rank, classify, classify_parameter, is_compliant, normalize_class

GOOD = {"DO": 8.0, "CODMn": 1.5, "NH3N": 0.1, "TP": 0.01}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (9.0, "I"),
        (7.5, "I"),
        (7.49, "II"),
        (6.0, "II"),
        (5.99, "III"),
        (5.0, "III"),
        (3.0, "IV"),
        (2.0, "V"),
        (1.99, "劣V"),
        (0.0, "劣V"),
    ],
)
def test_dissolved_oxygen_is_a_lower_bound(value: float, expected: str) -> None:
    assert classify_parameter("DO", value) == expected


@pytest.mark.parametrize(
    ("parameter", "limits"),
    [("CODMn", (2.0, 4.0, 6.0, 10.0, 15.0)), ("NH3N", (0.15, 0.5, 1.0, 1.5, 2.0))],
)
def test_upper_limits_belong_to_their_class(parameter: str, limits: tuple[float, ...]) -> None:
    for k, limit in enumerate(limits):
        assert classify_parameter(parameter, limit) == CLASSES[k]
        assert classify_parameter(parameter, limit + 1e-3) == CLASSES[k + 1]
    assert classify_parameter(parameter, limits[-1] * 3) == "劣V"
    assert classify_parameter(parameter, 0.0) == "I"


@pytest.mark.parametrize(
    ("body", "limits"),
    [("river", (0.02, 0.1, 0.2, 0.3, 0.4)), ("lake", (0.01, 0.025, 0.05, 0.1, 0.2))],
)
def test_total_phosphorus_limits_for_rivers_and_lakes(body: str, limits: tuple[float, ...]) -> None:
    for k, limit in enumerate(limits):
        assert classify_parameter("TP", limit, body) == CLASSES[k]  # type: ignore[arg-type]
        assert classify_parameter("TP", limit + 1e-4, body) == CLASSES[k + 1]  # type: ignore[arg-type]


def test_lakes_are_stricter_on_phosphorus() -> None:
    reading = {**GOOD, "TP": 0.08}
    assert classify(reading) == "II"
    assert classify(reading, "lake") == "IV"
    assert classify({**GOOD, "TP": 0.21}, "lake") == "劣V"
    assert classify({**GOOD, "TP": 0.21}) == "IV"


def test_the_worst_parameter_decides() -> None:
    assert classify(GOOD) == "I"
    assert classify({**GOOD, "NH3N": 1.2}) == "IV"
    assert classify({**GOOD, "CODMn": 5.0, "NH3N": 0.4}) == "III"
    assert classify({**GOOD, "DO": 1.0, "TP": 0.35}) == "劣V"


def test_other_keys_are_ignored_and_missing_parameters_skipped() -> None:
    assert classify({**GOOD, "class": "V", "note": 3}) == "I"
    assert classify({"TP": 0.15}) == "III"


@pytest.mark.parametrize(
    "reading",
    [{}, {"class": "II"}, {"TP": -0.1}, {"DO": math.nan}],
)
def test_invalid_readings_raise(reading: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        classify(reading)


def test_unknown_parameter_raises() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        classify_parameter("COD", 10.0)


@pytest.mark.parametrize(
    ("latest", "target", "ok"),
    [
        ("I", "III", True),
        ("III", "III", True),
        ("IV", "III", False),
        ("V", "V", True),
        ("劣V", "V", False),
        ("II", "II", True),
    ],
)
def test_is_compliant(latest: str, target: str, ok: bool) -> None:
    assert is_compliant(latest, target) is ok


def test_class_names_from_bulletins_are_normalised() -> None:
    assert normalize_class("Ⅲ类") == "III"
    assert normalize_class("劣Ⅴ类") == "劣V"
    assert normalize_class(" iv ") == "IV"
    assert class_rank("劣V") == 5
    assert is_compliant("Ⅱ", "Ⅲ")
    with pytest.raises(ValueError, match="unknown water-quality class"):
        normalize_class("VI")
