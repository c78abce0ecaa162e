"""``TemplateReadyTrigger``: wait in the triggerer until a registered template is Ready in its region.

It only polls ``listTemplates`` (no side effect) and fires exactly one event:
``{"status": "ready", "template_id", "region"}``, or ``{"status": "error", "template_id",
"region", "message"}`` when the download failed (with CloudStack's status text), the template
vanished, the deadline passed, or the region refused the credentials. A region that is briefly
unreachable or answers 5xx is polled again until the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import (
    CloudStackError,
    CloudStackServerError,
    CloudStackTimeoutError,
    CloudStackUnreachableError,
)
from meca.mgtr.register import failed

TRANSIENT = (CloudStackUnreachableError, CloudStackTimeoutError, CloudStackServerError)


class TemplateReadyTrigger(BaseTrigger):
    """Poll one template of one region until it is Ready, failed, or the deadline passes.

    :param conn_id: the region's ``cloudstack`` Connection id.
    :param template_id: the template's uuid in the region.
    :param deadline: epoch seconds after which waiting stops with an error (absolute, so a
        triggerer restart does not extend it).

    It polls every ``poll_interval`` seconds of the region's Connection (default 2).
    """

    def __init__(self, conn_id: str, template_id: str, deadline: float) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.template_id = template_id
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments to rebuild the trigger in the triggerer."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "template_id": self.template_id,
                "deadline": self.deadline,
            },
        )

    def _event(self, region: str, status: str, message: str | None = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": status, "template_id": self.template_id, "region": region}
        if message is not None:
            payload["message"] = message
        return TriggerEvent(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the template is Ready or failed; yield one event."""
        hook = CloudStackAsyncHook(cloudstack_conn_id=self.conn_id)
        region = self.conn_id
        last_status = "not polled yet"
        while True:
            try:
                settings = await hook.get_settings()
                region = settings.region.name
                entries = await hook.list("listTemplates", templatefilter="self", id=self.template_id)
            except TRANSIENT as exc:
                last_status = f"region not answering: {exc}"
                self.log.warning("%s; polling again", last_status)
            except (CloudStackError, ValueError) as exc:
                yield self._event(region, "error", f"cannot poll template {self.template_id}: {exc}")
                return
            else:
                if not entries:
                    yield self._event(region, "error", f"template {self.template_id} no longer exists")
                    return
                if all(entry.get("isready") for entry in entries):
                    yield self._event(region, "ready")
                    return
                broken = [entry for entry in entries if failed(entry)]
                if broken:
                    yield self._event(region, "error", str(broken[0].get("status") or "download failed"))
                    return
                last_status = str(entries[0].get("status") or "no status")
                self.log.info("region %s: template %s: %s", region, self.template_id, last_status)
            if time.time() >= self.deadline:
                yield self._event(
                    region,
                    "error",
                    f"template {self.template_id} not Ready in time; last status: {last_status}",
                )
                return
            await asyncio.sleep(min(settings.poll_interval, max(0.0, self.deadline - time.time())))
