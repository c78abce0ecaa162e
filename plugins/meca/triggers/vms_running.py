"""Wait, in the triggerer, until every VM of a session is Running in its region."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import CloudStackError
from meca.sessions.tags import session_vms, vm_record

DEFAULT_POLL_S = 5.0
DEFAULT_TIMEOUT_S = 1800.0
FAILED_STATES = frozenset({"Error", "Destroyed", "Expunging", "Stopped"})


class SessionVmsRunningTrigger(BaseTrigger):
    """Fire when the session has exactly ``count`` VMs, all Running; or when one failed, or at the timeout.

    Events: ``{"status": "running", "vms": [records]}``, or ``{"status": "failed", "message": ...,
    "vms": [records]}`` (a VM in Error, Stopped or Destroyed; too many VMs; the timeout). An API
    error is retried at the next poll until the timeout.

    :param cloudstack_conn_id: the booked region's Connection.
    :param session_id: the session.
    :param count: how many VMs it must have.
    :param poll_s: seconds between two looks.
    :param timeout_s: how long to wait in all.
    """

    def __init__(
        self,
        cloudstack_conn_id: str,
        session_id: str,
        count: int,
        poll_s: float = DEFAULT_POLL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self.cloudstack_conn_id = cloudstack_conn_id
        self.session_id = session_id
        self.count = count
        self.poll_s = poll_s
        self.timeout_s = timeout_s

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Classpath and keyword arguments."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cloudstack_conn_id": self.cloudstack_conn_id,
                "session_id": self.session_id,
                "count": self.count,
                "poll_s": self.poll_s,
                "timeout_s": self.timeout_s,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """List the session's VMs every ``poll_s`` until they are all Running."""
        hook = CloudStackAsyncHook(cloudstack_conn_id=self.cloudstack_conn_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        records: list[dict[str, Any]] = []
        last_error = ""
        while True:
            try:
                records = [vm_record(vm) for vm in await session_vms(hook, self.session_id)]
            except CloudStackError as exc:
                last_error = str(exc)
                self.log.warning("session %s: cannot list VMs (retrying): %s", self.session_id, exc)
            else:
                last_error = ""
                problem = self._problem(records)
                if problem:
                    yield TriggerEvent({"status": "failed", "message": problem, "vms": records})
                    return
                if len(records) == self.count and all(r["state"] == "Running" for r in records):
                    yield TriggerEvent({"status": "running", "vms": records, "session_id": self.session_id})
                    return
            if loop.time() >= deadline:
                states = ", ".join(f"{r['name']}: {r['state']}" for r in records) or "no VM"
                message = f"after {self.timeout_s:.0f} s, not all {self.count} VM(s) are Running ({states})"
                yield TriggerEvent(
                    {"status": "failed", "message": f"{message} {last_error}".strip(), "vms": records}
                )
                return
            await asyncio.sleep(self.poll_s)

    def _problem(self, records: list[dict[str, Any]]) -> str:
        """Why waiting longer is pointless, or ``""``."""
        failed = [f"{r['name']} is {r['state']}" for r in records if r["state"] in FAILED_STATES]
        if failed:
            return f"session {self.session_id}: " + ", ".join(failed)
        if len(records) > self.count:
            return f"session {self.session_id}: {len(records)} VMs, {self.count} expected"
        return ""
