"""``meca_classroom_session`` run with ``dag.test()`` against the simulator, in compressed time.

``dag.test()`` runs the deferrable waits inline. Sessions start about a minute from now and last a
minute; the default 10-minute lead time means provisioning starts at once, so the VMs are Running
well before the start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from cloudstack_simulator.testing import SimulatorHandle
from meca.sessions.control import cancel_session
from meca.sessions.ledger import CANCELLED, get_booking
from tests.meca.sessions.session_cloud import OFFERING, TEMPLATE, connect_all, raw_api, topology, vms_of

DAG_ID = "meca_classroom_session"


@pytest.fixture
def engine(sqlite_meca_data: Engine) -> Engine:
    return sqlite_meca_data


@pytest.fixture
def cloud(simulator_factory, monkeypatch: pytest.MonkeyPatch, airflow_pools: None) -> SimulatorHandle:
    handle = simulator_factory(topology("alpha", "beta"))
    connect_all(handle, monkeypatch)
    return handle


def _conf(start_in: timedelta, length: timedelta, instances: int, region: str = "alpha") -> dict[str, Any]:
    start = (datetime.now(UTC) + start_in).replace(microsecond=0)
    return {
        "start": start.isoformat(),
        "end": (start + length).isoformat(),
        "title": "Cloud lab",
        "owner": "teacher@example.org",
        "region": region,
        "template": TEMPLATE,
        "instances": instances,
        "offering": OFFERING,
    }


def _xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, key="return_value", task_ids=task_id, dag_ids=DAG_ID)
        ).one()
        return XComModel.deserialize_value(row)


def _states(run: Any) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _succeeded(run: Any, *, repeats: str = "skipped") -> bool:
    """Every task succeeded; ``trigger_repeats`` is ``repeats`` (skipped: no weekly repeat to trigger)."""
    states = _states(run)
    return states.pop("trigger_repeats") == repeats and set(states.values()) == {"success"}


def _in_background(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


def _until(condition: Callable[[], bool], what: str, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)


def test_vms_are_running_before_the_start_and_gone_after_the_end(dagbag, cloud, engine: Engine) -> None:
    conf = _conf(timedelta(seconds=60), timedelta(seconds=60), instances=4)

    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)

    assert _succeeded(run), _states(run)
    start, end = datetime.fromisoformat(conf["start"]), datetime.fromisoformat(conf["end"])
    running = _xcom(run, "check_running")
    assert len(running) == 4
    assert {vm["state"] for vm in running} == {"Running"}
    assert all(vm["address"] and vm["name"] for vm in running)
    assert run.get_task_instance("check_running").end_date < start
    assert run.get_task_instance("teardown").start_date >= end
    assert sorted(vm["id"] for vm in _xcom(run, "teardown")["destroyed"]) == sorted(
        vm["id"] for vm in running
    )
    assert vms_of(raw_api(cloud, "alpha")) == []
    booking = get_booking(engine, run.run_id)
    assert booking is not None
    assert booking.region == "alpha"
    assert booking.state == "ended"
    assert not booking.holding
    assert booking.running_since is not None
    assert booking.running_since < start


def test_failed_deploys_are_replaced_and_a_cancellation_tears_down_at_once(
    dagbag, cloud, engine: Engine
) -> None:
    cloud.control.set_faults("alpha", deploy_failure_rate=0.5)
    conf = _conf(timedelta(seconds=30), timedelta(minutes=30), instances=6)
    api = raw_api(cloud, "alpha")

    def cancel_once_running() -> None:
        _until(lambda: [vm["state"] for vm in vms_of(api)] == ["Running"] * 6, "6 VMs Running")
        (session_id,) = {tag["value"] for vm in vms_of(api) for tag in vm["tags"]}
        cancel_session(engine, session_id, by="teacher@example.org", now=datetime.now(UTC))

    canceller = _in_background(cancel_once_running)
    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)
    canceller.join(timeout=5)

    assert _succeeded(run), _states(run)
    provisioned = _xcom(run, "provision")
    assert provisioned["failures"], "half the deploys fail: some must have been replaced"
    assert provisioned["deployed"] == 6 + len(provisioned["failures"])
    assert len(_xcom(run, "check_running")) == 6
    assert _xcom(run, "wait_for_end")["status"] == "cancelled"
    assert run.get_task_instance("teardown").start_date < datetime.fromisoformat(conf["end"])
    assert vms_of(api) == []
    assert get_booking(engine, run.run_id).state == CANCELLED


def test_a_cancellation_before_the_start_skips_to_the_teardown(dagbag, cloud, engine: Engine) -> None:
    conf = _conf(timedelta(hours=2), timedelta(hours=1), instances=3)

    def cancel_once_booked() -> None:
        from sqlalchemy import text

        def booked() -> bool:
            with engine.connect() as connection:
                return connection.execute(text("SELECT count(*) FROM bookings")).scalar() > 0

        _until(booked, "the booking")
        with engine.connect() as connection:
            session_id = connection.execute(text("SELECT session_id FROM bookings")).scalar()
        cancel_session(engine, session_id, by="teacher@example.org", now=datetime.now(UTC))

    canceller = _in_background(cancel_once_booked)
    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)
    canceller.join(timeout=5)

    states = _states(run)
    assert states["wait_for_start"] == "skipped"
    assert states["provision"] == states["check_running"] == states["wait_for_end"] == "skipped"
    assert states["teardown"] == states["verify_clean"] == "success"
    assert run.state == "success"
    assert vms_of(raw_api(cloud, "alpha")) == []


def test_a_refused_booking_creates_nothing_and_fails_the_run(dagbag, cloud, engine: Engine, caplog) -> None:
    conf = _conf(timedelta(minutes=5), timedelta(hours=1), instances=2, region="gamma")

    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)

    states = _states(run)
    assert states["reserve"] == "failed"
    assert states["teardown"] == states["verify_clean"] == "upstream_failed"
    assert run.state == "failed"
    refused = get_booking(engine, run.run_id)
    assert refused is not None
    assert refused.state == "refused"
    assert not refused.holding
    assert refused.reasons == (
        "The region 'gamma' is not one of the federation's regions (alpha, beta), nor \"any\".",
    )
    assert vms_of(raw_api(cloud, "alpha")) == vms_of(raw_api(cloud, "beta")) == []
    reserve_try = next(ti for ti in run.get_task_instances() if ti.task_id == "reserve")
    assert reserve_try.try_number == 1  # a refusal is final: no retry
    # The reserve task's log says why in one line per reason, without a traceback.
    assert "Refused: The region 'gamma' is not one of the federation's regions" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert "Traceback" not in caplog.text


def test_a_session_of_any_region_is_re_placed_when_its_region_is_down_at_provision_time(
    dagbag, cloud, engine: Engine
) -> None:
    from meca.sessions.booking import book
    from meca.sessions.request import SessionRequest

    run_after = datetime.now(UTC).replace(microsecond=0)
    session_id = f"manual__{run_after.isoformat()}"  # the run id dag.test() gives a run with this date
    conf = _conf(timedelta(seconds=10), timedelta(seconds=10), instances=2, region="any")
    booked = book(engine, SessionRequest.from_conf(conf, now=run_after), session_id=session_id, now=run_after)
    cloud.control.set_faults(booked.region, down=True)
    other = ({"alpha", "beta"} - {booked.region}).pop()
    try:
        run = dagbag.get_dag(DAG_ID).test(run_after=run_after, logical_date=run_after, run_conf=conf)
    finally:
        cloud.control.set_faults(booked.region, down=False)

    assert run.run_id == session_id
    assert _succeeded(run), _states(run)
    provisioned = _xcom(run, "provision")
    assert (provisioned["region"], provisioned["conn_id"]) == (other, f"cloudstack_{other}")
    assert {vm["zone"] for vm in _xcom(run, "check_running")} == {f"{other}-z1"}
    assert sorted(vm["id"] for vm in _xcom(run, "teardown")["destroyed"]) == sorted(
        vm["id"] for vm in provisioned["vms"]
    )
    moved = get_booking(engine, session_id)
    assert moved.region == other
    assert moved.reasons[0] == f"re-placed: {booked.region} unreachable at provision time"
    assert vms_of(raw_api(cloud, "alpha")) == vms_of(raw_api(cloud, "beta")) == []


def test_a_weekly_series_triggers_one_run_per_later_week_and_that_run_takes_its_booking(
    dagbag, cloud, engine: Engine
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from meca.sessions.booking import book_run
    from meca.sessions.request import BookingRefused

    conf = {**_conf(timedelta(seconds=10), timedelta(seconds=10), instances=1), "recurrence_weeks": 1}

    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)

    assert _succeeded(run, repeats="success"), _states(run)
    week1_id = f"{run.run_id}.week1"
    with create_session() as session:
        week1 = session.scalars(
            select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == week1_id)
        ).one()
        week1_conf, week1_logical_date = dict(week1.conf), week1.logical_date
    week = timedelta(weeks=1)
    assert week1_conf == {
        **conf,
        "start": (datetime.fromisoformat(conf["start"]) + week).isoformat(),
        "end": (datetime.fromisoformat(conf["end"]) + week).isoformat(),
        "comments": "",
        "recurrence_weeks": 0,
    }
    assert week1_logical_date is None
    pre_booked = get_booking(engine, week1_id)
    assert pre_booked is not None
    assert (pre_booked.series_id, pre_booked.occurrence) == (run.run_id, 1)

    # What reserve does in the run of week 1: it finds the occurrence booked by the series.
    taken = book_run(engine, week1_conf, session_id=week1_id, now=datetime.now(UTC))
    assert taken == pre_booked
    with pytest.raises(BookingRefused, match=r"already booked differently: the instances is 3"):
        book_run(engine, {**week1_conf, "instances": 3}, session_id=week1_id, now=datetime.now(UTC))


def test_a_session_split_across_two_regions_provisions_and_tears_down_every_part(
    dagbag, cloud, engine: Engine
) -> None:
    from meca.sessions.ledger import parts_of

    conf = _conf(timedelta(seconds=40), timedelta(seconds=30), instances=5, region="any")
    conf["parts"] = [{"region": "alpha", "instances": 3}, {"region": "beta", "instances": 2}]
    conf["recurrence_weeks"] = 0  # dag.test() keeps an earlier test's conf in the DAG's params
    seen: dict[str, int] = {}

    def watch() -> None:  # the most VMs each region held at once while the run went on
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            for name in ("alpha", "beta"):
                running = [vm for vm in vms_of(raw_api(cloud, name)) if vm["state"] == "Running"]
                seen[name] = max(seen.get(name, 0), len(running))
            time.sleep(0.5)

    watcher = _in_background(watch)
    run = dagbag.get_dag(DAG_ID).test(run_conf=conf)

    assert _succeeded(run), _states(run)
    running = _xcom(run, "check_running")
    assert len(running) == 5
    assert {vm["state"] for vm in running} == {"Running"}
    assert sorted(vm["region"] for vm in _xcom(run, "teardown")["destroyed"]) == ["alpha"] * 3 + ["beta"] * 2
    assert vms_of(raw_api(cloud, "alpha")) == vms_of(raw_api(cloud, "beta")) == []
    parts = parts_of(engine, run.run_id)
    assert [(p.session_id, p.region, p.instances) for p in parts] == [
        (run.run_id, "alpha", 3),
        (f"{run.run_id}.part1", "beta", 2),
    ]
    assert {p.state for p in parts} == {"ended"}
    watcher.join(timeout=0)
    assert seen["alpha"] == 3
    assert seen["beta"] == 2
