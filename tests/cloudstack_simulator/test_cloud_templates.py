"""registerTemplate really downloads over HTTP and verifies checksums; deleteTemplate (real simulator)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cs import CloudStack, CloudStackApiException

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from tests.cloudstack_simulator.cloud_fixtures import JOB_DEADLINE_S, client, small_topology

IMAGE_BYTES = 3 * 1024 * 1024 + 17


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    """A real HTTP server in a thread serving ``image.qcow2`` (random bytes); yields (base URL, content)."""
    folder = tmp_path_factory.mktemp("images")
    content = os.urandom(IMAGE_BYTES)
    (folder / "image.qcow2").write_bytes(content)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", content
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(small_topology(), tmp_path_factory.mktemp("templates")) as handle:
        yield handle


def _register(api: CloudStack, url: str, **extra: str) -> dict[str, Any]:
    zone = api.listZones()["zone"][0]["id"]
    answer = api.registerTemplate(
        name="course-image", format="QCOW2", hypervisor="KVM", url=url, zoneid=zone, **extra
    )
    [entry] = answer["template"]
    assert entry["isready"] is False
    assert entry["status"].endswith("% Downloaded")
    return entry


def _settled(api: CloudStack, template_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_DEADLINE_S
    while True:
        [entry] = api.listTemplates(templatefilter="self", id=template_id)["template"]
        if not entry["status"].endswith("% Downloaded"):
            return entry
        assert time.monotonic() < deadline, "template download did not end"
        time.sleep(0.05)


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5-plain", "SHA-512"])
def test_download_reaches_ready_with_matching_checksum(
    sim: SimulatorHandle, image_server: tuple[str, bytes], algorithm: str
) -> None:
    api = client(sim)
    base, content = image_server
    if algorithm == "MD5-plain":
        checksum = hashlib.md5(content).hexdigest()
    else:
        checksum = f"{{{algorithm}}}" + hashlib.new(algorithm.replace("-", "").lower(), content).hexdigest()
    before = {c["name"]: c for c in api.listCapacity()["capacity"]}["SECONDARY_STORAGE"]["capacityused"]
    entry = _register(
        api,
        f"{base}/image.qcow2",
        checksum=checksum,
        ostypeid=_os_type(api, "Ubuntu 22.04"),
        **{
            "details[0].key": "course",
            "details[0].value": "cc",
        },
    )
    ready = _settled(api, entry["id"])
    assert ready["status"] == "Download Complete"
    assert ready["isready"] is True
    assert ready["size"] == IMAGE_BYTES
    assert ready["physicalsize"] == IMAGE_BYTES
    assert ready["ostypename"] == "Ubuntu 22.04 LTS"
    assert ready["details"] == {"course": "cc"}
    assert ready["downloaddetails"][0]["downloadState"] == "DOWNLOADED"
    after = {c["name"]: c for c in api.listCapacity()["capacity"]}["SECONDARY_STORAGE"]["capacityused"]
    assert after == before + IMAGE_BYTES
    assert entry["id"] in {t["id"] for t in api.listTemplates(templatefilter="executable")["template"]}

    # A VM can now be made from it.
    zone = api.listZones()["zone"][0]["id"]
    small = api.listServiceOfferings(name="Small")["serviceoffering"][0]["id"]
    vm = api.deployVirtualMachine(
        zoneid=zone, serviceofferingid=small, templateid=entry["id"], fetch_result=True
    )
    assert vm["virtualmachine"]["templatename"] == "course-image"
    api.destroyVirtualMachine(id=vm["virtualmachine"]["id"], expunge=True, fetch_result=True)
    assert api.deleteTemplate(id=entry["id"], fetch_result=True) == {"success": True}
    assert api.listTemplates(templatefilter="self", name="course-image") == {}


def _os_type(api: CloudStack, description: str) -> str:
    return api.listOsTypes(description=description)["ostype"][0]["id"]


def test_checksum_mismatch_ends_in_error_status(
    sim: SimulatorHandle, image_server: tuple[str, bytes]
) -> None:
    api = client(sim)
    base, _content = image_server
    entry = _register(api, f"{base}/image.qcow2", checksum="{SHA-256}" + "0" * 64)
    failed = _settled(api, entry["id"])
    assert failed["status"] == "Failed post download script: checksum mismatch"
    assert failed["isready"] is False
    assert failed["downloaddetails"][0]["downloadState"] == "DOWNLOAD_ERROR"
    assert entry["id"] not in {t["id"] for t in api.listTemplates(templatefilter="executable")["template"]}
    zone = api.listZones()["zone"][0]["id"]
    small = api.listServiceOfferings(name="Small")["serviceoffering"][0]["id"]
    with pytest.raises(CloudStackApiException) as refused:
        api.deployVirtualMachine(zoneid=zone, serviceofferingid=small, templateid=entry["id"])
    assert refused.value.error["errorcode"] == 431


def test_http_error_and_injected_failure(sim: SimulatorHandle, image_server: tuple[str, bytes]) -> None:
    api = client(sim)
    base, _content = image_server
    missing = _settled(api, _register(api, f"{base}/absent.qcow2")["id"])
    assert missing["status"] == "Download failed: HTTP Server returned 404 (expected 200 OK)"
    sim.control.set_faults("solo", template_download_failure=True)
    try:
        broken = _settled(api, _register(api, f"{base}/image.qcow2")["id"])
    finally:
        sim.control.set_faults("solo", template_download_failure=False)
    assert broken["isready"] is False
    assert broken["status"].startswith("Failed post download script")


def test_register_validation(sim: SimulatorHandle) -> None:
    api = client(sim)
    zone = api.listZones()["zone"][0]["id"]
    cases = [
        (
            {"format": "QCOW2", "hypervisor": "KVM", "url": "http://x/y", "zoneid": zone},
            "missing parameter name",
        ),
        ({"name": "n", "format": "QCOW2", "hypervisor": "KVM", "url": "ftp://x/y", "zoneid": zone}, "scheme"),
        ({"name": "n", "format": "QCOW2", "hypervisor": "KVM", "url": "http://x/y"}, "zoneid or zoneids"),
        (
            {
                "name": "n",
                "format": "QCOW2",
                "hypervisor": "KVM",
                "url": "http://x/y",
                "zoneid": zone,
                "checksum": "{SHA-9}ab",
            },
            "Unsupported checksum algorithm",
        ),
    ]
    for params, expected in cases:
        with pytest.raises(CloudStackApiException) as bad:
            api.registerTemplate(**params)
        assert bad.value.error["errorcode"] == 431
        assert expected in bad.value.error["errortext"]
