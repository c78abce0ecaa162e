"""The session run's part of the booking lifecycle: failed for good, and ended or failed at teardown.

A session whose provisioning (or its wait for Running VMs) failed for good releases its seats at once
(:func:`release_on_failure`, the tasks' ``on_failure_callback``). The teardown ends every booking
that still holds capacity (:func:`finish`): ``ended`` when its end has come, else ``failed`` (its run
was marked failed or stopped early). A cancelled, refused or failed booking stays as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from meca.sessions.ledger import Booking, advance, get_booking
from meca.sessions.states import ENDED, FAILED

#: A teardown this close before the end counts as the end (the waits poll every 15 s).
END_TOLERANCE = timedelta(minutes=1)


def finish(engine: Engine, session_id: str, *, now: datetime) -> Booking | None:
    """End the booking after its VMs are gone: ``ended`` at its end, ``failed`` before it.

    :returns: the booking as it now is, ``None`` when there is none.
    """
    booking = get_booking(engine, session_id)
    if booking is None or not booking.holding:
        return booking
    if now >= booking.end - END_TOLERANCE:
        return advance(engine, session_id, ENDED, now=now)
    return advance(
        engine,
        session_id,
        FAILED,
        now=now,
        reason="failed: the session's run stopped before its end; its VMs were destroyed.",
    )


def release_on_failure(context: Any) -> None:
    """``on_failure_callback``: the task failed for good, so the session's booking is ``failed`` now.

    :param context: the task's context (its run id is the session id).
    """
    from meca.store.engine import get_engine

    task_id = context["ti"].task_id
    error = context.get("exception")
    advance(
        get_engine(),
        str(context["run_id"]),
        FAILED,
        now=datetime.now(UTC),
        reason=f"failed: {task_id} could not finish ({error}); the seats are free again.",
    )
