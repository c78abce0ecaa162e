"""Tearing a session down against the real simulator: everything of it goes, nothing else does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cloudstack_simulator.testing import SimulatorHandle, run_simulator
from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.sessions.provision import provision_session, resolve_spec
from meca.sessions.tags import vm_name
from meca.sessions.teardown import SessionNotClean, assert_clean, teardown_session
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    with run_simulator(topology("alpha"), tmp_path_factory.mktemp("teardown-sim")) as handle:
        yield handle


@pytest.fixture
def hook(cloud: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> CloudStackAsyncHook:
    return CloudStackAsyncHook(cloudstack_conn_id=connect_all(cloud, monkeypatch)["alpha"])


def test_destroys_tagged_untagged_and_destroyed_vms_of_the_session_only(cloud, hook) -> None:
    api = raw_api(cloud, "alpha")

    async def setup() -> None:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        await provision_session(hook, "lab-a", 3, spec)
        await provision_session(hook, "lab-b", 2, spec)
        api.deployVirtualMachine(  # a VM deployed by a worker killed before it could tag it
            zoneid=spec.zone_id,
            templateid=spec.template_id,
            serviceofferingid=spec.offering_id,
            name=vm_name("lab-a", 7),
            fetch_result=True,
        )

    asyncio.run(setup())
    destroyed_not_expunged = vms_of(api, "lab-a")[0]
    api.destroyVirtualMachine(id=destroyed_not_expunged["id"], fetch_result=True)
    assert len(vms_of(api, "lab-a")) == 4

    report = asyncio.run(teardown_session(hook, "lab-a"))

    assert len(report.destroyed) == 4
    assert vms_of(api, "lab-a") == []
    assert len(vms_of(api, "lab-b")) == 2
    asyncio.run(assert_clean(hook, "lab-a"))
    assert asyncio.run(teardown_session(hook, "lab-a")).destroyed == []


def test_assert_clean_names_what_is_left(cloud, hook) -> None:
    async def setup() -> None:
        spec = await resolve_spec(hook, template=TEMPLATE, offering=OFFERING)
        await provision_session(hook, "lab-c", 1, spec)

    asyncio.run(setup())

    with pytest.raises(
        SessionNotClean, match=r"session lab-c: 1 VM\(s\) left in region alpha: meca-[0-9a-f]{12}-01"
    ):
        asyncio.run(assert_clean(hook, "lab-c"))
    asyncio.run(teardown_session(hook, "lab-c"))
