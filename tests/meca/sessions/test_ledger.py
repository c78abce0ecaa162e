"""The capacity ledger on SQLite and PostgreSQL: holds, overlaps, cancel, extend, concurrent bookings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from meca.regions import Region
from meca.sessions import ledger
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.config import SessionsConfig
from meca.sessions.request import BookingRefused, SessionRequest
from meca.sessions.states import ACCEPTED, FAILED, PROVISIONING, RUNNING
from meca.store import models

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
START = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
SMALL = OfferingSize.of("Small", cpu_number=1, cpu_speed_mhz=1000, memory_mib=1024)
CONFIG = SessionsConfig(lead_time=timedelta(minutes=10))


def region(name: str, lat: float = 45.0, lon: float = 7.0) -> Region:
    return Region(f"cloudstack_{name}", name, 1, name, "", "", lat, lon, "#123456")


def facts(name: str, vms: int) -> RegionChoiceInput:
    """A region with room for exactly ``vms`` Small VMs."""
    capacity = RegionCapacity(vms * SMALL.memory_bytes, vms * SMALL.cpu_mhz, NOW, "sweep")
    return RegionChoiceInput(region(name), capacity, SMALL, template_ready=True)


def request(start: datetime = START, hours: float = 2, instances: int = 2, **more: object) -> SessionRequest:
    values = {
        "start": start,
        "end": start + timedelta(hours=hours),
        "title": "Lab",
        "owner": "bob@example.org",
        "region": "any",
        "template": "Ubuntu",
        "instances": instances,
        "offering": "Small",
        **more,
    }
    return SessionRequest(**values)  # type: ignore[arg-type]


def reserve(
    engine: Engine, session_id: str, req: SessionRequest, regions: list[RegionChoiceInput]
) -> ledger.Booking:
    return ledger.reserve(engine, req, session_id=session_id, regions=regions, now=NOW, config=CONFIG)


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(models.SessionBooking))


def test_overlapping_bookings_share_the_capacity(data_engine: Engine) -> None:
    region_a = [facts("A", 5)]
    reserve(data_engine, "s1", request(instances=3), region_a)
    with pytest.raises(BookingRefused, match="A has room for only 2 VM"):
        reserve(data_engine, "s2", request(start=START + timedelta(hours=1), instances=3), region_a)
    # Back to back: the next one holds from its start minus the lead time, which overlaps s1's end.
    with pytest.raises(BookingRefused, match="room for only 2"):
        reserve(data_engine, "s3", request(start=START + timedelta(hours=2), instances=3), region_a)
    later = reserve(
        data_engine, "s4", request(start=START + timedelta(hours=2, minutes=10), instances=3), region_a
    )
    assert later.region == "A"
    assert later.holds_from == START + timedelta(hours=2)
    assert rows(data_engine) == 2


def test_held_capacity_is_the_peak_not_the_sum(data_engine: Engine) -> None:
    region_a = [facts("A", 5)]
    reserve(data_engine, "morning", request(hours=1, instances=3), region_a)
    reserve(data_engine, "noon", request(start=START + timedelta(hours=2), hours=1, instances=3), region_a)
    # A day-long window overlaps both, but they never run together: 2 are free all along.
    booking = reserve(
        data_engine, "day", request(start=START - timedelta(hours=1), hours=5, instances=2), region_a
    )
    assert booking.instances == 2
    with data_engine.connect() as connection:
        memory, cpu = ledger.held_capacity(
            connection, "A", START - timedelta(hours=2), START + timedelta(hours=6)
        )
    assert (memory, cpu) == (5 * SMALL.memory_bytes, 5 * SMALL.cpu_mhz)


def test_cancel_frees_the_capacity_and_extend_checks_it(data_engine: Engine) -> None:
    region_a = [facts("A", 4)]
    reserve(data_engine, "first", request(instances=4), region_a)
    with pytest.raises(BookingRefused):
        reserve(data_engine, "second", request(instances=1), region_a)
    cancelled = ledger.cancel(data_engine, "first", by="teacher", now=NOW)
    assert (cancelled.state, cancelled.changed_by) == ("cancelled", "teacher")
    assert ledger.cancel(data_engine, "first", by="again", now=NOW).changed_by == "teacher"
    reserve(data_engine, "second", request(instances=1), region_a)
    reserve(data_engine, "after", request(start=START + timedelta(hours=3), instances=3), region_a)
    reserve(data_engine, "late", request(start=START + timedelta(hours=5, minutes=30), instances=2), region_a)
    capacity = region_a[0].capacity
    with pytest.raises(BookingRefused, match="room for only 2 VM"):
        ledger.extend(data_engine, "after", START + timedelta(hours=6), by="t", now=NOW, capacity=capacity)
    # "second" (1 VM) may grow into the time "after" holds 3 of the 4.
    extended = ledger.extend(
        data_engine, "second", START + timedelta(hours=4), by="t", now=NOW, capacity=capacity
    )
    assert extended.end == START + timedelta(hours=4)
    assert ledger.get_booking(data_engine, "second").end == START + timedelta(hours=4)
    with pytest.raises(BookingRefused, match="must be after the current end"):
        ledger.extend(data_engine, "second", START, by="t", now=NOW, capacity=capacity)
    with pytest.raises(ledger.BookingNotFound):
        ledger.cancel(data_engine, "nobody", by="t", now=NOW)


def test_ended_sessions_cannot_be_cancelled(data_engine: Engine) -> None:
    reserve(data_engine, "s", request(), [facts("A", 4)])
    with pytest.raises(BookingRefused, match="cannot be cancelled"):
        ledger.cancel(data_engine, "s", by="t", now=START + timedelta(hours=3))


def test_a_retried_reserve_returns_the_same_booking(data_engine: Engine) -> None:
    regions = [facts("A", 4)]
    first = reserve(data_engine, "run-1", request(), regions)
    assert reserve(data_engine, "run-1", request(), regions) == first
    with pytest.raises(BookingRefused, match="already used by another booking"):
        reserve(data_engine, "run-1", request(instances=1), regions)
    assert rows(data_engine) == 1


def test_weekly_recurrence_is_booked_all_or_nothing(data_engine: Engine) -> None:
    region_a = [facts("A", 3)]
    reserve(data_engine, "week2", request(start=START + timedelta(weeks=2), instances=2), region_a)
    with pytest.raises(BookingRefused, match="room for only 1"):
        reserve(data_engine, "series", request(instances=2, recurrence_weeks=3), region_a)
    assert rows(data_engine) == 1
    booking = reserve(data_engine, "series", request(instances=1, recurrence_weeks=3), region_a)
    found = ledger.bookings_between(data_engine, START, START + timedelta(weeks=4))
    assert [b.session_id for b in found] == [
        "series",
        "series.week1",
        "series.week2",
        "week2",
        "series.week3",
    ]
    assert {b.series_id for b in found if b.session_id.startswith("series")} == {booking.session_id}


def test_full_alert_excludes_a_region(data_engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from meca.store.registry import ensure_region

    with Session(data_engine) as session, session.begin():
        region_id = ensure_region(session, region("A"))
        session.add(
            models.Alert(
                rule="full",
                region_id=region_id,
                severity="critical",
                message="m",
                marks_full=True,
                opened_at=NOW,
                last_seen_at=NOW,
            )
        )
    booking = reserve(data_engine, "s", request(), [facts("A", 50), facts("B", 3)])
    assert booking.region == "B"


def contend(
    engine: Engine, name: str, start: datetime, barrier: threading.Barrier, outcomes: dict[str, str]
) -> None:
    """Book 2 VMs at ``start`` + 30 min once every contender is ready; record the outcome."""
    barrier.wait()
    try:
        reserve(engine, name, request(start=start + timedelta(minutes=30), instances=2), [facts("A", 5)])
        outcomes[name] = "accepted"
    except BookingRefused as exc:
        outcomes[name] = exc.messages[0]


@pytest.mark.parametrize("contenders", [2, 8])
def test_concurrent_bookings_of_the_last_capacity_accept_exactly_one(
    data_engine: Engine, contenders: int
) -> None:
    regions = [facts("A", 5)]
    for day in range(4):
        start = START + timedelta(days=day)
        reserve(data_engine, f"existing-{day}", request(start=start, instances=3), regions)
        barrier = threading.Barrier(contenders)
        outcomes: dict[str, str] = {}
        threads = [
            threading.Thread(target=contend, args=(data_engine, f"d{day}-c{i}", start, barrier, outcomes))
            for i in range(contenders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accepted = [name for name, outcome in outcomes.items() if outcome == "accepted"]
        assert len(outcomes) == contenders
        assert len(accepted) == 1, outcomes
        assert all("room for only 0 VM" in o for o in outcomes.values() if o != "accepted")
        with data_engine.connect() as connection:
            booked = connection.scalars(
                select(models.SessionBooking.session_id).where(models.SessionBooking.starts_at >= start)
            ).all()
        assert f"existing-{day}" in booked
        assert len([b for b in booked if b.startswith(f"d{day}-")]) == 1


def test_extending_a_running_session_counts_its_own_vms_once(data_engine: Engine) -> None:
    lab = reserve(data_engine, "lab", request(instances=3), [facts("a", 5)])
    for state in (PROVISIONING, RUNNING):
        ledger.advance(data_engine, "lab", state, now=START - timedelta(minutes=5))
    during = START + timedelta(minutes=30)
    # Swept while its 3 VMs were Running: the region's used figures include them, 2 Small are free.
    swept = RegionCapacity(2 * SMALL.memory_bytes, 2 * SMALL.cpu_mhz, START, "sweep")

    longer = ledger.extend(
        data_engine,
        "lab",
        lab.end + timedelta(minutes=5),
        by="bob",
        now=during,
        capacity=swept,
        config=CONFIG,
    )

    assert longer.end == lab.end + timedelta(minutes=5)
    assert longer.state == RUNNING
    # The next session holds 2 of the 5 from lab.end + 5 min: 3 are left for the lab's own 3.
    reserve(data_engine, "next", request(start=lab.end + timedelta(minutes=15), instances=2), [facts("a", 5)])
    again = ledger.extend(
        data_engine,
        "lab",
        lab.end + timedelta(minutes=10),
        by="bob",
        now=during,
        capacity=swept,
        config=CONFIG,
    )
    assert again.end == lab.end + timedelta(minutes=10)
    # With 1 Small free at the sweep, 1 + 3 - 2 = 2 are left: refused, in the session's own time zone (UTC).
    tighter = RegionCapacity(SMALL.memory_bytes, SMALL.cpu_mhz, START, "sweep")
    with pytest.raises(BookingRefused) as refused:
        ledger.extend(
            data_engine,
            "lab",
            lab.end + timedelta(minutes=20),
            by="bob",
            now=during,
            capacity=tighter,
            config=CONFIG,
        )
    assert refused.value.messages == [
        "Region a has room for only 2 VM(s) of 'Small' between 2030-01-08 11:10 UTC and "
        "2030-01-08 11:20 UTC, and the session has 3."
    ]


def test_the_lifecycle_moves_forward_only_and_frees_the_seats(data_engine: Engine) -> None:
    reserve(data_engine, "lab", request(instances=5), [facts("a", 5)])
    with pytest.raises(BookingRefused):
        reserve(data_engine, "other", request(instances=1), [facts("a", 5)])
    failed = ledger.advance(data_engine, "lab", FAILED, now=NOW, reason="failed: provision could not finish")
    assert failed.state == FAILED
    assert failed.reasons[-1] == "failed: provision could not finish"
    assert ledger.advance(data_engine, "lab", RUNNING, now=NOW).state == FAILED  # final: no way back
    assert reserve(data_engine, "other", request(instances=5), [facts("a", 5)]).state == ACCEPTED


def test_a_request_no_region_could_ever_host_gets_no_slot_alternative_without_trying_the_horizon(
    data_engine: Engine,
) -> None:
    """Slots are only tried where some region could host the request at a free time (same outcome)."""
    rules = SessionsConfig(lead_time=timedelta(minutes=10), max_advance=timedelta(days=365))
    too_big = request(instances=5, region="A")
    with data_engine.connect() as connection:
        decision = ledger.decide_in(connection, too_big, [facts("A", 4), facts("B", 6)], rules=rules, now=NOW)
    assert decision.placement is None
    assert [a.kind for a in decision.alternatives] == ["region"]
    assert decision.alternatives[0].conf["region"] == "B"
    # a region that could host it at another time still gets its slots
    reserve(data_engine, "held", request(instances=3, region="A"), [facts("A", 4)])
    with data_engine.connect() as connection:
        later = ledger.decide_in(
            connection, request(instances=2, region="A"), [facts("A", 4)], rules=rules, now=NOW
        )
    assert later.placement is None
    assert [a.kind for a in later.alternatives] == ["slot"] * 3


def test_a_class_no_region_can_host_is_offered_a_split_that_books_as_proposed(data_engine: Engine) -> None:
    rules = SessionsConfig(lead_time=timedelta(minutes=10), home_institutions={"example.org": "A"})
    regions = [facts("A", 4), facts("B", 3), facts("C", 2)]
    with data_engine.connect() as connection:
        decision = ledger.decide_in(connection, request(instances=6), regions, rules=rules, now=NOW)

    assert decision.placement is None
    split = next(a for a in decision.alternatives if a.kind == "split")
    assert split.conf["parts"] == [{"region": "A", "instances": 4}, {"region": "B", "instances": 2}]
    assert split.summary == "split the class: 4 in A + 2 in B, same time"
    proposed = SessionRequest.from_conf(split.conf, now=NOW, config=rules)
    booked = ledger.reserve(data_engine, proposed, session_id="lab", regions=regions, now=NOW, config=rules)
    parts = ledger.parts_of(data_engine, "lab")
    assert [(p.session_id, p.region, p.instances, p.state) for p in parts] == [
        ("lab", "A", 4, ACCEPTED),
        ("lab.part1", "B", 2, ACCEPTED),
    ]
    assert booked.region == "A"
    # Every part holds its seats, and cancelling the session frees them all.
    with pytest.raises(BookingRefused):
        reserve(data_engine, "more", request(instances=2, region="B"), regions)
    ledger.cancel(data_engine, "lab", by="bob", now=NOW)
    assert {p.state for p in ledger.parts_of(data_engine, "lab")} == {"cancelled"}
    assert reserve(data_engine, "more", request(instances=3, region="B"), regions).state == ACCEPTED
