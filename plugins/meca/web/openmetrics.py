"""``/metrics``: the latest value per region and capacity type as OpenMetrics text, for Prometheus.

Families (every one a gauge, labels ``region`` and, for capacity, ``type`` (the CloudStack name) and
``unit``): ``meca_capacity_used``, ``meca_capacity_total`` (zones summed, the latest successful sample),
``meca_region_up`` (1 when the region answered its latest sweep and that sweep is recent),
``meca_region_last_sample_timestamp_seconds`` and ``meca_alerts_open`` (per region and severity).
A stale region keeps its last known capacity values; ``meca_region_up`` is 0 for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Response

from meca.security.roles import DATA
from meca.web.auth import requires_meca
from meca.web.database import data_engine
from meca.web.queries import OpenAlert, RegionStatus, open_alerts, region_statuses

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

router = APIRouter(dependencies=[Depends(requires_meca(DATA))])

Sample = tuple[dict[str, str], float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# TYPE {name} gauge", f"# HELP {name} {help_text}"]
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
        lines.append(f"{name}{{{rendered}}} {_number(value)}")
    return lines


def render(regions: list[RegionStatus], alerts: list[OpenAlert]) -> str:
    """The OpenMetrics exposition of ``regions`` and ``alerts``, ending with ``# EOF``."""

    def capacity(field: str) -> list[Sample]:
        return [
            ({"region": r.name, "type": c.name, "unit": c.unit}, getattr(c, field))
            for r in regions
            for _, c in sorted(r.capacities.items())
        ]

    open_counts = Counter((a.region, a.severity) for a in alerts)
    lines = [
        *_family(
            "meca_capacity_used",
            "Used capacity of a region, zones summed, in the type's unit (bytes, MHz or count).",
            capacity("used"),
        ),
        *_family(
            "meca_capacity_total",
            "Total capacity of a region, zones summed, in the type's unit (bytes, MHz or count).",
            capacity("total"),
        ),
        *_family(
            "meca_region_up",
            "1 when the region answered its latest sweep and that sweep is recent, else 0.",
            [({"region": r.name}, 0 if r.stale else 1) for r in regions],
        ),
        *_family(
            "meca_region_last_sample_timestamp_seconds",
            "Unix time of the region's latest successful sample.",
            [({"region": r.name}, r.last_sample_at.timestamp()) for r in regions if r.last_sample_at],
        ),
        *_family(
            "meca_alerts_open",
            "Open alerts of a region by severity.",
            [
                ({"region": region, "severity": severity}, n)
                for (region, severity), n in sorted(open_counts.items())
            ],
        ),
        "# EOF",
    ]
    return "\n".join(lines) + "\n"


@router.get("/metrics")
def metrics() -> Response:
    """The latest values per region and capacity type in the OpenMetrics text format."""
    engine = data_engine()
    text = render(region_statuses(engine, datetime.now(UTC)), open_alerts(engine))
    return Response(text, media_type=CONTENT_TYPE)
