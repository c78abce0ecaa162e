"""The admin API lists every VM ever deployed in a region, expunged and failed ones included."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from cloudstack_simulator.control import SimulatorControlError
from cloudstack_simulator.testing import run_simulator
from tests.cloudstack_simulator.cloud_fixtures import client, ids, small_topology, wait_jobs


def test_deployed_vms_stay_listed_after_they_are_expunged(tmp_path: Path) -> None:
    with run_simulator(small_topology(), tmp_path) as handle:
        api = client(handle)
        zone, small, _large, template = ids(api)
        assert handle.control.deployed_vms("solo") == []
        deployed = [
            api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name=name)
            for name in ("lab-01", "lab-02", "other-01")
        ]
        wait_jobs(api, [vm["jobid"] for vm in deployed])
        destroyed = [api.destroyVirtualMachine(id=vm["id"], expunge="true") for vm in deployed[:2]]
        wait_jobs(api, [job["jobid"] for job in destroyed])
        assert [vm["name"] for vm in api.listVirtualMachines().get("virtualmachine", [])] == ["other-01"]

        everything = handle.control.deployed_vms("solo")
        labs = handle.control.deployed_vms("solo", name_prefix="lab-")

    assert [(vm["id"], vm["name"]) for vm in everything] == [
        (vm["id"], name) for vm, name in zip(deployed, ("lab-01", "lab-02", "other-01"), strict=True)
    ]
    assert all(vm["created"].endswith("+0000") for vm in everything)
    assert [vm["name"] for vm in labs] == ["lab-01", "lab-02"]


def test_a_deploy_refused_before_any_vm_exists_is_not_listed_and_an_unknown_region_is_404(
    tmp_path: Path,
) -> None:
    with run_simulator(small_topology(), tmp_path) as handle:
        api = client(handle)
        zone, small, _large, template = ids(api)
        with pytest.raises(Exception, match="Invalid name"):
            api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=template, name="-bad")
        assert handle.control.deployed_vms("solo") == []
        with pytest.raises(SimulatorControlError, match="HTTP 404"):
            handle.control.deployed_vms("nowhere")
        changed = requests.post(f"{handle.control.admin_url}/regions/solo/deployed-vms", timeout=10)
        assert changed.status_code == 405  # read-only
