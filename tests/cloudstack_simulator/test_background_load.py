"""Background load: a day curve of used memory and CPU, seeded jitter, room left for real VMs.

Most tests drive the cloud model in-process with a hand-moved clock; the last one reads the load
over HTTP from a simulator subprocess on the wall clock.
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any

import pytest

from cloudstack_simulator.cloud import RegionCloud
from cloudstack_simulator.testing import run_simulator
from cloudstack_simulator.topology import load_topology_mapping
from tests.cloudstack_simulator.cloud_fixtures import capacity, client, small_topology

GIB = 1024**3
DAY = 86400
#: 11:00 UTC on some day: the default peak of the curve.
PEAK = 1_760_000_000 // DAY * DAY + 11 * 3600
TOTAL_MEMORY = 24 * GIB  # small_topology: hosts of 16 and 8 GiB
TOTAL_MHZ = 24 * 2000


class HandClock:
    """A clock that only moves when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _topology(load: dict[str, Any] | None, seed: int = 5, threshold: float | None = None) -> dict[str, Any]:
    topology = small_topology()
    topology["seed"] = seed
    if load is not None:
        topology["background_load"] = load
    if threshold is not None:
        topology["configurations"] = {
            "cluster.cpu.allocated.capacity.disablethreshold": threshold,
            "cluster.memory.allocated.capacity.disablethreshold": threshold,
        }
    return topology


def _cloud(
    clock: HandClock, load: dict[str, Any], seed: int = 5, threshold: float | None = None
) -> RegionCloud:
    """The model of the one-region topology; ``threshold`` sets both allocation disable thresholds."""
    [spec] = load_topology_mapping(_topology(load, seed, threshold)).regions
    return RegionCloud(spec, random.Random(f"{seed}:solo"), clock=clock)


def _call(cloud: RegionCloud, command: str, **params: str) -> dict[str, Any]:
    return asyncio.run(cloud.handle(command, params))


def _capacity(cloud: RegionCloud) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _call(cloud, "listCapacity")["capacity"]}


def _deploy(cloud: RegionCloud, offering_name: str) -> dict[str, Any]:
    """Deploy a VM, let its job finish (the clock moves 1 s), and return it as listed."""
    zone = _call(cloud, "listZones")["zone"][0]["id"]
    offering = _call(cloud, "listServiceOfferings", name=offering_name)["serviceoffering"][0]["id"]
    template = _call(cloud, "listTemplates", templatefilter="all")["template"][0]["id"]
    vm = _call(cloud, "deployVirtualMachine", zoneid=zone, serviceofferingid=offering, templateid=template)
    assert isinstance(cloud.state.clock, HandClock)
    cloud.state.clock.now += 1
    [listed] = _call(cloud, "listVirtualMachines", id=vm["id"])["virtualmachine"]
    return listed


@pytest.mark.parametrize(
    ("offset_h", "fraction", "percent"),
    [(0, 0.6, "60.00"), (6, 0.4, "40.00"), (12, 0.2, "20.00"), (18, 0.4, "40.00"), (24, 0.6, "60.00")],
)
def test_used_memory_and_cpu_follow_the_day_curve(offset_h: int, fraction: float, percent: str) -> None:
    load = {"min_fraction": 0.2, "max_fraction": 0.6, "peak_hour": 11, "jitter_fraction": 0}
    cloud = _cloud(HandClock(PEAK + offset_h * 3600 + 120), load)
    rows = _capacity(cloud)
    assert rows["MEMORY"]["capacityused"] == pytest.approx(fraction * TOTAL_MEMORY, abs=2)
    assert rows["MEMORY"]["capacityallocated"] == rows["MEMORY"]["capacityused"]
    assert rows["MEMORY"]["percentused"] == percent
    assert rows["CPU"]["capacityused"] == pytest.approx(fraction * TOTAL_MHZ, abs=2)
    assert rows["CPU"]["percentused"] == percent
    assert rows["CPU_CORE"]["capacityused"] == round(fraction * 16) + round(fraction * 8)
    assert rows["STORAGE_ALLOCATED"]["capacityused"] == 100 * GIB  # storage is not part of the load


def test_load_changes_only_at_step_boundaries_within_the_jitter() -> None:
    load = {"min_fraction": 0.1, "max_fraction": 0.7, "step_s": 300, "jitter_fraction": 0.05}
    clock = HandClock(PEAK)
    cloud = _cloud(clock, load)
    seen = []
    for step in range(24):
        clock.now = PEAK + step * 300
        first = _capacity(cloud)["MEMORY"]["capacityused"]
        clock.now += 299
        assert _capacity(cloud)["MEMORY"]["capacityused"] == first, f"moved within step {step}"
        seen.append(first)
    assert len(set(seen)) > 12, "the jitter should make most steps differ"
    # Two hours after an 11:00 peak the curve is at 0.1 + 0.6 * (1 + cos(pi / 6)) / 2 = 0.66.
    assert all((0.4 - 0.06) * TOTAL_MEMORY <= used <= (0.7 + 0.05) * TOTAL_MEMORY for used in seen)


