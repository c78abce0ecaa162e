from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from meca.web.svg import Line, gauge, level, line_chart

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("percent", "expected"), [(None, "ok"), (69.9, "ok"), (70, "warn"), (89.9, "warn"), (90, "alert")]
)
def test_gauge_level(percent: float | None, expected: str) -> None:
    assert level(percent) == expected


def test_gauge_arc_ends_where_the_percentage_says() -> None:
    half = str(gauge(50.0, "Memory"))
    assert 'aria-label="Memory: 50% used"' in half
    # Half-full: the arc from the left end (10, 60) stops at the top of the circle (60, 10).
    assert re.search(r'class="gauge-fill ok" d="M10 60 A50 50 0 0 1 60\.00 10\.00"', half)
    full = str(gauge(130.0, "CPU"))
    assert 'd="M10 60 A50 50 0 0 1 110.00 60.00"' in full
    assert "gauge-fill alert" in full
    empty = str(gauge(None, "IPs"))
    assert "gauge-fill" not in empty
    assert "n/a" in empty


def test_line_chart_scales_points_into_the_plot_and_escapes_labels() -> None:
    end = START + timedelta(hours=10)
    chart = str(
        line_chart(
            [Line("<a&b>", "#123456", [(START, 0.0), (end, 100.0)])],
            START,
            end,
            100.0,
            lambda v: f"{v:.0f}%",
            "t",
        )
    )
    # Left edge at x=70 (the margin), bottom y=176; right edge x=630, top y=10.
    assert 'points="70.0,176.0 630.0,10.0"' in chart
    assert "<title>&lt;a&amp;b&gt;</title>" in chart
    assert chart.count('class="dot"') == 2
    assert ">100%</text>" in chart
    assert ">0%</text>" in chart
