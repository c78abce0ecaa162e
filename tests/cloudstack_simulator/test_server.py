"""The simulator's HTTP protocol, admin API and CLI, over real sockets to the real subprocess."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from cs import CloudStack
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

from cloudstack_simulator.control import SimulatorControlError
from cloudstack_simulator.signing import sign
from cloudstack_simulator.testing import SimulatorHandle, run_simulator

AUTH_FAILURE = {
    "uuidList": [],
    "errorcode": 401,
    "errortext": "unable to verify user credentials and/or request signature",
}
REPO = Path(__file__).resolve().parents[2]
ApiCall = Callable[..., requests.Response]
Factory = Callable[[dict[str, Any]], SimulatorHandle]
SignedParams = Callable[[dict[str, Any], "str | None", dict[str, str]], dict[str, str]]


def test_endpoints_file_describes_every_region(shared_simulator: SimulatorHandle) -> None:
    endpoints = shared_simulator.endpoints
    assert endpoints["pid"] == shared_simulator.process.pid
    assert endpoints["seed"] == 11
    assert [r["name"] for r in endpoints["regions"]] == ["alpha", "beta"]
    alpha, beta = endpoints["regions"]
    assert alpha["id"] == 1
    assert alpha["zones"] == ["alpha-z1", "alpha-z2"]
    assert alpha["display_name"] == "alpha display"
    assert alpha["location"] == {"city": "alpha-city", "country": "IT", "lat": 46.0, "lon": 7.5}
    assert alpha["colour"] == "#1f77b1"
    assert alpha["endpoint"].startswith("http://127.0.0.1:")
    assert alpha["endpoint"].endswith("/client/api")
    assert alpha["endpoint"] != beta["endpoint"]
    assert alpha["api_key"] != beta["api_key"]
    assert alpha["secret_key"] != beta["secret_key"]
    mode = stat.S_IMODE(os.stat(shared_simulator.log_path.parent / "endpoints.json").st_mode)
    assert mode == 0o600


def test_signed_get_and_post_are_answered_in_json(
    shared_simulator: SimulatorHandle, api_call: ApiCall
) -> None:
    alpha = shared_simulator.region("alpha")
    for method in ("GET", "POST"):
        response = api_call(alpha, "listZones", method=method)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        body = response.json()
        assert list(body) == ["listzonesresponse"]
        assert [z["name"] for z in body["listzonesresponse"]["zone"]] == ["alpha-z1", "alpha-z2"]


def test_peer_clients_cs_and_libcloud_are_served(shared_simulator: SimulatorHandle) -> None:
    beta = shared_simulator.region("beta")
    api = CloudStack(
        endpoint=beta["endpoint"], key=beta["api_key"], secret=beta["secret_key"], expiration=600
    )
    assert [z["name"] for z in api.listZones()["zone"]] == ["beta-z1"]
    assert [z["name"] for z in api.listZones(method="post", fetch_list=True)] == ["beta-z1"]
    port = int(beta["endpoint"].split(":")[2].split("/")[0])
    driver = get_driver(Provider.CLOUDSTACK)(
        key=beta["api_key"],
        secret=beta["secret_key"],
        host="127.0.0.1",
        port=port,
        path="/client/api",
        secure=False,
    )
    assert [location.name for location in driver.list_locations()] == ["beta-z1"]


def test_the_api_key_is_matched_case_insensitively(
    shared_simulator: SimulatorHandle, api_call: ApiCall
) -> None:
    alpha = dict(shared_simulator.region("alpha"))
    alpha["api_key"] = alpha["api_key"].swapcase()
    assert api_call(alpha, "listZones").status_code == 200


@pytest.mark.parametrize(
    ("case", "key"),
    [
        ("bad signature", "listzonesresponse"),
        ("unknown api key", "listzonesresponse"),
        ("other region's key", "listzonesresponse"),
        ("unknown command", "errorresponse"),
        ("no command", "errorresponse"),
        ("no signature", "listzonesresponse"),
    ],
)
def test_authentication_failures_are_401_without_cserrorcode(
    shared_simulator: SimulatorHandle, case: str, key: str, signed_params: SignedParams
) -> None:
    alpha, beta = shared_simulator.region("alpha"), shared_simulator.region("beta")
    command: str | None = "listZones"
    signer = alpha
    if case == "unknown command":
        command = "listUnicorns"
    elif case == "no command":
        command = None
    elif case == "unknown api key":
        signer = {**alpha, "api_key": "nobody"}
    elif case == "other region's key":
        signer = beta
    params = signed_params(signer, command, {})
    if case == "bad signature":
        params["signature"] = sign({**params, "command": "listTemplates"}, alpha["secret_key"])
    elif case == "no signature":
        del params["signature"]
    response = requests.get(alpha["endpoint"], params=params, timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.json() == {key: AUTH_FAILURE}


def test_version_3_requests_expire(shared_simulator: SimulatorHandle, signed_params: SignedParams) -> None:
    alpha = shared_simulator.region("alpha")

    def status(expires: datetime) -> int:
        extra = {"signatureVersion": "3", "expires": expires.strftime("%Y-%m-%dT%H:%M:%S+0000")}
        params = signed_params(alpha, "listZones", extra)
        return requests.get(alpha["endpoint"], params=params, timeout=10).status_code

    now = datetime.now(UTC)
    assert status(now + timedelta(minutes=5)) == 200
    assert status(now - timedelta(minutes=5)) == 401


def test_a_tilde_signed_like_cs_is_refused_and_like_java_is_accepted(
    shared_simulator: SimulatorHandle,
) -> None:
    alpha = shared_simulator.region("alpha")
    params = {"apiKey": alpha["api_key"], "command": "listZones", "response": "json", "keyword": "z~1"}
    java = requests.get(
        alpha["endpoint"], params={**params, "signature": sign(params, alpha["secret_key"])}, timeout=10
    )
    assert java.status_code == 200
    cs_style = "&".join(f"{k}={quote(params[k], safe='*')}" for k in sorted(params)).lower()
    digest = hmac.new(alpha["secret_key"].encode(), cs_style.encode(), hashlib.sha1).digest()
    cs_signed = {**params, "signature": base64.b64encode(digest).decode()}
    assert requests.get(alpha["endpoint"], params=cs_signed, timeout=10).status_code == 401


def test_a_command_error_keeps_its_status_body_and_description(
    shared_simulator: SimulatorHandle, api_call: ApiCall
) -> None:
    response = api_call(shared_simulator.region("alpha"), "deployVirtualMachine", zoneid="x", templateid="y")
    assert response.status_code == 431
    body = response.json()["deployvirtualmachineresponse"]
    assert body["errorcode"] == 431
    assert body["cserrorcode"] == 9999
    assert body["uuidList"] == []
    assert "serviceofferingid" in body["errortext"]
    assert response.headers["X-Description"] == body["errortext"]


def test_without_response_json_the_answer_is_xml(
    shared_simulator: SimulatorHandle, signed_params: SignedParams
) -> None:
    alpha = shared_simulator.region("alpha")
    params = signed_params(alpha, "listZones", {})
    del params["response"]
    params["signature"] = sign(params, alpha["secret_key"])
    response = requests.get(alpha["endpoint"], params=params, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=UTF-8"
    root = ET.fromstring(response.content)
    assert root.tag == "listzonesresponse"
    assert root.get("cloud-stack-version")
    assert root.findtext("count") == "2"
    assert [zone.findtext("name") for zone in root.findall("zone")] == ["alpha-z1", "alpha-z2"]
    refused = requests.get(alpha["endpoint"], params={**params, "signature": "bogus"}, timeout=10)
    assert refused.status_code == 401
    assert ET.fromstring(refused.content).findtext("errorcode") == "401"


def _refused(endpoint: str) -> bool:
    try:
        requests.get(endpoint, timeout=10)
    except requests.ConnectionError as error:
        return "refused" in str(error).lower()
    return False


def test_a_region_goes_down_and_comes_back_on_the_same_port(
    simulator_factory: Factory, topology: dict[str, Any], api_call: ApiCall, signed_params: SignedParams
) -> None:
    handle = simulator_factory(topology)
    alpha, beta = handle.region("alpha"), handle.region("beta")
    session = requests.Session()
    assert session.get(alpha["endpoint"], params=signed_params(alpha, "listZones", {}), timeout=10).ok

    view = handle.control.set_faults("alpha", down=True)
    assert view["listening"] is False
    assert view["faults"]["down"] is True
    assert _refused(alpha["endpoint"])
    with pytest.raises(requests.ConnectionError):  # the kept-alive connection was dropped too
        session.get(alpha["endpoint"], params=signed_params(alpha, "listZones", {}), timeout=10)
    assert api_call(beta, "listZones").status_code == 200

    view = handle.control.set_faults("alpha", down=False)
    assert view["listening"] is True
    assert view["endpoint"] == alpha["endpoint"]
    assert api_call(alpha, "listZones").status_code == 200


def test_a_region_down_from_the_start_has_a_port_but_refuses(
    simulator_factory: Factory, topology: dict[str, Any], api_call: ApiCall
) -> None:
    topology["regions"][1]["faults"] = {"down": True}
    handle = simulator_factory(topology)
    beta = handle.region("beta")
    assert _refused(beta["endpoint"])
    handle.control.set_faults("beta", down=False)
    assert api_call(beta, "listZones").status_code == 200


def test_error_rate_one_answers_530_and_zero_restores(
    simulator_factory: Factory, topology: dict[str, Any], api_call: ApiCall
) -> None:
    handle = simulator_factory(topology)
    alpha = handle.region("alpha")
    handle.control.set_faults("alpha", error_rate=1.0)
    response = api_call(alpha, "listZones")
    assert response.status_code == 530
    body = response.json()["listzonesresponse"]
    assert body["errorcode"] == 530
    assert body["cserrorcode"] == 4250
    assert response.headers["X-Description"] == body["errortext"]
    assert api_call(handle.region("beta"), "listZones").status_code == 200
    handle.control.set_faults("alpha", error_rate=0)
    assert api_call(alpha, "listZones").status_code == 200


def test_error_rate_decisions_repeat_with_the_seed(
    simulator_factory: Factory, topology: dict[str, Any], api_call: ApiCall
) -> None:
    topology["regions"][0]["faults"] = {"error_rate": 0.5}
    outcomes = []
    for _ in range(2):
        alpha = simulator_factory(topology).region("alpha")
        outcomes.append([api_call(alpha, "listZones").status_code for _ in range(24)])
    assert outcomes[0] == outcomes[1]
    assert set(outcomes[0]) == {200, 530}


def test_latency_delays_every_answer(
    simulator_factory: Factory, topology: dict[str, Any], api_call: ApiCall
) -> None:
    topology["regions"][0]["faults"] = {"latency_s": 0.4}
    alpha = simulator_factory(topology).region("alpha")
    started = time.monotonic()
    assert api_call(alpha, "listZones").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_admin_api_lists_regions_without_keys(shared_simulator: SimulatorHandle) -> None:
    control = shared_simulator.control
    assert control.health() == {"status": "ok", "regions": 2}
    regions = control.regions()
    assert [r["name"] for r in regions] == ["alpha", "beta"]
    assert regions[0]["endpoint"] == shared_simulator.region("alpha")["endpoint"]
    assert regions[0]["faults"]["down"] is False
    assert regions[0]["listening"] is True
    text = json.dumps(regions)
    for region in shared_simulator.endpoints["regions"]:
        assert region["secret_key"] not in text
        assert region["api_key"] not in text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"floods": 1}, "unknown fault"),
        ({"error_rate": 2}, "out of range"),
        ({"latency_s": -1}, "out of range"),
        ({"down": "yes"}, "true or false"),
        ({"latency_s": 5, "error_rate": 3}, "out of range"),
        ([1, 2], "JSON object"),
    ],
)
def test_admin_api_refuses_bad_faults_and_changes_nothing(
    shared_simulator: SimulatorHandle, body: Any, message: str
) -> None:
    url = f"{shared_simulator.endpoints['admin']}/regions/alpha/faults"
    response = requests.patch(url, json=body, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert shared_simulator.control.region("alpha")["faults"]["latency_s"] == 0


def test_admin_api_refuses_non_json_and_unknown_regions(shared_simulator: SimulatorHandle) -> None:
    admin = shared_simulator.endpoints["admin"]
    assert requests.patch(f"{admin}/regions/alpha/faults", data="{", timeout=10).status_code == 400
    response = requests.patch(f"{admin}/regions/gamma/faults", json={"down": True}, timeout=10)
    assert response.status_code == 404
    assert "gamma" in response.json()["error"]
    with pytest.raises(SimulatorControlError, match="404"):
        shared_simulator.control.set_faults("gamma", down=True)


def test_sigterm_stops_it_cleanly(tmp_path: Path, topology: dict[str, Any]) -> None:
    with run_simulator(topology, tmp_path) as handle:
        endpoint = handle.region("alpha")["endpoint"]
    assert handle.process.returncode == 0
    assert _refused(endpoint)
    assert "alpha" in handle.log_path.read_text()
    assert handle.region("alpha")["secret_key"] not in handle.log_path.read_text()


def test_the_seed_option_overrides_the_topology_and_derives_other_keys(
    tmp_path: Path, topology: dict[str, Any]
) -> None:
    with run_simulator(topology, tmp_path / "a") as first:
        keys = first.region("alpha")["api_key"]
    with run_simulator(topology, tmp_path / "b", seed=99) as second:
        assert second.endpoints["seed"] == 99
        assert second.region("alpha")["api_key"] != keys


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cloudstack_simulator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_cli_exits_2_with_one_line_on_a_bad_topology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("regions: []\n")
    result = _run_cli("--topology", str(bad), "--endpoints-file", str(tmp_path / "e.json"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad topology" in lines[0]
    assert "at least one region" in lines[0]
    assert not (tmp_path / "e.json").exists()


def test_cli_exits_2_when_a_port_is_taken(tmp_path: Path, topology: dict[str, Any]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        topology["regions"][1]["port"] = taken.getsockname()[1]
        path = tmp_path / "t.yaml"
        path.write_text(yaml.safe_dump(topology))
        result = _run_cli("--topology", str(path), "--endpoints-file", str(tmp_path / "e.json"))
    assert result.returncode == 2
    assert "cannot serve" in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert not (tmp_path / "e.json").exists()


def test_cli_help_names_every_option() -> None:
    result = _run_cli("--help")
    assert result.returncode == 0
    for option in ("--topology", "--endpoints-file", "--host", "--admin-port", "--seed"):
        assert option in result.stdout


def test_sigint_also_stops_it_with_status_0(tmp_path: Path, topology: dict[str, Any]) -> None:
    with run_simulator(topology, tmp_path) as handle:
        os.kill(handle.process.pid, signal.SIGINT)
        assert handle.process.wait(timeout=30) == 0


def test_list_regions_shows_the_port_actually_bound(
    shared_simulator: SimulatorHandle, api_call: ApiCall
) -> None:
    beta = shared_simulator.region("beta")
    region = api_call(beta, "listRegions").json()["listregionsresponse"]["region"][0]
    assert region["id"] == 2
    assert region["endpoint"] == beta["endpoint"].removesuffix("api")


def test_housekeeping_forgets_finished_jobs(tmp_path: Path, topology: dict[str, Any]) -> None:
    topology["timings"] = {"deploy_s": 0.05, "job_retention_s": 0.05}
    topology["templates"] = [
        {"name": "tiny", "os_type": "Ubuntu 22.04 LTS", "virtual_size_gib": 1, "physical_size_mib": 100}
    ]
    with run_simulator(topology, tmp_path, housekeeping_interval_s=0.2) as handle:
        alpha = handle.region("alpha")
        api = CloudStack(
            endpoint=alpha["endpoint"], key=alpha["api_key"], secret=alpha["secret_key"], poll_interval=0.05
        )
        zone = api.listZones()["zone"][0]["id"]
        template = api.listTemplates(templatefilter="featured")["template"][0]["id"]
        offering = api.listServiceOfferings()["serviceoffering"][0]["id"]
        vm = api.deployVirtualMachine(
            zoneid=zone, templateid=template, serviceofferingid=offering, fetch_result=True
        )["virtualmachine"]
        assert vm["state"] == "Running"
        deadline = time.monotonic() + 30
        while handle.control.region("alpha")["stats"]["jobs_remembered"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.control.region("alpha")["stats"]["jobs_remembered"] == 0
        assert handle.control.region("alpha")["stats"]["vms"] == {"Running": 1}


def test_the_seed_federation_serves_every_region(seed_simulator: SimulatorHandle, api_call: ApiCall) -> None:
    regions = seed_simulator.endpoints["regions"]
    assert len(regions) == len(seed_simulator.control.regions()) >= 2
    assert len({r["endpoint"] for r in regions}) == len(regions)
    for region in regions:
        response = api_call(region, "listZones")
        assert response.status_code == 200, (region["name"], response.text)
        assert [z["name"] for z in response.json()["listzonesresponse"]["zone"]] == region["zones"]
