"""Loading topologies: the seed federation's figures, derived keys and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudstack_simulator.topology import load_topology, load_topology_mapping
from tests.cloudstack_simulator.cloud_fixtures import small_topology

SEED = Path(__file__).resolve().parents[2] / "cloudstack_simulator" / "topologies" / "meca_seed.yaml"


def test_seed_federation_matches_the_deck() -> None:
    topology = load_topology(SEED)
    assert {r.name: r.id for r in topology.regions} == {
        "MECA-PolITO": 1,
        "MECA-eWorks": 2,
        "MECA-BME": 3,
        "MECA-UKIM": 5,
        "MECA-TUS": 6,
        "MECA-UPB-CETTI": 7,
        "MECA-UNED": 8,
        "MECA-INSA": 9,
        "MECA-TUB": 10,
        "Region1-Local-Test": 999,
    }
    zones = [z for r in topology.regions for z in r.zones]
    assert sum(h.memory_gib for z in zones for h in z.hosts) == pytest.approx(159, abs=0.5)
    assert sum(h.cpu_cores * h.cpu_mhz for z in zones for h in z.hosts) / 1000 == pytest.approx(141, abs=0.5)
    assert sum(z.primary_storage_gib for z in zones) / 1024 == pytest.approx(6.4, abs=0.05)
    assert sum(z.preallocated_storage_gib for z in zones) / 1024 == pytest.approx(2.5, abs=0.05)
    assert sum(z.secondary_storage_gib for z in zones) / 1024 == pytest.approx(2.5, abs=0.05)
    assert sum(z.management_ips for z in zones) == 163
    assert sum(z.shared_network_ips for z in zones) == 468
    [eworks] = [r for r in topology.regions if r.name == "MECA-eWorks"]
    assert sum(h.memory_gib for z in eworks.zones for h in z.hosts) == pytest.approx(61.65)
    assert sum(z.primary_storage_gib for z in eworks.zones) / 1024 == pytest.approx(1.79, abs=0.01)
    assert len({r.colour for r in topology.regions}) == 10
    assert all(r.port == 0 for r in topology.regions)
    assert {o.name for o in eworks.offerings} == {"Small", "Medium", "Large"}
    assert "CentOS-7-x86-64-Minimal-1708" in {t.name for t in eworks.templates}


def test_keys_are_derived_deterministically_and_differ() -> None:
    first, again = load_topology(SEED), load_topology(SEED)
    assert [r.api_key for r in first.regions] == [r.api_key for r in again.regions]
    assert len({r.secret_key for r in first.regions}) == 10
    assert all(len(r.api_key) == 86 and r.api_key != r.secret_key for r in first.regions)
    assert "secret_key" not in repr(first.regions[0])
    other = small_topology()
    other["seed"] = 6
    assert (
        load_topology_mapping(other).regions[0].api_key
        != load_topology_mapping(small_topology()).regions[0].api_key
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["regions"][0].update(colour_typo="#000000"),
            "region 'solo': unknown key(s) ['colour_typo']",
        ),
        (
            lambda t: t["regions"][0]["zones"][0].update(hostz=[]),
            "region 'solo': zone #0: unknown key(s) ['hostz']",
        ),
        (lambda t: t["regions"][0]["zones"][0].pop("management_ips"), "missing key 'management_ips'"),
        (
            lambda t: t["regions"][0].update(faults={"slow": 1}),
            "region 'solo': faults: unknown fault(s) ['slow']",
        ),
        (lambda t: t["templates"][0].update(os_type="Plan 9"), "os_type 'Plan 9' is not a known OS type"),
        (lambda t: t["regions"][0].update(colour="blue"), "colour must look like"),
        (lambda t: t["regions"].append(dict(t["regions"][0])), "duplicate region name 'solo'"),
        (
            lambda t: t["regions"][0]["zones"][0]["hosts"][0].update(cpu_cores="8"),
            "'cpu_cores' has the wrong type",
        ),
    ],
)
def test_malformed_topologies_name_region_and_key(change, message: str) -> None:
    topology = small_topology()
    change(topology)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_topology_mapping(topology)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nregions: []\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: topology: at least one region"):
        load_topology(path)
