"""TemplateReadyTrigger against the simulator: it only waits, and fires one event."""

from __future__ import annotations

import asyncio
import socket
import time

from airflow.triggers.base import TriggerEvent

from meca.cloudstack.hook import CloudStackHook
from meca.mgtr.register import start_registration
from meca.triggers.template_ready import TemplateReadyTrigger
from tests.meca.mgtr.region_fixtures import Regions, image_data, regions

__all__ = ["regions"]


def _events(trigger: TemplateReadyTrigger) -> list[TriggerEvent]:
    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialises_to_its_classpath_and_back() -> None:
    trigger = TemplateReadyTrigger(conn_id="cloudstack_x", template_id="abc", deadline=123.5)

    classpath, kwargs = trigger.serialize()

    assert classpath == "meca.triggers.template_ready.TemplateReadyTrigger"
    assert kwargs == {"conn_id": "cloudstack_x", "template_id": "abc", "deadline": 123.5}
    assert TemplateReadyTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_fires_ready_once_the_region_has_downloaded_it(regions: Regions) -> None:
    conn_id = regions.conn_ids["north"]
    template_id = start_registration(CloudStackHook(conn_id), regions.image("1", image_data(1))).template_id

    events = _events(
        TemplateReadyTrigger(conn_id=conn_id, template_id=template_id, deadline=time.time() + 120)
    )

    assert [e.payload for e in events] == [{"status": "ready", "template_id": template_id, "region": "north"}]


def test_a_failed_download_fires_an_error_with_cloudstack_status_text(regions: Regions) -> None:
    conn_id = regions.conn_ids["south"]
    regions.simulator.control.set_faults("south", template_download_failure=True)
    template_id = start_registration(CloudStackHook(conn_id), regions.image("1", image_data(2))).template_id

    (event,) = _events(
        TemplateReadyTrigger(conn_id=conn_id, template_id=template_id, deadline=time.time() + 120)
    )

    assert event.payload == {
        "status": "error",
        "template_id": template_id,
        "region": "south",
        "message": "Failed post download script: secondary storage VM reported an I/O error",
    }


def test_a_template_that_never_becomes_ready_stops_at_the_deadline(regions: Regions) -> None:
    conn_id = regions.conn_ids["north"]
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/disk.qcow2"
        image = regions.image("1", image_data(3), url=url)
        template_id = start_registration(CloudStackHook(conn_id), image).template_id
        trigger = TemplateReadyTrigger(conn_id=conn_id, template_id=template_id, deadline=time.time() + 1)

        (event,) = _events(trigger)

    assert event.payload["status"] == "error"
    assert event.payload["message"] == f"template {template_id} not Ready in time; last status: 0% Downloaded"


def test_a_deleted_template_fires_an_error(regions: Regions) -> None:
    conn_id = regions.conn_ids["north"]

    (event,) = _events(
        TemplateReadyTrigger(conn_id=conn_id, template_id="no-such-id", deadline=time.time() + 60)
    )

    assert event.payload["status"] == "error"
    assert "no-such-id" in event.payload["message"]
