"""The admin API counts each region's API requests by command, whatever their outcome."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from cs import CloudStack, CloudStackApiException

from cloudstack_simulator.testing import run_simulator
from tests.cloudstack_simulator.cloud_fixtures import client, small_topology


def test_requests_are_counted_per_region_and_command(tmp_path: Path) -> None:
    topology = small_topology()
    second = {**topology["regions"][0], "name": "other", "id": 5}
    topology["regions"].append(second)
    with run_simulator(topology, tmp_path) as handle:
        assert handle.control.region("solo")["requests"] == {"total": 0, "by_command": {}}
        api = client(handle)
        api.listCapacity()
        api.listCapacity()
        api.listVirtualMachines()
        entry = handle.region("solo")
        stranger = CloudStack(endpoint=entry["endpoint"], key=entry["api_key"], secret="wrong")
        with pytest.raises(CloudStackApiException) as refused:
            stranger.listZones()
        assert refused.value.error["errorcode"] == 401
        assert requests.get(entry["endpoint"], timeout=10).status_code == 401  # no command at all

        solo = handle.control.region("solo")["requests"]
        assert solo == {
            "total": 5,
            "by_command": {"(none)": 1, "listcapacity": 2, "listvirtualmachines": 1, "listzones": 1},
        }
        assert handle.control.region("other")["requests"]["total"] == 0
        assert [r["requests"]["total"] for r in handle.control.regions()] == [5, 0]
