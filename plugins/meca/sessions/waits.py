"""The deferrable waits of a session run: for its provisioning time, for its VMs, and for its end.

Each operator defers to a trigger of :mod:`meca.triggers` and so holds no worker slot while it waits.
A wait for a moment of the booking first reads the booking and does not defer when the wait is
already decided (the moment has passed, the session is cancelled or unknown): Airflow 3.3 may fail a
task whose trigger fires at once, when the executor's report of the deferral arrives after the task
was already resumed (apache/airflow#66374, #72716), which happens with CeleryExecutor as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseNotifier, BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from meca.triggers.time_reached import DEFAULT_POLL_S, SessionTimeReachedTrigger, moment_event
from meca.triggers.vms_running import SessionVmsRunningTrigger


def _refuse_unknown(session_id: str, event: dict[str, Any]) -> None:
    if event["status"] == "unknown":
        raise AirflowFailException(f"session {session_id} has no booking in the MECA data database")


def _decided_now(data_conn_id: str, session_id: str, moment: str, offset_s: float) -> dict[str, Any] | None:
    """The event a wait for the booking's moment would fire with now, or ``None`` when it must wait."""
    from meca.sessions.ledger import get_booking
    from meca.store.engine import get_engine

    booking = get_booking(get_engine(data_conn_id), session_id)
    return moment_event(booking, moment, offset_s, datetime.now(UTC))


def _wait_for_moment(
    operator: BaseOperator,
    context: Any,
    trigger: SessionTimeReachedTrigger,
    then: Callable[[Any, dict[str, Any]], Any],
) -> Any:
    """Call ``then`` at once when the trigger's wait is already decided, else defer to the trigger."""
    event = _decided_now(trigger.data_conn_id, trigger.session_id, trigger.moment, trigger.offset_s)
    if event is not None:
        return then(context, event)
    operator.defer(trigger=trigger, method_name=then.__name__)


