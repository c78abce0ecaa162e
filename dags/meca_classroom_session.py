"""DAG ``meca_classroom_session``: one run per classroom session, from booking to nothing left.

Nothing here touches a Connection, a Variable, the database or the network at parse time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, get_current_context, task

from meca.metrics.notifier import LogNotifier
from meca.security.roles import SESSION_DAG_ACCESS
from meca.sessions.lifecycle import release_on_failure
from meca.sessions.params import session_params
from meca.sessions.refused_exit import NO_RETRY_WHEN_REFUSED
from meca.sessions.waits import WaitForSessionEnd, WaitForSessionStart, WaitForSessionVms

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from meca.sessions.ledger import Booking

log = logging.getLogger("meca.classroom_session")

#: This DAG; a weekly series' first run triggers one more run of it per later occurrence.
SESSION_DAG_ID = "meca_classroom_session"

#: How long before the end the end notice is given.
END_NOTICE = timedelta(minutes=10)
#: The longest time between two reads of the booking while waiting: a cancellation acts within it.
BOOKING_POLL_S = 15.0
END_NOTICE_MESSAGE = (
    "MECA session {{ meca_session.session_id }} ends at {{ meca_session.end }}: "
    "its VMs will be destroyed then."
)

DOC_MD = """
### MECA classroom session

One run per session (trigger it with the form, the REST API or the calendar; its run id is the
session id). The VMs are Running at the start and always destroyed at the end.

