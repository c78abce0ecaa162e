"""Registration in a real simulated region that really downloads the staged image over HTTP."""

from __future__ import annotations

import time

import pytest

from meca.cloudstack.hook import CloudStackHook
from meca.mgtr.register import (
    RegistrationError,
    normalise_checksum,
    prune_versions,
    start_registration,
    templates_of,
)
from tests.meca.mgtr.region_fixtures import Regions, image_data, regions

__all__ = ["regions"]


def _wait_ready(hook: CloudStackHook, template_id: str) -> dict:
    for _ in range(200):
        (entry, *_) = hook.list("listTemplates", templatefilter="self", id=template_id)
        if entry["isready"] or entry["status"].startswith("Failed"):
            return entry
        time.sleep(0.05)
    raise AssertionError(f"template {template_id} still downloading")


def test_registers_once_then_skips_the_same_checksum(regions: Regions) -> None:
    hook = CloudStackHook(cloudstack_conn_id=regions.conn_ids["north"])
    image = regions.image("1.0", image_data(1))

    first = start_registration(hook, image)
    entry = _wait_ready(hook, first.template_id)
    again = start_registration(hook, image)

    assert (first.registered, first.ready) == (True, False)
    assert entry["isready"] is True
    assert normalise_checksum(entry["checksum"]) == image.sha256
    assert entry["details"] == {"mgtr_path": "/MGTR/linux/test", "mgtr_version": "1.0"}
    assert entry["ostypename"] == "Debian GNU/Linux 12 (64-bit)"
    assert sorted(e["zonename"] for e in hook.list("listTemplates", templatefilter="self")) == [
        "north-z1",
        "north-z2",
    ]
    assert (again.template_id, again.registered, again.ready) == (first.template_id, False, True)
    assert list(templates_of(hook, image.template_path)) == [first.template_id]


def test_a_failed_download_is_replaced_on_the_next_attempt(regions: Regions) -> None:
    hook = CloudStackHook(cloudstack_conn_id=regions.conn_ids["south"])
    image = regions.image("1.0", image_data(2))
    regions.simulator.control.set_faults("south", template_download_failure=True)
    broken = start_registration(hook, image)
    assert "I/O error" in _wait_ready(hook, broken.template_id)["status"]
    regions.simulator.control.set_faults("south", template_download_failure=False)

    retried = start_registration(hook, image)

    assert retried.registered
    assert retried.template_id != broken.template_id
    assert _wait_ready(hook, retried.template_id)["isready"] is True
    assert list(templates_of(hook, image.template_path)) == [retried.template_id]


def test_a_wrong_checksum_ends_in_error_in_the_region(regions: Regions) -> None:
    hook = CloudStackHook(cloudstack_conn_id=regions.conn_ids["north"])
    image = regions.image("1.0", image_data(3), sha256="ab" * 32)

    started = start_registration(hook, image)

    assert (
        _wait_ready(hook, started.template_id)["status"] == "Failed post download script: checksum mismatch"
    )


def test_an_unknown_os_type_names_the_region_and_the_catalog_fix(regions: Regions) -> None:
    hook = CloudStackHook(cloudstack_conn_id=regions.conn_ids["north"])

    with pytest.raises(RegistrationError, match=r"region north: no OS type 'Plan 9'.*catalog's os_types"):
        start_registration(hook, regions.image("1.0", image_data(4), os_type="Plan 9"))
    assert hook.list("listTemplates", templatefilter="self") == []


def test_old_versions_beyond_the_limit_are_deleted(regions: Regions) -> None:
    hook = CloudStackHook(cloudstack_conn_id=regions.conn_ids["north"])
    for number, version in enumerate(["1.9", "1.10", "1.2"]):
        _wait_ready(
            hook, start_registration(hook, regions.image(version, image_data(10 + number))).template_id
        )

    deleted = prune_versions(hook, "/MGTR/linux/test", keep=2)

    assert deleted == ["test 1.2"]
    remaining = {e["details"]["mgtr_version"] for e in templates_of(hook, "/MGTR/linux/test").values()}
    assert remaining == {"1.9", "1.10"}
    assert prune_versions(hook, "/MGTR/linux/test", keep=2) == []
