"""The session waits defer only while they must wait: a decided wait goes on in the same try.

Airflow 3.3 may fail a task whose trigger fires at once (the executor's report of the deferral
arrives after the task was resumed), so a wait whose moment has passed, or whose session is
cancelled or unknown, must not defer at all. The booking is real, in a migrated SQLite MECA data
database named by the Connection ``meca_data``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred
from sqlalchemy import Engine

from meca.regions import Region
from meca.sessions import ledger
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.config import SessionsConfig
from meca.sessions.request import SessionRequest
from meca.sessions.waits import WaitForSessionEnd, WaitForSessionStart
from meca.triggers.time_reached import SessionTimeReachedTrigger

LEAD = timedelta(minutes=10)
SMALL = OfferingSize.of("Small", cpu_number=1, cpu_speed_mhz=1000, memory_mib=1024)


def book(engine: Engine, session_id: str, start_in: timedelta, length: timedelta) -> ledger.Booking:
    """Book a 1-VM session starting ``start_in`` from now in a region with room for 10."""
    now = datetime.now(UTC).replace(microsecond=0)
    region = Region("cloudstack_alpha", "alpha", 1, "alpha", "", "", 45.0, 7.0, "#123456")
    facts = RegionChoiceInput(
        region, RegionCapacity(10 * SMALL.memory_bytes, 10 * SMALL.cpu_mhz, now, "sweep"), SMALL, True
    )
    request = SessionRequest(
        start=now + start_in,
        end=now + start_in + length,
        title="Lab",
        owner="ann@example.org",
        region="any",
        template="Ubuntu",
        instances=1,
        offering="Small",
    )
    return ledger.reserve(
        engine,
        request,
        session_id=session_id,
        regions=[facts],
        now=now,
        config=SessionsConfig(lead_time=LEAD),
    )


def deferred_to(excinfo: pytest.ExceptionInfo[TaskDeferred]) -> tuple[str, float, str]:
    """(moment, offset, method) of the trigger a wait deferred to."""
    trigger = excinfo.value.trigger
    assert isinstance(trigger, SessionTimeReachedTrigger)
    return trigger.moment, trigger.offset_s, excinfo.value.method_name


def test_the_start_wait_goes_on_at_once_when_the_provisioning_time_has_passed(
    sqlite_meca_data: Engine,
) -> None:
    booking = book(sqlite_meca_data, "lab-now", start_in=timedelta(minutes=5), length=timedelta(hours=1))

    event = WaitForSessionStart(task_id="wait_for_start", session_id="lab-now").execute({})

    assert event == {
        "status": "reached",
        "target": booking.holds_from.isoformat(),
        "end": booking.end.isoformat(),
    }


def test_the_start_wait_defers_while_the_provisioning_time_is_ahead(sqlite_meca_data: Engine) -> None:
    book(sqlite_meca_data, "lab-later", start_in=timedelta(hours=2), length=timedelta(hours=1))

    with pytest.raises(TaskDeferred) as deferred:
        WaitForSessionStart(task_id="wait_for_start", session_id="lab-later").execute({})

    assert deferred_to(deferred) == ("holds_from", 0.0, "execute_complete")


def test_a_cancelled_or_unknown_session_is_decided_without_deferring(sqlite_meca_data: Engine) -> None:
    book(sqlite_meca_data, "lab-off", start_in=timedelta(hours=2), length=timedelta(hours=1))
    ledger.cancel(sqlite_meca_data, "lab-off", by="ann", now=datetime.now(UTC))

    with pytest.raises(AirflowSkipException, match="cancelled"):
        WaitForSessionStart(task_id="wait_for_start", session_id="lab-off").execute({})
    with pytest.raises(AirflowFailException, match="no booking"):
        WaitForSessionStart(task_id="wait_for_start", session_id="lab-nobody").execute({})
    assert WaitForSessionEnd(task_id="wait_for_end", session_id="lab-off").execute({}) == {
        "status": "cancelled",
        "state": "cancelled",
    }


def test_the_end_wait_gives_the_notice_at_once_then_defers_until_the_end(sqlite_meca_data: Engine) -> None:
    book(sqlite_meca_data, "lab-short", start_in=timedelta(minutes=1), length=timedelta(minutes=5))
    wait = WaitForSessionEnd(task_id="wait_for_end", session_id="lab-short", notice=timedelta(minutes=10))

    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({})

    assert deferred_to(deferred) == ("end", 0.0, "execute_complete")


def test_the_end_wait_defers_for_the_notice_while_it_is_ahead(sqlite_meca_data: Engine) -> None:
    book(sqlite_meca_data, "lab-long", start_in=timedelta(minutes=1), length=timedelta(hours=2))
    wait = WaitForSessionEnd(task_id="wait_for_end", session_id="lab-long", notice=timedelta(minutes=10))

    with pytest.raises(TaskDeferred) as deferred:
        wait.execute({})

    assert deferred_to(deferred) == ("end", -600.0, "give_notice")