def test_same_seed_and_time_give_the_same_load_another_seed_another_jitter() -> None:
    load = {"jitter_fraction": 0.05}
    times = [PEAK + k * 300 for k in range(6)]

    def memory(seed: int) -> list[int]:
        clock = HandClock(0)
        cloud = _cloud(clock, load, seed=seed)
        out = []
        for now in times:
            clock.now = now
            out.append(_capacity(cloud)["MEMORY"]["capacityused"])
        return out

    assert memory(5) == memory(5)
    assert memory(5) != memory(6)


def test_load_is_capacity_only_and_hosts_show_it() -> None:
    cloud = _cloud(HandClock(PEAK), {"jitter_fraction": 0.03})
    assert _call(cloud, "listVirtualMachines") == {}
    assert cloud.stats()["vms"] == {}
    hosts = _call(cloud, "listHosts")["host"]
    memory = _capacity(cloud)["MEMORY"]["capacityused"]
    assert memory > 0
    assert sum(h["memoryused"] for h in hosts) == memory
    zone = _call(cloud, "listZones", showcapacities="true")["zone"][0]
    assert {c["name"]: c["capacityused"] for c in zone["capacity"]}["MEMORY"] == memory


def test_placement_fits_beside_the_load() -> None:
    # 90 % of each host is taken: 1.6 GiB free on the 16 GiB host, 0.8 GiB on the 8 GiB one
    # (thresholds at 1.0: this is about hosts, not CloudStack's allocation thresholds).
    load = {"min_fraction": 0.9, "max_fraction": 0.9, "jitter_fraction": 0}
    cloud = _cloud(HandClock(PEAK), load, threshold=1.0)
    first = _deploy(cloud, "Small")
    assert (first["state"], first["hostname"]) == ("Running", "solo-h1")
    second = _deploy(cloud, "Small")
    assert second["state"] == "Error"


def test_the_load_gives_way_to_real_vms() -> None:
    load = {"min_fraction": 0.0, "max_fraction": 1.0, "jitter_fraction": 0}
    clock = HandClock(PEAK + 12 * 3600)  # the trough: nothing in use
    cloud = _cloud(clock, load, threshold=1.0)
    assert _capacity(cloud)["MEMORY"]["capacityused"] == 0
    assert _deploy(cloud, "Large")["state"] == "Running"  # 8 GiB on the 16 GiB host
    clock.now = PEAK + DAY  # the peak: the load wants every byte
    rows = _capacity(cloud)
    assert rows["MEMORY"]["capacityused"] == TOTAL_MEMORY
    assert rows["MEMORY"]["percentused"] == "100.00"
    assert rows["CPU_CORE"]["capacityused"] == 24
    assert len(_call(cloud, "listVirtualMachines")["virtualmachine"]) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.update(background_load={"min_fraction": 0.8, "max_fraction": 0.5}),
            "region 'solo': background_load: need 0 <= min_fraction <= max_fraction <= 1",
        ),
        (
            lambda t: t.update(background_load={"peak_hours": 3}),
            "region 'solo': background_load: unknown key(s) ['peak_hours']",
        ),
        (
            lambda t: t.update(background_load={"peak_hour": 30}),
            "peak_hour 30.0 is not within the period of 86400.0 s",
        ),
        (lambda t: t.update(background_load={"step_s": 0}), "period_s and step_s must be > 0"),
        (
            lambda t: t.update(background_load={"max_fraction": -1}),
            "region 'solo': background_load: key 'max_fraction' must be >= 0.0, got -1",
        ),
        (
            lambda t: t["regions"][0].update(background_load={"jitter_fraction": 0.9}),
            "jitter_fraction must be within 0..0.5",
        ),
    ],
)
def test_bad_background_load_is_refused_by_name(change: Any, message: str) -> None:
    topology = small_topology()
    change(topology)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_topology_mapping(topology)


def test_a_region_can_turn_the_default_off() -> None:
    topology = _topology({"max_fraction": 0.5})
    [with_default] = load_topology_mapping(topology).regions
    assert with_default.background_load is not None
    assert with_default.background_load.max_fraction == 0.5
    topology["regions"][0]["background_load"] = None
    [without] = load_topology_mapping(topology).regions
    assert without.background_load is None


def test_a_running_simulator_shows_the_load_on_the_wall_clock(tmp_path: Path) -> None:
    load = {"min_fraction": 0.3, "max_fraction": 0.5, "jitter_fraction": 0.02}
    with run_simulator(_topology(load), tmp_path) as handle:
        api = client(handle)
        memory = capacity(api)["MEMORY"]
        assert 0.28 * TOTAL_MEMORY <= memory["capacityused"] <= 0.52 * TOTAL_MEMORY
        assert api.listVirtualMachines() == {}
