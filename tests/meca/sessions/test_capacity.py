"""Seats count under CloudStack's allocation disable thresholds: swept, recorded and asked live.

One region of one zone: 100 cores of 1 000 MHz and 200 GiB, 84 % of it held by a steady background
load. At CloudStack's default 0.85 only one Small VM (1 vCPU of 1 000 MHz, 1 GiB) fits: the CPU left
under 85 % is 1 000 MHz, although 16 % of the region is free.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cs import CloudStack
from sqlalchemy import Engine, delete

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import SimulatorHandle, region_mapping, topology_mapping
from meca.cloudstack.hook import CloudStackHook
from meca.cloudstack.thresholds import CPU_DISABLE, MEMORY_DISABLE, CapacityThresholds
from meca.metrics.collect import collect_region
from meca.metrics.samples import write_sample
from meca.sessions.capacity import CPU, MEMORY, OfferingSize, _free, asked_capacity, swept_capacity
from meca.store import models

SAMPLED_AT = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
GIB = 1024**3
SMALL = OfferingSize.of("Small", 1, 1000, 1024)
LOAD = {"min_fraction": 0.84, "max_fraction": 0.84, "jitter_fraction": 0.0}
TOPOLOGY = topology_mapping(
    [region_mapping("edge", 1, cpu_cores=100, cpu_mhz=1000, memory_gib=200)], seed=3, background_load=LOAD
)


@pytest.fixture
def edge(simulator_factory, monkeypatch: pytest.MonkeyPatch) -> SimulatorHandle:
    handle = simulator_factory(TOPOLOGY)
    for key, value in airflow_env(handle.endpoints, timeout_s=5.0).items():
        monkeypatch.setenv(key, value)
    return handle


def _api(handle: SimulatorHandle) -> CloudStack:
    info = handle.region("edge")
    return CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])


def _used(api: CloudStack) -> dict[int, tuple[int, int]]:
    """(used, total) of memory and CPU as the region reports them."""
    return {c["type"]: (c["capacityused"], c["capacitytotal"]) for c in api.listCapacity()["capacity"]}


def _sweep(engine: Engine) -> None:
    write_sample(engine, collect_region(CloudStackHook(conn_id_for("edge"))), SAMPLED_AT)


def test_a_region_at_84_percent_offers_only_what_fits_under_85(edge, data_engine: Engine) -> None:
    api = _api(edge)
    used = _used(api)
    assert {c["name"]: c["percentused"] for c in api.listCapacity()["capacity"] if c["type"] in (0, 1)} == {
        "MEMORY": "84.00",
        "CPU": "84.00",
    }
    _sweep(data_engine)
    with data_engine.connect() as connection:
        swept = swept_capacity(connection, "edge")
    assert swept is not None
    assert swept.thresholds == CapacityThresholds(0.85, 0.85)
    assert swept.cpu_mhz == int(0.85 * used[CPU][1]) - used[CPU][0] == 1000
    assert swept.memory_bytes == int(0.85 * used[MEMORY][1]) - used[MEMORY][0]
    assert swept.fits(SMALL) == 1  # 16 by the hosts alone

    asked = asked_capacity(CloudStackHook(conn_id_for("edge")))
    assert (asked.source, asked.thresholds) == ("region", CapacityThresholds(0.85, 0.85))
    assert (asked.memory_bytes, asked.cpu_mhz) == (swept.memory_bytes, swept.cpu_mhz)


def test_the_recorded_thresholds_are_used_and_the_default_without_them(edge, data_engine: Engine) -> None:
    api = _api(edge)
    api.updateConfiguration(name=CPU_DISABLE, value="0.9")
    api.updateConfiguration(name=MEMORY_DISABLE, value="0.9")
    _sweep(data_engine)
    with data_engine.connect() as connection:
        swept = swept_capacity(connection, "edge")
    assert swept is not None
    assert (swept.thresholds, swept.fits(SMALL)) == (CapacityThresholds(0.9, 0.9), 6)
    assert asked_capacity(CloudStackHook(conn_id_for("edge"))).fits(SMALL) == 6  # read live

    with data_engine.begin() as connection:
        connection.execute(delete(models.CapacityThreshold))  # a sweep from before they were recorded
    with data_engine.connect() as connection:
        unknown = swept_capacity(connection, "edge")
    assert unknown is not None
    assert (unknown.thresholds, unknown.fits(SMALL)) == (CapacityThresholds(), 1)


def test_a_zone_past_its_threshold_offers_nothing_and_takes_nothing_from_the_others() -> None:
    rows = [(MEMORY, 100, 90, 90), (MEMORY, 100, 10, 20), (CPU, 1000, 0, None), (2, 50, 10, 10)]
    assert _free(rows) == {MEMORY: 0 + 65, CPU: 850, 2: 40}
    assert _free(rows, CapacityThresholds(cpu=1.0, memory=0.95)) == {MEMORY: 5 + 75, CPU: 1000, 2: 40}
