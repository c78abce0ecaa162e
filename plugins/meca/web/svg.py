"""Inline SVG for the dashboard: a half-circle gauge per tile and line charts for the history.

Plain SVG drawn on the server: no JavaScript, nothing fetched by the browser.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

GAUGE_RADIUS = 50
WARN_PERCENT = 70.0
ALERT_PERCENT = 90.0
CHART_WIDTH, CHART_HEIGHT = 640, 200
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 10, 10, 24
Y_TICKS = 4
#: Lines with at most this many points also get a dot per point (a single point draws no line).
MAX_DOTTED_POINTS = 40


def level(percent: float | None) -> str:
    """``ok``, ``warn`` (from 70 %) or ``alert`` (from 90 %): the colour class of a gauge."""
    if percent is None or percent < WARN_PERCENT:
        return "ok"
    return "warn" if percent < ALERT_PERCENT else "alert"


def gauge(percent: float | None, label: str) -> Markup:
    """A half-circle gauge filled to ``percent`` (0-100, clipped), with the percentage written inside.

    :param percent: the percentage used, or ``None`` when unknown (an empty gauge marked "n/a").
    :param label: the accessible name, e.g. ``"Memory"``.
    """
    r = GAUGE_RADIUS
    cx, cy = 60, 60
    shown = "n/a" if percent is None else f"{percent:.0f}%"
    fraction = 0.0 if percent is None else min(max(percent, 0.0), 100.0) / 100.0
    angle = math.pi * (1 - fraction)
    x, y = cx + r * math.cos(angle), cy - r * math.sin(angle)
    fill = (
        f'<path class="gauge-fill {level(percent)}" d="M{cx - r} {cy} A{r} {r} 0 0 1 {x:.2f} {y:.2f}"/>'
        if fraction > 0
        else ""
    )
    return Markup(
        f'<svg class="gauge" viewBox="0 0 120 66" role="img" aria-label="{escape(label)}: {shown} used">'
        f'<path class="gauge-track" d="M{cx - r} {cy} A{r} {r} 0 0 1 {cx + r} {cy}"/>{fill}'
        f'<text x="{cx}" y="{cy - 4}" text-anchor="middle">{shown}</text></svg>'
    )


@dataclass(frozen=True)
class Line:
    """One line of a chart: ``points`` are ``(time, value)``; a dashed line is a reference (a total)."""

    label: str
    colour: str
    points: list[tuple[datetime, float]]
    dashed: bool = False


def line_chart(
    lines: list[Line],
    start: datetime,
    end: datetime,
    y_max: float,
    y_label: Callable[[float], str],
    title: str,
) -> Markup:
    """A time chart of ``lines`` between ``start`` and ``end``, from 0 to ``y_max``.

    :param y_label: formats a value for the y-axis ticks.
    :param title: the accessible name of the chart.
    """
    plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    span = max((end - start).total_seconds(), 1.0)
    top = y_max if y_max > 0 else 1.0

    def x_of(at: datetime) -> float:
        return MARGIN_LEFT + plot_w * min(max((at - start).total_seconds() / span, 0.0), 1.0)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - min(max(value / top, 0.0), 1.0))

    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    for tick in range(Y_TICKS + 1):
        value = top * tick / Y_TICKS
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{CHART_WIDTH - MARGIN_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(y_label(value))}</text>"
        )
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text class="tick" x="{x_of(at):.1f}" y="{CHART_HEIGHT - 6}" text-anchor="{anchor}">'
            f"{at:%Y-%m-%d %H:%M} UTC</text>"
        )
    for line in lines:
        coords = " ".join(f"{x_of(at):.1f},{y_of(value):.1f}" for at, value in line.points)
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append(
            f'<polyline class="series" points="{coords}" stroke="{escape(line.colour)}"{dash}>'
            f"<title>{escape(line.label)}</title></polyline>"
        )
        if len(line.points) <= MAX_DOTTED_POINTS:
            parts.extend(
                f'<circle class="dot" cx="{x_of(at):.1f}" cy="{y_of(value):.1f}" r="2.5" '
                f'fill="{escape(line.colour)}"/>'
                for at, value in line.points
            )
    parts.append("</svg>")
    return Markup("".join(parts))
