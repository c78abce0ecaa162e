"""CloudStackHook against the real simulator subprocess: every verb, every typed error, no secret leaks."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.errors import (
    CloudStackAuthError,
    CloudStackCapacityError,
    CloudStackError,
    CloudStackJobError,
    CloudStackParamError,
    CloudStackServerError,
    CloudStackTimeoutError,
    CloudStackUnreachableError,
)
from meca.cloudstack.hook import CloudStackHook
from meca.cloudstack.thresholds import MEMORY_DISABLE, CapacityThresholds
from meca.regions import InvalidRegionConnection, Region

Ids = Callable[[str], dict[str, str]]


def _deploy(hook: CloudStackHook, ids: dict[str, str], name: str, offering: str = "small") -> dict:
    return hook.run_job(
        "deployVirtualMachine",
        zoneid=ids["zoneid"],
        templateid=ids["templateid"],
        serviceofferingid=ids[offering],
        name=name,
    )


def test_region_comes_from_the_connection_alone(connect, simulator: SimulatorHandle) -> None:
    simulator_region = simulator.region("busy")
    # An endpoint nobody listens on: building the region must not call the API.
    conn_id = connect("busy", host="http://127.0.0.1:9/client/api")
    region = CloudStackHook(cloudstack_conn_id=conn_id).region
    assert region == Region(
        conn_id=conn_id,
        name="busy",
        region_id=simulator_region["id"],
        display_name="Busy DC",
        city="busy-city",
        country="IT",
        lat=41.0,
        lon=7.5,
        colour="#1f77b1",
    )


def test_call_returns_the_inner_body(connect) -> None:
    body = CloudStackHook(cloudstack_conn_id=connect("busy")).call("listZones")
    assert body["count"] == 1
    assert [zone["name"] for zone in body["zone"]] == ["busy-z1"]


def test_list_returns_empty_list_for_empty_answer(connect) -> None:
    # Tags are only ever created in region "busy".
    hook = CloudStackHook(cloudstack_conn_id=connect("empty"))
    assert hook.call("listTags") == {}
    assert hook.list("listTags") == []


def test_run_job_then_list_every_page(connect, ids: Ids) -> None:
    hook = CloudStackHook(cloudstack_conn_id=connect("busy"))
    names = {f"paging-{i}" for i in range(7)}
    for name in sorted(names):
        vm = _deploy(hook, ids("busy"), name)["virtualmachine"]
        assert vm["name"] == name
        assert vm["state"] == "Running"
    tags = [{"key": "suite", "value": "paging"}]
    listed = hook.list("listVirtualMachines", pagesize=3)
    mine = {vm["id"]: vm["name"] for vm in listed if vm["name"] in names}
    assert sorted(mine.values()) == sorted(names)
    assert len(listed) == len({vm["id"] for vm in listed}), "a VM came back on two pages"
    assert {vm["id"] for vm in hook.list("listVirtualMachines")} == {vm["id"] for vm in listed}

    first = next(iter(mine))
    hook.run_job("createTags", resourceids=first, resourcetype="UserVm", tags=tags)
    assert [vm["id"] for vm in hook.list("listVirtualMachines", tags=tags)] == [first]
    for vm_id in mine:
        destroyed = hook.run_job("destroyVirtualMachine", id=vm_id, expunge=True)["virtualmachine"]
        assert destroyed["id"] == vm_id
    assert not {vm["id"] for vm in hook.list("listVirtualMachines")} & set(mine)


def test_test_connection_reports_zone_count(connect) -> None:
    assert CloudStackHook(cloudstack_conn_id=connect("busy")).test_connection() == (
        True,
        "Connected to region busy: 1 zone(s)",
    )


def test_test_connection_reports_failure(connect) -> None:
    ok, message = CloudStackHook(
        cloudstack_conn_id=connect("busy", password="wrong-secret-key")
    ).test_connection()
    assert not ok
    assert (
        message
        == "region busy: listZones: HTTP 401 unable to verify user credentials and/or request signature"
    )


def test_bad_key_is_auth_error(connect) -> None:
    hook = CloudStackHook(cloudstack_conn_id=connect("busy", password="wrong-secret-key"))
    with pytest.raises(CloudStackAuthError) as caught:
        hook.call("listZones")
    error = caught.value
    assert str(error) == (
        "region busy: listZones: HTTP 401 unable to verify user credentials and/or request signature"
    )
    assert (error.region, error.command, error.errorcode, error.cserrorcode) == (
        "busy",
        "listZones",
        401,
        None,
    )


def test_missing_parameter_is_param_error(connect, ids: Ids) -> None:
    hook = CloudStackHook(cloudstack_conn_id=connect("busy"))
    with pytest.raises(CloudStackParamError) as caught:
        hook.call("deployVirtualMachine", zoneid=ids("busy")["zoneid"], templateid=ids("busy")["templateid"])
    assert caught.value.errorcode == 431
    assert caught.value.cserrorcode == 9999
    assert "serviceofferingid" in (caught.value.errortext or "")
    assert str(caught.value).startswith("region busy: deployVirtualMachine: HTTP 431 ")


def test_over_capacity_deploy_is_capacity_error(connect, ids: Ids) -> None:
    hook = CloudStackHook(cloudstack_conn_id=connect("empty"))
    with pytest.raises(CloudStackCapacityError) as caught:
        _deploy(hook, ids("empty"), "too-big", offering="huge")
    assert caught.value.command == "deployVirtualMachine"
    assert caught.value.errortext
    assert hook.list("listVirtualMachines", state="Running") == []


def test_failed_job_is_job_error(connect, faulty: SimulatorHandle, ids: Ids) -> None:
    faulty.control.set_faults("faulty", deploy_failure_rate=1.0)
    hook = CloudStackHook(cloudstack_conn_id=connect("faulty"))
    with pytest.raises(CloudStackJobError) as caught:
        _deploy(hook, ids("faulty"), "doomed")
    assert not isinstance(caught.value, CloudStackCapacityError)
    assert caught.value.errortext
    assert "async job failed" in str(caught.value)


def test_region_down_is_unreachable(connect, faulty: SimulatorHandle) -> None:
    faulty.control.set_faults("faulty", down=True)
    with pytest.raises(CloudStackUnreachableError) as caught:
        CloudStackHook(cloudstack_conn_id=connect("faulty")).call("listZones")
    assert str(caught.value).startswith("region faulty: listZones: cannot reach http://127.0.0.1:")


def test_latency_beyond_timeout_is_timeout(connect, faulty: SimulatorHandle) -> None:
    faulty.control.set_faults("faulty", latency_s=2.0)
    with pytest.raises(CloudStackTimeoutError):
        CloudStackHook(cloudstack_conn_id=connect("faulty", timeout=0.3)).call("listZones")


def test_slow_job_is_timeout(connect, faulty: SimulatorHandle, ids: Ids) -> None:
    faulty.control.set_faults("faulty", job_slowdown=100.0)
    hook = CloudStackHook(cloudstack_conn_id=connect("faulty", job_timeout=0.5))
    with pytest.raises(CloudStackTimeoutError) as caught:
        _deploy(hook, ids("faulty"), "slow")
    assert "not finished within job_timeout" in str(caught.value)


def test_server_error(connect, faulty: SimulatorHandle) -> None:
    faulty.control.set_faults("faulty", error_rate=1.0)
    with pytest.raises(CloudStackServerError) as caught:
        CloudStackHook(cloudstack_conn_id=connect("faulty")).call("listZones")
    assert caught.value.errorcode is not None
    assert caught.value.errorcode >= 500


FAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "auth": ({}, {"password": "wrong-secret-key"}),
    "unreachable": ({"down": True}, {}),
    "timeout": ({"latency_s": 2.0}, {"timeout": 0.3}),
    "server": ({"error_rate": 1.0}, {}),
    "job": ({"deploy_failure_rate": 1.0}, {}),
}


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_no_secret_in_logs_errors_or_reprs(
    case: str, connect, faulty: SimulatorHandle, ids: Ids, caplog: pytest.LogCaptureFixture
) -> None:
    faults, overrides = FAULTS[case]
    region = faulty.region("faulty")
    secrets = [region["secret_key"], "wrong-secret-key"]
    if faults:
        faulty.control.set_faults("faulty", **faults)
    caplog.set_level(logging.DEBUG)
    hook = CloudStackHook(cloudstack_conn_id=connect("faulty", **overrides))
    with pytest.raises(CloudStackError) as caught:
        _deploy(hook, ids("faulty"), "leak-check")
    shown = [caplog.text, str(caught.value), repr(caught.value), repr(hook), repr(hook.settings)]
    shown += [repr(value) for value in vars(caught.value).values()]
    for secret in secrets:
        assert not any(secret in text for text in shown)
    assert not any("signature=" in text for text in shown)
    assert caught.value.__cause__ is None


def test_secret_is_registered_with_airflow_masker(connect, simulator: SimulatorHandle) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    secret = simulator.region("busy")["secret_key"]
    assert CloudStackHook(cloudstack_conn_id=connect("busy")).settings.secret_key == secret
    assert secret not in redact(f"the key is {secret}")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"password": ""}, "'password' (the CloudStack secret key) is empty"),
        ({"host": ""}, "'host' (the endpoint URL"),
        ({"region_name": None}, "extra needs 'region_name'"),
        ({"region_id": "one"}, "extra needs 'region_id', an integer"),
        ({"location": {"lat": 95, "lon": 7}}, "'lat' in [-90, 90]"),
        ({"colour": "blue"}, "'colour' must be a #rgb or #rrggbb string"),
        ({"timeout": 0}, "extra 'timeout' must be a positive number of seconds"),
        ({"verify": 1}, "extra 'verify' must be true, false or a CA bundle path"),
        ({"host": "ftp://cloud.example.org/client/api"}, "'host' must be an http or https URL"),
    ],
)
def test_invalid_connection_is_named(connect, change: dict, problem: str) -> None:
    conn_id = connect("busy", **change)
    with pytest.raises(InvalidRegionConnection) as caught:
        CloudStackHook(cloudstack_conn_id=conn_id).call("listZones")
    assert str(caught.value).startswith(f"connection {conn_id!r}: ")
    assert problem in str(caught.value)


def test_bare_host_builds_the_endpoint(connect, simulator: SimulatorHandle, monkeypatch) -> None:
    endpoint = simulator.region("busy")["endpoint"]  # http://127.0.0.1:PORT/client/api
    port = int(endpoint.rsplit(":", 1)[1].split("/", 1)[0])
    conn_id = connect("busy")
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"])
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({**conn, "host": "127.0.0.1", "port": port, "schema": "http"}),
    )
    hook = CloudStackHook(cloudstack_conn_id=conn_id)
    assert hook.settings.endpoint == endpoint
    assert hook.list("listZones")[0]["name"] == "busy-z1"

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "host": "cloud.example.org"}))
    assert (
        CloudStackHook(cloudstack_conn_id=conn_id).settings.endpoint == "https://cloud.example.org/client/api"
    )


def test_capacity_thresholds_are_read_with_list_configurations(connect, simulator: SimulatorHandle) -> None:
    hook = CloudStackHook(cloudstack_conn_id=connect("empty"))
    assert hook.capacity_thresholds() == CapacityThresholds(cpu=0.85, memory=0.85)
    simulator.control.set_configurations("empty", **{MEMORY_DISABLE: 0.9})
    try:
        thresholds = hook.capacity_thresholds()
    finally:
        simulator.control.set_configurations("empty", **{MEMORY_DISABLE: 0.85})
    assert thresholds == CapacityThresholds(cpu=0.85, memory=0.9)
    assert thresholds.percent() == "CPU 85 %, memory 90 %"
