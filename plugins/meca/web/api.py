"""The dashboard's data as JSON: the same numbers the pages show, in the types' own units."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from meca.cloudstack.capacity import BY_TYPE
from meca.security.roles import DASHBOARD
from meca.web.auth import requires_meca
from meca.web.database import data_engine
from meca.web.queries import (
    STALE_AFTER,
    WINDOWS,
    Capacity,
    OpenAlert,
    RegionStatus,
    federation_totals,
    history,
    open_alerts,
    region_statuses,
    seats_left,
)

router = APIRouter(prefix="/api", dependencies=[Depends(requires_meca(DASHBOARD))])


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def capacity_json(c: Capacity) -> dict[str, Any]:
    """A capacity as JSON: type number and name, label, unit, used, total and percent."""
    return {
        "type": c.type,
        "name": c.name,
        "label": c.label,
        "unit": c.unit,
        "used": c.used,
        "total": c.total,
        "percent": None if c.percent is None else round(c.percent, 2),
    }


def region_json(r: RegionStatus) -> dict[str, Any]:
    """A region's current numbers and health as JSON."""
    return {
        "name": r.name,
        "display_name": r.display_name,
        "colour": r.colour,
        "city": r.city,
        "country": r.country,
        "last_sample_at": _time(r.last_sample_at),
        "last_sweep_at": _time(r.last_sweep_at),
        "status": r.status,
        "stale": r.stale,
        "age_s": None if r.age_s is None else round(r.age_s, 1),
        "last_error": r.last_error,
        "capacity": [capacity_json(c) for _, c in sorted(r.capacities.items())],
        "vm_states": r.vm_states,
    }


def alert_json(a: OpenAlert) -> dict[str, Any]:
    """An open alert as JSON."""
    return {**asdict(a), "opened_at": _time(a.opened_at), "last_seen_at": _time(a.last_seen_at)}


def _region(name: str, regions: list[RegionStatus]) -> RegionStatus:
    for region in regions:
        if region.name == name:
            return region
    raise HTTPException(404, f"no region named {name!r} in the MECA data database")


@router.get("/summary")
def summary() -> dict[str, Any]:
    """Every region and the federation totals (regions summed, stale ones at their last known value)."""
    now = datetime.now(UTC)
    regions = region_statuses(data_engine(), now)
    last = max((r.last_sample_at for r in regions if r.last_sample_at is not None), default=None)
    return {
        "generated_at": now.isoformat(),
        "last_updated": _time(last),
        "stale_after_s": STALE_AFTER.total_seconds(),
        "totals": [capacity_json(c) for c in federation_totals(regions).values()],
        "regions": [region_json(r) for r in regions],
    }


@router.get("/regions/{name}")
def region(name: str) -> dict[str, Any]:
    """One region: its numbers and health, seats left per offering and open alerts."""
    engine = data_engine()
    found = _region(name, region_statuses(engine, datetime.now(UTC)))
    return {
        **region_json(found),
        "seats": [asdict(s) for s in seats_left(engine, [found])],
        "alerts": [alert_json(a) for a in open_alerts(engine, name)],
    }


@router.get("/history")
def capacity_history(
    type: int = Query(..., description="CloudStack capacity type number"),
    window: Literal["24h", "7d", "30d"] = "24h",
    region: str | None = None,
) -> dict[str, Any]:
    """The history of one capacity type per region: raw samples (24h), hourly (7d) or daily (30d) rollups."""
    if type not in BY_TYPE:
        raise HTTPException(404, f"unknown capacity type {type}; known: {sorted(BY_TYPE)}")
    now, chosen = datetime.now(UTC), WINDOWS[window]
    series = history(data_engine(), type, chosen, now, region=region)
    kind = BY_TYPE[type]
    return {
        "type": type,
        "name": kind.name,
        "unit": kind.unit,
        "window": chosen.key,
        "source": chosen.source,
        "from": (now - chosen.span).isoformat(),
        "to": now.isoformat(),
        "series": [
            {
                "region": s.region,
                "colour": s.colour,
                "points": [{"at": p.at.isoformat(), "used": p.used, "total": p.total} for p in s.points],
            }
            for s in series
        ],
    }


@router.get("/seats")
def seats(region: str | None = None) -> dict[str, Any]:
    """Seats left per region and service offering (only ``region``'s when given)."""
    engine = data_engine()
    regions = region_statuses(engine, datetime.now(UTC))
    chosen = [_region(region, regions)] if region is not None else regions
    return {"seats": [asdict(s) for s in seats_left(engine, chosen)]}


@router.get("/alerts")
def alerts(region: str | None = None) -> dict[str, Any]:
    """Open (not cleared) alerts, newest first (only ``region``'s when given)."""
    return {"alerts": [alert_json(a) for a in open_alerts(data_engine(), region)]}
