"""A battery of bad bookings, each refused with its message, with nothing created anywhere.

Every case of :data:`tests.meca.sessions.bad_bookings.BAD` goes the whole way the session DAG's
``reserve`` task takes: ``check_session_id`` on the run id, ``SessionRequest.from_conf``, then
``book`` against the simulated federation and a migrated MECA data database; afterwards no booking
row exists and no VM exists in any region.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from cloudstack_simulator.testing import SimulatorHandle
from meca.cloudstack.hook import CloudStackHook
from meca.regions import get_region
from meca.sessions.booking import book
from meca.sessions.capacity import OfferingSize, asked_capacity, asked_offering
from meca.sessions.request import BookingRefused, SessionRequest, check_session_id
from meca.store import models
from meca.store.migrate import upgrade
from meca.store.registry import ensure_region
from tests.meca.sessions.bad_bookings import BAD, CONFIG, GOOD, NOW, BadBooking
from tests.meca.sessions.federation import vm_count


@pytest.fixture(scope="module")
def engine(federation: SimulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database where MECA-PolITO is booked but for one VM at START, and MECA-BME marked full."""
    engine = create_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('bad-bookings')) / 'meca.db'}")
    upgrade(engine)
    polito = CloudStackHook("cloudstack_meca_polito")
    small = asked_offering(polito, "Small")
    assert isinstance(small, OfferingSize)
    room = asked_capacity(polito).fits(small)
    blocker = SessionRequest.from_conf(GOOD, now=NOW, config=CONFIG)
    blocker = SessionRequest(**{**blocker.__dict__, "region": "MECA-PolITO", "instances": room - 1})
    book(engine, blocker, session_id="blocker", now=NOW, config=CONFIG)
    with Session(engine) as session, session.begin():
        region_id = ensure_region(session, get_region("cloudstack_meca_bme"))
        session.add(
            models.Alert(
                rule="bme-full",
                region_id=region_id,
                severity="critical",
                message="memory above 95 %",
                marks_full=True,
                opened_at=NOW,
                last_seen_at=NOW,
            )
        )
    yield engine
    engine.dispose()


def attempt(engine: Engine, conf: dict[str, Any], session_id: str) -> None:
    """Check and book ``conf`` the way the session DAG's first task does."""
    repeats = conf.get("recurrence_weeks", 0)
    check_session_id(session_id, repeats=repeats if isinstance(repeats, int) else 0)
    request = SessionRequest.from_conf(conf, now=NOW, config=CONFIG)
    book(engine, request, session_id=session_id, now=NOW, config=CONFIG)


def bookings(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(models.SessionBooking)) or 0


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
def test_bad_booking_is_refused_and_creates_nothing(
    case: BadBooking, engine: Engine, federation: SimulatorHandle
) -> None:
    before = bookings(engine)
    if case.down:
        federation.control.set_faults("MECA-Lisboa", down=True)
    try:
        with pytest.raises(BookingRefused) as refused:
            attempt(engine, case.conf(), case.run_id)
    finally:
        if case.down:
            federation.control.set_faults("MECA-Lisboa", down=False)
    assert any(case.message in line for line in refused.value.messages), refused.value.messages
    assert bookings(engine) == before
    assert vm_count(federation.endpoints) == 0


def test_the_battery_has_at_least_forty_distinct_cases() -> None:
    assert len({case.name for case in BAD}) == len(BAD) >= 40


def test_the_good_booking_is_accepted_with_its_reasons(engine: Engine, federation: SimulatorHandle) -> None:
    request = SessionRequest.from_conf({**GOOD, "region": "MECA-Lisboa"}, now=NOW, config=CONFIG)
    booking = book(engine, request, session_id="good", now=NOW, config=CONFIG)
    assert booking.region == "MECA-Lisboa"
    assert booking.reasons[0].startswith("MECA-Lisboa was asked for: template 'Ubuntu 22.04' Ready")
    assert "capacity from the region, asked now" in booking.reasons[0]


def test_comments_may_hold_tabs_and_line_breaks_and_airflows_own_ids_are_session_ids() -> None:
    conf = {**GOOD, "comments": "room 12\n\tbring a laptop\r\n"}
    assert SessionRequest.from_conf(conf, now=NOW, config=CONFIG).comments == "room 12\n\tbring a laptop"
    for run_id in ("manual__2026-03-04T09:00:00.123456+00:00_Ab3dE6gH", "lab3-2026-12-01", "a" * 100):
        check_session_id(run_id)
    check_session_id("c" * 94, repeats=4)  # its repeat c...c.week4 is 100 characters long
