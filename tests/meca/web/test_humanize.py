from __future__ import annotations

import pytest

from meca.web.humanize import age, human, percent, used_of_total

GIB = 1024**3


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (12 * GIB, "bytes", "12.0 GiB"),
        (1.5 * GIB, "bytes", "1.5 GiB"),
        (2.5 * 1024 * GIB, "bytes", "2.50 TiB"),
        (141_000, "MHz", "141.0 GHz"),
        (2500, "MHz", "2.5 GHz"),
        (1468, "count", "1,468"),
        (0, "count", "0"),
    ],
)
def test_human_units(value: float, unit: str, shown: str) -> None:
    assert human(value, unit) == shown


def test_unknown_unit_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="'parsecs'"):
        human(1, "parsecs")


def test_used_of_total_and_percent() -> None:
    assert used_of_total(45 * GIB, 160 * GIB, "bytes") == "45.0 GiB / 160.0 GiB"
    assert percent(45, 160) == pytest.approx(28.125)
    assert percent(3, 0) is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-3, "0 s"),
        (59, "59 s"),
        (60, "1 min"),
        (1830, "30 min"),
        (3600 + 300, "1 h 5 min"),
        (2 * 86400 + 4 * 3600, "2 d 4 h"),
    ],
)
def test_age(seconds: float, shown: str) -> None:
    assert age(seconds) == shown
