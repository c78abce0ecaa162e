"""The history charts of the pages, drawn from :func:`meca.web.queries.history` series."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup

from meca.web.humanize import human
from meca.web.queries import Capacity, Series, Window
from meca.web.svg import Line, line_chart

TOTAL_COLOUR = "#6c757d"


def percent_chart(capacity: Capacity, series: list[Series], window: Window, now: datetime) -> Markup:
    """Percentage used of ``capacity``'s type, one line per region (the federation page)."""
    lines = [
        Line(s.region, s.colour, [(p.at, p.percent) for p in s.points if p.percent is not None])
        for s in series
    ]
    return line_chart(
        lines,
        now - window.span,
        now,
        100.0,
        lambda value: f"{value:.0f}%",
        f"{capacity.label}: percentage used per region over {window.key}",
    )


def used_chart(capacity: Capacity, series: list[Series], window: Window, now: datetime) -> Markup:
    """Used (the region's colour) and total (dashed grey) of one region in human units (the region page)."""
    lines: list[Line] = []
    top = 0.0
    for s in series:
        lines.append(
            Line(f"{s.region} total", TOTAL_COLOUR, [(p.at, p.total) for p in s.points], dashed=True)
        )
        lines.append(Line(f"{s.region} used", s.colour, [(p.at, p.used) for p in s.points]))
        top = max([top, *(p.total for p in s.points), *(p.used for p in s.points)])
    return line_chart(
        lines,
        now - window.span,
        now,
        top,
        lambda value: human(value, capacity.unit),
        f"{capacity.label}: used and total over {window.key}",
    )
