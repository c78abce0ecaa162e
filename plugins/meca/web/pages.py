"""The dashboard's HTML pages: the federation summary and one page per region."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from meca.security.roles import DASHBOARD
from meca.web import humanize
from meca.web.auth import requires_meca
from meca.web.charts import percent_chart, used_chart
from meca.web.database import data_engine
from meca.web.queries import (
    STALE_AFTER,
    WINDOWS,
    RegionStatus,
    Seats,
    dashboard_capacities,
    federation_totals,
    history,
    open_alerts,
    region_statuses,
    seats_left,
)
from meca.web.svg import gauge, level

WindowKey = Literal["24h", "7d", "30d"]
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(human=humanize.human, utc=humanize.utc, age=humanize.age)
templates.env.globals.update(gauge=gauge, level=level, used_of_total=humanize.used_of_total, windows=WINDOWS)

router = APIRouter(dependencies=[Depends(requires_meca(DASHBOARD, page=True))])


def _seat_matrix(seats: list[Seats]) -> tuple[list[str], dict[tuple[str, str], Seats]]:
    """The offering names (smallest first, as queried) and the seats per ``(region, offering)``."""
    offerings = list(dict.fromkeys(s.offering for s in seats))
    return offerings, {(s.region, s.offering): s for s in seats}


def _last_updated(regions: list[RegionStatus]) -> datetime | None:
    return max((r.last_sample_at for r in regions if r.last_sample_at is not None), default=None)


@router.get("/", response_class=HTMLResponse)
def federation_page(request: Request, window: WindowKey = "24h") -> HTMLResponse:
    """The federation summary: the seven tiles summed over regions, the regions, history, seats, alerts."""
    engine, now, chosen = data_engine(), datetime.now(UTC), WINDOWS[window]
    regions = region_statuses(engine, now)
    tiles = dashboard_capacities(federation_totals(regions))
    offerings, seats = _seat_matrix(seats_left(engine, regions))
    context: dict[str, Any] = {
        "title": "MECA federation",
        "root": "",
        "now": now,
        "regions": regions,
        "tiles": tiles,
        "last_updated": _last_updated(regions),
        "stale_after_s": STALE_AFTER.total_seconds(),
        "window": chosen,
        "charts": [(c, percent_chart(c, history(engine, c.type, chosen, now), chosen, now)) for c in tiles],
        "offerings": offerings,
        "seats": seats,
        "alerts": open_alerts(engine),
    }
    return templates.TemplateResponse(request, "federation.html", context)


@router.get("/regions/{name}", response_class=HTMLResponse)
def region_page(request: Request, name: str, window: WindowKey = "24h") -> HTMLResponse:
    """One region: its seven tiles, health, VMs, history (used and total), seats and alerts."""
    engine, now, chosen = data_engine(), datetime.now(UTC), WINDOWS[window]
    regions = region_statuses(engine, now)
    region = next((r for r in regions if r.name == name), None)
    if region is None:
        raise HTTPException(404, f"no region named {name!r} in the MECA data database")
    tiles = dashboard_capacities(region.capacities)
    context: dict[str, Any] = {
        "title": region.display_name,
        "root": "../",
        "now": now,
        "regions": regions,
        "region": region,
        "tiles": tiles,
        "last_updated": region.last_sample_at,
        "stale_after_s": STALE_AFTER.total_seconds(),
        "window": chosen,
        "charts": [
            (c, used_chart(c, history(engine, c.type, chosen, now, region=name), chosen, now)) for c in tiles
        ],
        "seats": seats_left(engine, [region]),
        "alerts": open_alerts(engine, name),
    }
    return templates.TemplateResponse(request, "region.html", context)