1. **reserve** (a *setup* task): checks the request, places it and books the capacity in the MECA
   data database. A refused booking fails here with the reasons only (no retry, no traceback); it
   is stored as `refused`, with what would fit instead, and nothing is created in any region. With a
   weekly recurrence every occurrence is booked at once, and **trigger_repeats** creates one run per
   later occurrence, its run id `<run id>.week<k>` (that run's reserve finds its booking). Each
   occurrence is a booking of its own: cancelling one run's session leaves the other weeks booked.
2. **wait_for_start** defers (no worker slot) until the start minus the lead time
   (`include/sessions.yaml`). A cancellation meanwhile skips everything up to the teardown.
3. **provision** creates the N VMs in parallel as CloudStack async jobs, each tagged
   `meca-session=<run id>`; a retry counts what exists and creates only what is missing. When the
   booked region is down and the booking was for "any" region, the session is first re-placed to
   the best other region with room (recorded: "re-placed: <region> unreachable at provision time").
   The booking is `provisioning` from here; a provisioning that fails for good makes it `failed`
   and frees its seats at once.
4. **check_running** defers until all N are Running and returns their name, state and address;
   the booking is then `running`.
5. **wait_for_end** defers until the end (following an extension), with a notice 10 minutes before;
   a cancellation ends it at once.
6. **teardown** and **verify_clean** are *teardown* tasks: they run whatever happened upstream
   (failure, cancellation) and destroy with expunge everything tagged with the session in the
   region the booking holds now, then check that nothing is left (the run fails loudly otherwise).
   A run marked failed by hand still runs them (Airflow keeps it running until they are done);
   `meca_session_reaper` destroys whatever a killed or abandoned run leaves. Once the VMs are gone
   the booking is `ended` (at its end) or `failed` (before it), and holds nothing.
"""


def _session_id() -> str:
    return str(get_current_context()["run_id"])


def _current_booking(engine: Engine, session_id: str) -> Booking:
    """The session's booking as the ledger holds it now (its region may have changed since ``reserve``).

    :raises AirflowFailException: when the booking is gone.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from meca.sessions.ledger import get_booking

    booking = get_booking(engine, session_id)
    if booking is None:
        raise AirflowFailException(f"session {session_id} has no booking in the MECA data database")
    return booking


def _booked_conn_id(booking: dict[str, Any]) -> str:
    """The Connection of the session's region in the ledger now; ``reserve``'s when the booking is gone.

    :param booking: what ``reserve`` returned.
    """
    from meca.sessions.control import region_conn_id
    from meca.sessions.ledger import get_booking
    from meca.store.engine import get_engine

    current = get_booking(get_engine(), booking["session_id"])
    return str(booking["conn_id"]) if current is None else region_conn_id(current.region)


@dag(
    dag_id=SESSION_DAG_ID,
    schedule=None,
    catchup=False,
    params=session_params(),
    tags=["meca", "cloudstack", "sessions"],
    access_control=SESSION_DAG_ACCESS,
    doc_md=DOC_MD,
    # A task whose worker dies is failed by the scheduler (no heartbeat) and must be tried again, or
    # the session's run fails: every task here is safe to run again (it reads, waits, or counts
    # what exists before it creates or destroys anything). Some ask for more retries below.
    default_args={"owner": "meca-sessions", "retries": 1, "retry_delay": timedelta(seconds=10)},
)
def meca_classroom_session() -> None:
    """Book, provision at the start, tear down at the end."""

    @task(
        multiple_outputs=True,
        retries=2,
        retry_delay=timedelta(seconds=10),
        retry_policy=NO_RETRY_WHEN_REFUSED,
    )
    def reserve() -> dict[str, Any]:
        """Book the session and its weekly repeats, or find this run's booking; name its region's Connection.

        The run of a later weekly occurrence finds the booking the series' first run made. A refusal
        is stored as a ``refused`` booking and fails this task with the reasons only (no traceback).
        """
        from meca.sessions.booking import book_run
        from meca.sessions.control import booking_json, region_conn_id
        from meca.sessions.refused_exit import RefusedExit
        from meca.sessions.request import BookingRefused, check_session_id
        from meca.store.engine import get_engine

        session_id = _session_id()
        conf = dict(get_current_context()["params"])
        repeats = conf.get("recurrence_weeks")
        engine = get_engine()
        try:
            check_session_id(session_id, repeats=repeats if isinstance(repeats, int) else 0)
            booking = book_run(engine, conf, session_id=session_id, now=datetime.now(UTC))
        except BookingRefused as refused:
            for message in refused.messages:
                log.error("Refused: %s", message)
            for alternative in refused.alternatives:
                log.info("Would fit instead: %s", alternative["summary"])
            raise RefusedExit("The booking is refused: " + " ".join(refused.messages)) from None
        log.info("Session %s booked in %s: %s", session_id, booking.region, "; ".join(booking.reasons))
        return {**booking_json(booking), "conn_id": region_conn_id(booking.region)}

    @task
    def repeats() -> list[dict[str, Any]]:
        """The run id and conf of each later weekly occurrence this run booked (none in their own runs)."""
        from meca.sessions.ledger import repeats_of
        from meca.store.engine import get_engine

        return [
            {"trigger_run_id": repeat.session_id, "conf": repeat.to_conf()}
            for repeat in repeats_of(get_engine(), _session_id())
        ]

    @task(
        pool="cloudstack_api",
        retries=2,
        retry_delay=timedelta(seconds=20),
        execution_timeout=timedelta(minutes=30),
        on_failure_callback=release_on_failure,
    )
    def provision(booking: dict[str, Any]) -> dict[str, Any]:
        """Create the missing VMs of the session (all in parallel) until it has exactly N.

        When the booked region is down and the booking was for "any" region, the session is first
        re-placed (see :mod:`meca.sessions.replacement`); the region used is returned with the VMs.

        :param booking: what ``reserve`` returned.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from meca.sessions.control import region_conn_id
        from meca.sessions.ledger import advance, parts_of
        from meca.sessions.provision import CapacityRefused
        from meca.sessions.replacement import provision_where_reachable
        from meca.sessions.split import provision_parts, targets
        from meca.sessions.states import PROVISIONING
        from meca.store.engine import get_engine

        engine = get_engine()
        advance(engine, booking["session_id"], PROVISIONING, now=datetime.now(UTC))
        current = _current_booking(engine, booking["session_id"])
        parts = parts_of(engine, booking["session_id"])
        try:
            if len(parts) > 1:  # split across regions: each part in its own region, never re-placed
                placed, report = current, asyncio.run(provision_parts(parts))
            else:
                placed, report = asyncio.run(
                    provision_where_reachable(engine, current, now=datetime.now(UTC))
                )
                parts = [placed]
        except CapacityRefused as refused:  # asking again cannot help: fail now, the seats are freed
            raise AirflowFailException(str(refused)) from None
        for failure in report.failures:
            log.warning("A deploy failed and was replaced: %s", failure)
        log.info(
            "Session %s: %d VM(s) in %s, %d deploy(s) sent",
            placed.session_id,
            len(report.vms),
            placed.region,
            report.deployed,
        )
        return {
            "vms": report.vms,
            "deployed": report.deployed,
            "failures": report.failures,
            "region": placed.region,
            "conn_id": region_conn_id(placed.region),
            "targets": targets(parts),
        }

    @task(retries=3, retry_delay=timedelta(seconds=20), pool="cloudstack_api")
    def teardown(booking: dict[str, Any]) -> dict[str, Any]:
        """Destroy with expunge every VM of the session in its region (the ledger's, after a re-placement).

        :param booking: what ``reserve`` returned.
        """
        from meca.cloudstack.async_hook import CloudStackAsyncHook
        from meca.sessions.ledger import parts_of
        from meca.sessions.lifecycle import finish
        from meca.sessions.split import teardown_parts
        from meca.sessions.teardown import teardown_session
        from meca.store.engine import get_engine

        parts = parts_of(get_engine(), booking["session_id"])
        if len(parts) > 1:  # a split session: every part in its region
            report = asyncio.run(teardown_parts(parts))
        else:
            hook = CloudStackAsyncHook(cloudstack_conn_id=_booked_conn_id(booking))
            report = asyncio.run(teardown_session(hook, booking["session_id"]))
        for vm in report.destroyed:
            log.info("Destroyed %s (%s)", vm["name"], vm["id"])
        if not report.errors:
            finished = finish(get_engine(), booking["session_id"], now=datetime.now(UTC))
            if finished is not None:
                log.info("Session %s is %s", finished.session_id, finished.state)
        return {"destroyed": report.destroyed, "errors": report.errors}

    @task(retries=1, retry_delay=timedelta(seconds=30))
    def verify_clean(booking: dict[str, Any]) -> None:
        """Fail loudly when any VM of the session is left in its region.

        :param booking: what ``reserve`` returned.
        """
        from meca.cloudstack.async_hook import CloudStackAsyncHook
        from meca.sessions.ledger import parts_of
        from meca.sessions.split import assert_parts_clean
        from meca.sessions.teardown import assert_clean
        from meca.store.engine import get_engine

        parts = parts_of(get_engine(), booking["session_id"])
        if len(parts) > 1:
            asyncio.run(assert_parts_clean(parts))
            log.info(
                "Session %s: nothing left in %s", booking["session_id"], ", ".join(p.region for p in parts)
            )
            return
        conn_id = _booked_conn_id(booking)
        asyncio.run(assert_clean(CloudStackAsyncHook(cloudstack_conn_id=conn_id), booking["session_id"]))
        log.info("Session %s: nothing left in %s", booking["session_id"], conn_id)

    # An XComArg; typed Any so that indexing it and passing it on (resolved at run time) type-checks.
    booking: Any = reserve()
    wait_for_start = WaitForSessionStart(
        task_id="wait_for_start", session_id="{{ run_id }}", poll_interval=BOOKING_POLL_S
    )
    provisioned: Any = provision(booking)
    check_running = WaitForSessionVms(
        task_id="check_running",
        on_failure_callback=release_on_failure,
        targets=provisioned["targets"],
        session_id="{{ run_id }}",
    )
    wait_for_end = WaitForSessionEnd(
        task_id="wait_for_end",
        session_id="{{ run_id }}",
        notice=END_NOTICE,
        notifiers=[LogNotifier(message=END_NOTICE_MESSAGE)],
        poll_interval=BOOKING_POLL_S,
    )
    destroyed = teardown(booking).as_teardown(setups=booking)
    clean = verify_clean(booking).as_teardown(setups=booking, on_failure_fail_dagrun=True)
    weekly: Any = repeats()
    booking >> weekly
    # One run per later weekly occurrence, its run id the occurrence's booking id; none for a single session.
    TriggerDagRunOperator.partial(
        task_id="trigger_repeats",
        trigger_dag_id=SESSION_DAG_ID,
        logical_date=None,
        skip_when_already_exists=True,
        openlineage_inject_parent_info=False,
    ).expand_kwargs(weekly)
    booking >> wait_for_start >> provisioned >> check_running >> wait_for_end >> destroyed >> clean


meca_classroom_session()
