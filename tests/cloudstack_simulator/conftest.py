"""Fixtures for the simulator's protocol tests: small topologies and a signed-request helper."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cloudstack_simulator.signing import sign
from cloudstack_simulator.testing import SimulatorHandle, run_simulator

ApiCall = Callable[..., requests.Response]


def region_mapping(name: str, region_id: int, zones: list[str]) -> dict[str, Any]:
    """A minimal valid region of the topology format."""
    return {
        "name": name,
        "id": region_id,
        "display_name": f"{name} display",
        "location": {"city": f"{name}-city", "country": "IT", "lat": 45.0 + region_id, "lon": 7.5},
        "colour": f"#1f77b{region_id % 10}",
        "zones": [
            {
                "name": zone,
                "hosts": [{"name": f"{zone}-h1", "cpu_cores": 16, "cpu_mhz": 2400, "memory_gib": 64}],
                "primary_storage_gib": 1000,
                "secondary_storage_gib": 500,
                "management_ips": 10,
                "shared_network_ips": 50,
            }
            for zone in zones
        ],
    }


def two_regions(seed: int) -> dict[str, Any]:
    """Two regions (alpha with two zones, beta with one) sharing one Small offering; keys derived."""
    return {
        "seed": seed,
        "service_offerings": [{"name": "Small", "cpu_number": 1, "cpu_speed": 1000, "memory": 1024}],
        "regions": [
            region_mapping("alpha", 1, ["alpha-z1", "alpha-z2"]),
            region_mapping("beta", 2, ["beta-z1"]),
        ],
    }


@pytest.fixture
def topology() -> dict[str, Any]:
    """A fresh two-region topology mapping, free to modify."""
    return two_regions(seed=7)


@pytest.fixture(scope="module")
def shared_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    """One simulator for read-only tests of a module (faults are never changed on it)."""
    with run_simulator(two_regions(seed=11), tmp_path_factory.mktemp("shared-sim")) as handle:
        yield handle


def _signed_params(region: dict[str, Any], command: str | None, params: dict[str, str]) -> dict[str, str]:
    """``params`` plus command, apiKey, response=json and a correct signature for ``region``."""
    full = {"apiKey": region["api_key"], "response": "json", **params}
    if command is not None:
        full["command"] = command
    full["signature"] = sign(full, region["secret_key"])
    return full


@pytest.fixture
def signed_params() -> Callable[[dict[str, Any], str | None, dict[str, str]], dict[str, str]]:
    """``signed_params(region, command, params)``: the full, correctly signed parameter set."""
    return _signed_params


@pytest.fixture
def api_call() -> ApiCall:
    """``api_call(region, command, method="GET", **params)``: a correctly signed request over HTTP."""

    def call(
        region: dict[str, Any], command: str | None, *, method: str = "GET", **params: str
    ) -> requests.Response:
        full = _signed_params(region, command, params)
        if method == "POST":
            return requests.post(region["endpoint"], data=full, timeout=10)
        return requests.get(region["endpoint"], params=full, timeout=10)

    return call