class WaitForSessionStart(BaseOperator):
    """Wait until the booking's provisioning time (its start minus the lead time).

    Skipped (and so is everything up to the teardown) when the booking is cancelled meanwhile.

    :param session_id: the session (templated).
    :param data_conn_id: the Connection of the MECA data database.
    :param poll_interval: the longest time between two reads of the booking, in seconds.
    """

    template_fields: Sequence[str] = ("session_id",)

    def __init__(
        self,
        *,
        session_id: str,
        data_conn_id: str = "meca_data",
        poll_interval: float = DEFAULT_POLL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.data_conn_id = data_conn_id
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict[str, Any]:
        """Defer until the provisioning time (go on at once when it has passed)."""
        trigger = SessionTimeReachedTrigger(
            self.session_id, "holds_from", 0.0, self.data_conn_id, self.poll_interval
        )
        return _wait_for_moment(self, context, trigger, self.execute_complete)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Go on, skip when cancelled, fail when the booking is gone."""
        _refuse_unknown(self.session_id, event)
        if event["status"] == "cancelled":
            raise AirflowSkipException(f"session {self.session_id} was {event['state']} before it started")
        self.log.info("session %s: provisioning time %s reached", self.session_id, event["target"])
        return event


class WaitForSessionVms(BaseOperator):
    """Wait until every part of the session has its VMs all Running; return their name, state and address.

    ``targets`` lists what to wait for: one ``{"conn_id", "session_id", "count"}`` per part (a session
    not split across regions has one). The parts are waited for one after the other, each deferred to
    a :class:`~meca.triggers.vms_running.SessionVmsRunningTrigger`; then the booking is ``running``.

    :param targets: the parts (templated: ``provision``'s ``targets``).
    :param session_id: the session (templated).
    :param data_conn_id: the Connection of the MECA data database (the booking becomes ``running``).
    :param poll_interval: seconds between two looks.
    :param timeout: how long to wait for each part.
    """

    template_fields: Sequence[str] = ("targets", "session_id")

    def __init__(
        self,
        *,
        targets: list[dict[str, Any]] | Any,
        session_id: str,
        data_conn_id: str = "meca_data",
        poll_interval: float = 5.0,
        timeout: timedelta = timedelta(minutes=30),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.targets = targets
        self.session_id = session_id
        self.data_conn_id = data_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout

    def execute(self, context: Any) -> None:
        """Defer until the first part's VMs are Running."""
        self._wait_for(0)

    def _wait_for(self, index: int) -> None:
        target = self.targets[index]
        trigger = SessionVmsRunningTrigger(
            target["conn_id"],
            target["session_id"],
            int(target["count"]),
            self.poll_interval,
            self.timeout.total_seconds(),
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Log each VM; fail with the trigger's reason when they are not all Running; next part or done.

        The part an event is about is found by its ``session_id`` (not by resume arguments, which
        ``dag.test()`` does not renew between two deferrals of one task).
        """
        for vm in event["vms"]:
            self.log.info(
                "session %s: VM %s %s at %s", self.session_id, vm["name"], vm["state"], vm["address"]
            )
        if event["status"] != "running":
            raise AirflowFailException(event["message"])
        ids = [target["session_id"] for target in self.targets]
        index = ids.index(event["session_id"]) if event.get("session_id") in ids else 0
        if index + 1 < len(self.targets):
            self._wait_for(index + 1)  # defers (raises): this method is called again for it
        from meca.sessions.ledger import advance
        from meca.sessions.states import RUNNING
        from meca.store.engine import get_engine

        advance(get_engine(self.data_conn_id), self.session_id, RUNNING, now=datetime.now(UTC))
        if len(self.targets) == 1:
            return list(event["vms"])
        return asyncio.run(_all_vms(self.targets))


async def _all_vms(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The VMs of every part, each with its region's Connection id (for a split session's result)."""
    from meca.cloudstack.async_hook import CloudStackAsyncHook
    from meca.sessions.tags import session_vms, vm_record

    async def one(target: dict[str, Any]) -> list[dict[str, Any]]:
        hook = CloudStackAsyncHook(cloudstack_conn_id=target["conn_id"])
        return [
            {**vm_record(vm), "conn_id": target["conn_id"]}
            for vm in await session_vms(hook, target["session_id"])
        ]

    return [vm for vms in await asyncio.gather(*(one(t) for t in targets)) for vm in vms]


class WaitForSessionEnd(BaseOperator):
    """Wait until the booking's end, following extensions; a cancellation ends the wait at once.

    At ``notice`` before the end it logs a notice and calls each notifier with the task context plus
    ``meca_session`` (``session_id``, ``end``), so a notifier's templated fields can use them.

    :param session_id: the session (templated).
    :param notice: how long before the end the notice is given.
    :param notifiers: Airflow notifiers called with the notice.
    :param data_conn_id: the Connection of the MECA data database.
    :param poll_interval: the longest time between two reads of the booking, in seconds.
    """

    template_fields: Sequence[str] = ("session_id",)

    def __init__(
        self,
        *,
        session_id: str,
        notice: timedelta = timedelta(minutes=10),
        notifiers: Sequence[BaseNotifier] = (),
        data_conn_id: str = "meca_data",
        poll_interval: float = DEFAULT_POLL_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session_id = session_id
        self.notice = notice
        self.notifiers = list(notifiers)
        self.data_conn_id = data_conn_id
        self.poll_interval = poll_interval

    def _wait(self, context: Any, offset: timedelta, then: Callable[[Any, dict[str, Any]], Any]) -> Any:
        trigger = SessionTimeReachedTrigger(
            self.session_id, "end", -offset.total_seconds(), self.data_conn_id, self.poll_interval
        )
        return _wait_for_moment(self, context, trigger, then)

    def execute(self, context: Any) -> dict[str, Any]:
        """Defer until the notice time (give the notice at once when it has passed)."""
        return self._wait(context, self.notice, self.give_notice)

    def give_notice(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Give the notice, then defer until the end (or stop now when cancelled)."""
        _refuse_unknown(self.session_id, event)
        if event["status"] == "cancelled":
            self.log.warning("session %s was %s: tearing down now", self.session_id, event["state"])
            return event
        self.log.warning(
            "session %s ends at %s: its VMs will be destroyed then", self.session_id, event["end"]
        )
        session = {"session_id": self.session_id, "end": event["end"]}
        for notifier in self.notifiers:
            notifier({**context, "meca_session": session})
        return self._wait(context, timedelta(0), self.execute_complete)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """The end (or a cancellation) came."""
        _refuse_unknown(self.session_id, event)
        self.log.info("session %s: %s at %s", self.session_id, event["status"], event.get("target", "now"))
        return event
