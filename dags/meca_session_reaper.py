"""DAG ``meca_session_reaper``: every 15 minutes, destroy session VMs that no live booking protects.

Nothing here touches a Connection, a Variable, the database or the network at parse time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

from meca.security.roles import OPERATIONS_DAG_ACCESS

log = logging.getLogger("meca.session_reaper")

SESSION_DAG_ID = "meca_classroom_session"
#: How far ahead bookings are read: any booking ending after now may protect VMs.
HORIZON = timedelta(days=800)
FINISHED_RUN_STATES = frozenset({"success", "failed"})
REAP_TIMEOUT = timedelta(minutes=10)

DOC_MD = """
### MECA session reaper

Every 15 minutes, one mapped task per region (labelled with its name, in the `cloudstack_api` pool)
lists the VMs tagged `meca-session` (or named like a session VM) and destroys, with expunge, those
no live booking protects: the session **ended**, was **cancelled**, is **unknown** (no booking),
was booked in **another region**, or its `meca_classroom_session` run **finished early** (marked
failed, killed) without cleaning up. A booking whose run finished is then released (`ended` at
its end, `failed` before it), so a killed run cannot hold seats. Each task logs and returns what it
destroyed and why; `report` sums it up. A VM that could not be destroyed fails its region's task
and is tried again next time.
"""


@dag(
    dag_id="meca_session_reaper",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=14),
    tags=["meca", "cloudstack", "sessions"],
    access_control=OPERATIONS_DAG_ACCESS,
    doc_md=DOC_MD,
    default_args={"owner": "meca-sessions", "retries": 0},
)
def meca_session_reaper() -> None:
    """Destroy the VMs of ended, cancelled, unknown or abandoned sessions in every region."""

    @task
    def regions() -> list[str]:
        """The Connection ids of every region, from the region registry."""
        from meca.regions import region_conn_ids

        return region_conn_ids()

    @task(
        pool="cloudstack_api",
        execution_timeout=REAP_TIMEOUT,
        map_index_template="{{ region_name | default(task.op_kwargs.conn_id) }}",
    )
    def reap(conn_id: str) -> dict[str, Any]:
        """Destroy the unprotected session VMs of one region; fail when some could not be destroyed.

        :param conn_id: the region's ``cloudstack`` Connection id.
        """
        from airflow.sdk.api.client import ServerResponseError
        from airflow.sdk.exceptions import AirflowException, AirflowRuntimeError

        from meca.cloudstack.async_hook import CloudStackAsyncHook
        from meca.regions import get_region
        from meca.sessions.ledger import bookings_between
        from meca.sessions.lifecycle import finish
        from meca.sessions.reaper import reap_region
        from meca.store.engine import get_engine

        context = get_current_context()
        region = get_region(conn_id)
        context["region_name"] = region.name  # type: ignore[typeddict-unknown-key]
        now = datetime.now(UTC)
        engine = get_engine()
        live = bookings_between(engine, now, now + HORIZON)
        finished: dict[str, str] = {}
        for booking in live:
            if booking.region != region.name:
                continue
            try:
                state = context["ti"].get_dagrun_state(SESSION_DAG_ID, booking.session_id)
            except (AirflowRuntimeError, ServerResponseError):  # no such run: the booking alone decides
                continue
            state = str(getattr(state, "value", state))  # a DagRunState enum, or its text
            if state in FINISHED_RUN_STATES:
                finished[booking.session_id] = state
        hook = CloudStackAsyncHook(cloudstack_conn_id=conn_id)
        report = asyncio.run(reap_region(hook, engine, live=live, now=now, finished_runs=finished))
        if not report.errors:  # their VMs are gone: a finished run's booking holds nothing any more
            for session_id in finished:
                released = finish(engine, session_id, now=now)
                if released is not None:
                    log.warning(
                        "Session %s: its run is %s; booking now %s",
                        session_id,
                        finished[session_id],
                        released.state,
                    )
        for vm in report.destroyed:
            log.warning("Region %s: destroyed %s (%s): %s", region.name, vm["name"], vm["id"], vm["reason"])
        log.info("Region %s: %d destroyed, %d kept", region.name, len(report.destroyed), report.kept)
        if report.errors:
            raise AirflowException(f"region {region.name}: could not destroy: {'; '.join(report.errors)}")
        return report.to_xcom()

    @task(trigger_rule="all_done")
    def report(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Sum up what every region's task destroyed.

        :param results: the results of the ``reap`` tasks that succeeded.
        """
        destroyed = {r["region"]: [vm["name"] for vm in r["destroyed"]] for r in results}
        total = sum(len(names) for names in destroyed.values())
        log.info("Reaper: %d VM(s) destroyed: %s", total, destroyed)
        return {"destroyed": destroyed, "total": total}

    # TaskFlow passes XComArgs here; Airflow resolves them to the annotated types at run time.
    report(reap.expand(conn_id=regions()))  # type: ignore[arg-type]


meca_session_reaper()
