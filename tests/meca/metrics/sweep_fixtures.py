"""Fill the MECA data database through our own write path (``write_sample`` / ``write_error``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from airflow.sdk import BaseNotifier
from sqlalchemy import Engine

from meca.metrics.collect import RegionSample, ZoneCapacity
from meca.metrics.samples import write_error, write_sample
from meca.regions import Region

#: Per capacity type, the (used, total) of each zone of a region at one sample time.
ZoneValues = dict[int, list[tuple[int, int]]]


def make_region(name: str, number: int) -> Region:
    return Region(
        conn_id=f"cloudstack_{name}",
        name=name,
        region_id=number,
        display_name=name.title(),
        city="Torino",
        country="IT",
        lat=45.0 + number,
        lon=7.6,
        colour="#1f77b4",
    )


class Sweeps:
    """Writes sweeps of made-up regions into a data database, as the sweep task would."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.regions: dict[str, Region] = {}

    def region(self, name: str) -> Region:
        if name not in self.regions:
            self.regions[name] = make_region(name, len(self.regions) + 1)
        return self.regions[name]

    def ok(self, name: str, at: datetime, values: ZoneValues, vms: dict[str, int] | None = None) -> None:
        capacities = [
            ZoneCapacity(
                zone_id=f"{name}-z{zone}",
                zone_name=f"{name}-z{zone}",
                type=capacity_type,
                used=used,
                allocated=None,
                total=total,
                percent=round(100.0 * used / total, 2) if total else None,
            )
            for capacity_type, zones in values.items()
            for zone, (used, total) in enumerate(zones, start=1)
        ]
        sample = RegionSample(
            region=self.region(name),
            capacities=capacities,
            vm_states=vms if vms is not None else {"Running": 1},
            latency_ms=12.5,
            api_calls=3,
        )
        write_sample(self.engine, sample, at)

    def error(self, name: str, at: datetime, message: str) -> None:
        write_error(self.engine, self.region(name), at, message)


class RecordingNotifier(BaseNotifier):
    """An Airflow notifier that keeps the rendered ``text`` of each call in :attr:`sent`."""

    template_fields = ("text",)
    sent: ClassVar[list[str]] = []

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def notify(self, context: Any) -> None:
        RecordingNotifier.sent.append(self.text)
