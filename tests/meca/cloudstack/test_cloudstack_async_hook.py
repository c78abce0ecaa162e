"""CloudStackAsyncHook against the real simulator subprocess, each verb run in ``asyncio.run``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import (
    CloudStackAuthError,
    CloudStackCapacityError,
    CloudStackJobError,
    CloudStackParamError,
    CloudStackServerError,
    CloudStackTimeoutError,
    CloudStackUnreachableError,
)

Ids = Callable[[str], dict[str, str]]


def test_verbs(connect, ids: Ids) -> None:
    hook = CloudStackAsyncHook(cloudstack_conn_id=connect("busy"))
    names = [f"async-{i}" for i in range(4)]

    async def scenario() -> tuple[dict, list[dict], list[str], tuple[bool, str]]:
        zones = await hook.call("listZones")
        deployed = await asyncio.gather(
            *(
                hook.run_job(
                    "deployVirtualMachine",
                    zoneid=ids("busy")["zoneid"],
                    templateid=ids("busy")["templateid"],
                    serviceofferingid=ids("busy")["small"],
                    name=name,
                )
                for name in names
            )
        )
        listed = await hook.list("listVirtualMachines", pagesize=2)
        for result in deployed:
            await hook.run_job("destroyVirtualMachine", id=result["virtualmachine"]["id"], expunge=True)
        return zones, listed, [r["virtualmachine"]["name"] for r in deployed], await hook.test_connection()

    zones, listed, deployed_names, tested = asyncio.run(scenario())
    assert [zone["name"] for zone in zones["zone"]] == ["busy-z1"]
    assert sorted(deployed_names) == names
    assert set(names) <= {vm["name"] for vm in listed}
    assert len(listed) == len({vm["id"] for vm in listed})
    assert tested == (True, "Connected to region busy: 1 zone(s)")


def test_region_and_empty_list(connect) -> None:
    hook = CloudStackAsyncHook(cloudstack_conn_id=connect("empty"))

    async def scenario() -> tuple[str, list[dict]]:
        return (await hook.get_region()).name, await hook.list("listTags")

    assert asyncio.run(scenario()) == ("empty", [])


def test_auth_param_and_capacity_errors(connect, ids: Ids) -> None:
    bad = CloudStackAsyncHook(cloudstack_conn_id=connect("busy", password="wrong-secret-key"))
    with pytest.raises(CloudStackAuthError) as caught:
        asyncio.run(bad.call("listZones"))
    assert str(caught.value) == (
        "region busy: listZones: HTTP 401 unable to verify user credentials and/or request signature"
    )
    assert asyncio.run(bad.test_connection())[0] is False

    hook = CloudStackAsyncHook(cloudstack_conn_id=connect("empty"))
    with pytest.raises(CloudStackParamError):
        asyncio.run(hook.call("deployVirtualMachine", zoneid=ids("empty")["zoneid"]))
    with pytest.raises(CloudStackCapacityError):
        asyncio.run(
            hook.run_job(
                "deployVirtualMachine",
                zoneid=ids("empty")["zoneid"],
                templateid=ids("empty")["templateid"],
                serviceofferingid=ids("empty")["huge"],
            )
        )


@pytest.mark.parametrize(
    ("faults", "extra", "error", "command"),
    [
        ({"down": True}, {}, CloudStackUnreachableError, "listZones"),
        ({"latency_s": 2.0}, {"timeout": 0.3}, CloudStackTimeoutError, "listZones"),
        ({"error_rate": 1.0}, {}, CloudStackServerError, "listZones"),
        ({"deploy_failure_rate": 1.0}, {}, CloudStackJobError, "deployVirtualMachine"),
        ({"job_slowdown": 100.0}, {"job_timeout": 0.5}, CloudStackTimeoutError, "deployVirtualMachine"),
    ],
)
def test_faults(
    faults: dict, extra: dict, error: type, command: str, connect, faulty: SimulatorHandle, ids: Ids
) -> None:
    faulty.control.set_faults("faulty", **faults)
    hook = CloudStackAsyncHook(cloudstack_conn_id=connect("faulty", **extra))
    params = {}
    if command == "deployVirtualMachine":
        params = {
            "zoneid": ids("faulty")["zoneid"],
            "templateid": ids("faulty")["templateid"],
            "serviceofferingid": ids("faulty")["small"],
        }
    with pytest.raises(error) as caught:
        asyncio.run(hook.run_job(command, **params))
    assert str(caught.value).startswith(f"region faulty: {command}: ")
    assert faulty.region("faulty")["secret_key"] not in repr(caught.value)
