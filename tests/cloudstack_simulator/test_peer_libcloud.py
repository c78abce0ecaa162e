"""Apache Libcloud's CloudStack driver, unchanged, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from libcloud.compute.base import NodeDriver
from libcloud.compute.drivers.cloudstack import CloudStackNodeDriver
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

from cloudstack_simulator.testing import run_simulator
from tests.cloudstack_simulator.cloud_fixtures import small_topology


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeDriver]:
    with run_simulator(small_topology(), tmp_path_factory.mktemp("peer-libcloud")) as handle:
        region = handle.region("solo")
        host_port = region["endpoint"].split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        drv = get_driver(Provider.CLOUDSTACK)(
            key=region["api_key"],
            secret=region["secret_key"],
            host=host,
            port=int(port),
            path="/client/api",
            secure=False,
        )
        drv.connection.poll_interval = 0.2
        yield drv


def test_catalogue(driver: NodeDriver) -> None:
    assert {s.name: s.ram for s in driver.list_sizes()} == {"Small": 1024, "Large": 8192}
    assert [i.name for i in driver.list_images()] == ["CentOS-7-x86-64-Minimal-1708"]
    assert [loc.name for loc in driver.list_locations()] == ["SoloZone1"]


def test_node_lifecycle_and_tags(driver: NodeDriver) -> None:
    size = next(s for s in driver.list_sizes() if s.name == "Small")
    image = driver.list_images()[0]
    node = driver.create_node(name="lc1", size=size, image=image)
    assert node.name == "lc1"
    assert node.state == NodeState.STOPPED  # Libcloud sends startvm=false
    assert driver.ex_create_tags([node.id], "UserVm", {"session": "lc", "course": "cc"})
    [listed] = [n for n in driver.list_nodes() if n.id == node.id]
    assert listed.private_ips
    assert listed.private_ips[0].startswith("10.4.")
    assert listed.extra["tags"] == {"session": "lc", "course": "cc"}
    assert driver.destroy_node(node, ex_expunge=True)
    assert node.id not in {n.id for n in driver.list_nodes()}


def test_configurations_through_the_drivers_request(driver: NodeDriver) -> None:
    name = "cluster.cpu.allocated.capacity.disablethreshold"
    assert isinstance(driver, CloudStackNodeDriver)
    answer = driver._sync_request(command="listConfigurations", params={"name": name}, method="GET")
    assert answer["count"] == 1
    assert (answer["configuration"][0]["name"], answer["configuration"][0]["value"]) == (name, "0.85")
