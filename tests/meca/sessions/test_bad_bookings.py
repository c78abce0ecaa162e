"""A battery of bad bookings, each refused with its message, with nothing created anywhere.

Every case goes the whole way a booking goes: ``SessionRequest.from_conf`` then ``book`` against the
simulated federation and a migrated MECA data database; afterwards no booking row exists for the
session and no VM exists in any region.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
from meca.sessions.config import SessionsConfig
from meca.sessions.request import BookingRefused, SessionRequest
from meca.store import models
from meca.store.migrate import upgrade
from meca.store.registry import ensure_region
from tests.meca.sessions.federation import vm_count

NOW = datetime.now(UTC).replace(microsecond=0)
START = (NOW + timedelta(days=2)).replace(minute=0, second=0)
CONFIG = SessionsConfig(
    max_instances=10,
    max_duration=timedelta(hours=4),
    max_recurrence_weeks=4,
    max_advance=timedelta(days=60),
    home_institutions={"polito.it": "MECA-PolITO"},
)
GOOD: dict[str, Any] = {
    "start": START.isoformat(),
    "end": (START + timedelta(hours=2)).isoformat(),
    "title": "Cloud lab",
    "owner": "alice@polito.it",
    "region": "any",
    "template": "Ubuntu 22.04",
    "instances": 2,
    "offering": "Small",
}


def at(delta: timedelta) -> str:
    return (START + delta).isoformat()


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("end before start", {"end": at(-timedelta(hours=1))}, "must be after the start"),
    ("end equals start", {"end": at(timedelta())}, "must be after the start"),
    ("start in the past", {"start": (NOW - timedelta(hours=1)).isoformat()}, "is in the past"),
    ("too long", {"end": at(timedelta(hours=5))}, "the longest session allowed is 4 h 00 min"),
    (
        "too far ahead",
        {
            "start": (NOW + timedelta(days=90)).isoformat(),
            "end": (NOW + timedelta(days=90, hours=1)).isoformat(),
        },
        "too far ahead",
    ),
    ("start missing", {"start": None}, "The start is missing"),
    ("start not a date", {"start": "tomorrow at 9"}, "is not a date and time"),
    ("start without time zone", {"start": START.replace(tzinfo=None).isoformat()}, "has no time zone"),
    ("end not a date", {"end": "soon"}, "The end 'soon' is not a date and time"),
    ("title blank", {"title": "   "}, "The title is missing."),
    ("title too long", {"title": "x" * 201}, "The title is too long: 201 characters, at most 200."),
    ("owner missing", {"owner": None}, "The owner is missing."),
    ("no instances", {"instances": 0}, "The number of instances must be at least 1"),
    ("too many instances", {"instances": 11}, "The number of instances is 11; at most 10 are allowed."),
    ("instances as words", {"instances": "five"}, "must be a whole number from 1 to 10"),
    ("instances as a boolean", {"instances": True}, "must be a whole number from 1 to 10"),
    ("negative recurrence", {"recurrence_weeks": -1}, "The weekly recurrence must be at least 0"),
    ("recurrence too long", {"recurrence_weeks": 5}, "The weekly recurrence is 5; at most 4 are allowed."),
    ("misspelt field", {"instance": 3}, "Unknown field(s) 'instance'"),
    ("template not text", {"template": 42}, "The template must be text"),
    ("offering missing", {"offering": ""}, "The service offering is missing."),
    (
        "unknown region",
        {"region": "MECA-Mars"},
        "The region 'MECA-Mars' is not one of the federation's regions",
    ),
    (
        "unknown template",
        {"template": "Windows 95"},
        "The template 'Windows 95' is not Ready in any region; the valid names are Lab VM, Ubuntu 22.04.",
    ),
    (
        "unknown offering",
        {"offering": "Huge"},
        "The service offering 'Huge' does not exist in any region; the valid names are Large, Small.",
    ),
    (
        "template missing in the asked region",
        {"region": "MECA-Lisboa", "template": "Lab VM"},
        "The template 'Lab VM' is not Ready in region MECA-Lisboa; the valid names are Ubuntu 22.04.",
    ),
    (
        "more than the asked region holds",
        {"region": "MECA-Lisboa", "offering": "Large", "instances": 10},
        "MECA-Lisboa has room for only",
    ),
    ("overlap that does not fit", {"region": "MECA-PolITO"}, "MECA-PolITO has room for only 1 VM(s)"),
    (
        "region marked full",
        {"region": "MECA-BME"},
        "MECA-BME is marked full by the monitoring rule 'bme-full'.",
    ),
    ("asked region down", {"region": "MECA-Lisboa", "_down": True}, "MECA-Lisboa could not be asked"),
]


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
    request = SessionRequest.from_conf(conf, now=NOW, config=CONFIG)
    book(engine, request, session_id=session_id, now=NOW, config=CONFIG)


def bookings(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(models.SessionBooking))


@pytest.mark.parametrize(("case", "change", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_booking_is_refused_and_creates_nothing(
    case: str, change: dict[str, Any], message: str, engine: Engine, federation: SimulatorHandle
) -> None:
    change = dict(change)
    down = change.pop("_down", False)
    conf = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    before = bookings(engine)
    if down:
        federation.control.set_faults("MECA-Lisboa", down=True)
    try:
        with pytest.raises(BookingRefused) as refused:
            attempt(engine, conf, f"bad-{case}")
    finally:
        if down:
            federation.control.set_faults("MECA-Lisboa", down=False)
    assert any(message in line for line in refused.value.messages), refused.value.messages
    assert bookings(engine) == before
    assert vm_count(federation.endpoints) == 0


def test_the_battery_has_at_least_twenty_cases() -> None:
    assert len({case for case, _, _ in BAD}) >= 20


def test_the_good_booking_is_accepted_with_its_reasons(engine: Engine, federation: SimulatorHandle) -> None:
    request = SessionRequest.from_conf({**GOOD, "region": "MECA-Lisboa"}, now=NOW, config=CONFIG)
    booking = book(engine, request, session_id="good", now=NOW, config=CONFIG)
    assert booking.region == "MECA-Lisboa"
    assert booking.reasons[0].startswith("MECA-Lisboa was asked for: template 'Ubuntu 22.04' Ready")
    assert "capacity from the region, asked now" in booking.reasons[0]
