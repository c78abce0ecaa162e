"""The bad bookings every way of booking must refuse with its message, in one list for every battery.

:data:`BAD` is read by ``tests/meca/sessions/test_bad_bookings.py`` (the whole booking path against
the simulated federation) and ``tests/meca/web/test_bad_booking_battery.py`` (the calendar's check
and Airflow's REST trigger). Each case says where it is refused (:class:`Where`); a new way of
booking (an API endpoint) adds its own member and marks the cases it must refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from meca.sessions.config import SessionsConfig

NOW = datetime.now(UTC).replace(microsecond=0)
START = (NOW + timedelta(days=2)).replace(minute=0, second=0)
#: The booking rules of the federation battery (``include/sessions.yaml`` has wider limits).
CONFIG = SessionsConfig(
    max_instances=10,
    max_duration=timedelta(hours=4),
    max_recurrence_weeks=4,
    max_advance=timedelta(days=60),
    home_institutions={"polito.it": "MECA-PolITO"},
)
#: A booking every battery accepts; each case changes it.
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
#: The run id of a case that is not about the run id.
GOOD_RUN_ID = "bad-booking"


class Where(Enum):
    """Where a bad booking is refused, besides the run's ``reserve`` task, which refuses them all."""

    #: The calendar's ``POST /meca/calendar/api/check`` (checks that need neither I/O nor the
    #: limits of :data:`CONFIG`, which differ from ``include/sessions.yaml``).
    CHECK = "check"
    #: ``POST /api/v2/dags/meca_classroom_session/dagRuns``, before any run exists (the session DAG guard).
    TRIGGER = "trigger"


@dataclass(frozen=True)
class BadBooking:
    """One bad booking.

    :param name: what is wrong, the test id.
    :param change: the fields changed in :data:`GOOD` (``None`` removes the field).
    :param message: a part of the refusal every place that refuses it says.
    :param run_id: the run id (session id) it is booked with.
    :param where: where else than ``reserve`` it is refused.
    :param down: whether the asked region is down while it is booked (federation battery only).
    """

    name: str
    change: Mapping[str, Any]
    message: str
    run_id: str = GOOD_RUN_ID
    where: frozenset[Where] = field(default_factory=frozenset)
    down: bool = False

    def conf(self) -> dict[str, Any]:
        """:data:`GOOD` with :attr:`change` applied."""
        return {key: value for key, value in {**GOOD, **self.change}.items() if value is not None}


def at(delta: timedelta) -> str:
    return (START + delta).isoformat()


CHECKED = frozenset({Where.CHECK})
EVERYWHERE = frozenset({Where.CHECK, Where.TRIGGER})
ONLY_TRIGGER = frozenset({Where.TRIGGER})
LONG_ID = "lab-" + "x" * 296

BAD: list[BadBooking] = [
    BadBooking(
        "end before start", {"end": at(-timedelta(hours=1))}, "must be after the start", where=CHECKED
    ),
    BadBooking("end equals start", {"end": at(timedelta())}, "must be after the start", where=CHECKED),
    BadBooking(
        "start in the past",
        {"start": (NOW - timedelta(hours=1)).isoformat()},
        "is in the past",
        where=CHECKED,
    ),
    BadBooking("too long", {"end": at(timedelta(hours=5))}, "the longest session allowed is 4 h 00 min"),
    BadBooking(
        "too far ahead",
        {
            "start": (NOW + timedelta(days=90)).isoformat(),
            "end": (NOW + timedelta(days=90, hours=1)).isoformat(),
        },
        "too far ahead",
    ),
    BadBooking("start missing", {"start": None}, "The start is missing", where=CHECKED),
    BadBooking("start not a date", {"start": "tomorrow at 9"}, "is not a date and time", where=CHECKED),
    BadBooking(
        "start without time zone",
        {"start": START.replace(tzinfo=None).isoformat()},
        "has no time zone",
        where=CHECKED,
    ),
    BadBooking("end not a date", {"end": "soon"}, "The end 'soon' is not a date and time", where=CHECKED),
    BadBooking(
        "start with NUL",
        {"start": GOOD["start"] + "\x00"},
        f"The start contains a control character (U+0000) at position {len(GOOD['start']) + 1}: remove it.",
        where=CHECKED,
    ),
    BadBooking("title blank", {"title": "   "}, "The title is missing.", where=CHECKED),
    BadBooking(
        "title too long",
        {"title": "x" * 201},
        "The title is too long: 201 characters, at most 200.",
        where=CHECKED,
    ),
    BadBooking("owner missing", {"owner": None}, "The owner is missing.", where=CHECKED),
    BadBooking("no instances", {"instances": 0}, "The number of instances must be at least 1", where=CHECKED),
    BadBooking(
        "too many instances", {"instances": 11}, "The number of instances is 11; at most 10 are allowed."
    ),
    BadBooking(
        "instances as words", {"instances": "five"}, "must be a whole number from 1 to", where=CHECKED
    ),
    BadBooking(
        "instances as a boolean", {"instances": True}, "must be a whole number from 1 to", where=CHECKED
    ),
    BadBooking(
        "negative recurrence",
        {"recurrence_weeks": -1},
        "The weekly recurrence must be at least 0",
        where=CHECKED,
    ),
    BadBooking(
        "recurrence too long", {"recurrence_weeks": 5}, "The weekly recurrence is 5; at most 4 are allowed."
    ),
    BadBooking("misspelt field", {"instance": 3}, "Unknown field(s) 'instance'", where=CHECKED),
    BadBooking("template not text", {"template": 42}, "The template must be text", where=CHECKED),
    BadBooking("offering missing", {"offering": ""}, "The service offering is missing.", where=CHECKED),
    # Control characters, in every text field (only comments may hold tabs and line breaks).
    BadBooking(
        "title with NUL",
        {"title": "Lab\x00 3"},
        "The title contains a control character (U+0000) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a right-to-left override",
        {"title": "Lab \u202e3 bal"},
        "The title contains a text-direction control character (U+202E RIGHT-TO-LEFT OVERRIDE) at position 5",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a left-to-right isolate",
        {"title": "\u2066Lab"},
        "The title contains a text-direction control character (U+2066 LEFT-TO-RIGHT ISOLATE) at position 1",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a right-to-left mark",
        {"title": "Lab\u200f"},
        "The title contains a text-direction control character (U+200F RIGHT-TO-LEFT MARK) at position 4",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a tab",
        {"title": "Lab\t3"},
        "The title contains a control character (U+0009) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a line break",
        {"title": "Lab\n3"},
        "The title contains a control character (U+000A) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with DEL",
        {"title": "Lab\x7f"},
        "The title contains a control character (U+007F) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "title with a C1 control",
        {"title": "Lab\x9b31m"},
        "The title contains a control character (U+009B) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "owner with NUL",
        {"owner": "alice@polito.it\x00"},
        "The owner contains a control character (U+0000) at position 16: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "template with ESC",
        {"template": "Ubuntu\x1b[2J"},
        "The template contains a control character (U+001B) at position 7: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "offering with a left-to-right override",
        {"offering": "\u202dSmall"},
        "The service offering contains a text-direction control character (U+202D LEFT-TO-RIGHT OVERRIDE)",
        where=EVERYWHERE,
    ),
    BadBooking(
        "region with NUL",
        {"region": "any\x00"},
        "The region contains a control character (U+0000) at position 4: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "comments with NUL",
        {"comments": "room 12\n\tbring\x00"},
        "The comments contains a control character (U+0000) at position 15: remove it.",
        where=EVERYWHERE,
    ),
    BadBooking(
        "comments with a right-to-left override",
        {"comments": "room \u202e21"},
        "The comments contains a text-direction control character (U+202E RIGHT-TO-LEFT OVERRIDE)",
        where=EVERYWHERE,
    ),
    # Run ids (session ids): bounded, and of the shape Airflow allows, a letter or digit first.
    BadBooking(
        "run id of 300 characters",
        {},
        "The session id (run id) 'lab-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is too long: 300 characters, "
        "at most 100.",
        run_id=LONG_ID,
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id of 101 characters",
        {},
        "is too long: 101 characters, at most 100.",
        run_id="a" * 101,
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id too long for its weekly repeats",
        {"recurrence_weeks": 3},
        "is too long: 101 characters with its weekly repeats' suffix .week3, at most 100.",
        run_id="b" * 95,
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id with a slash",
        {},
        "The session id (run id) 'lab/3' may only contain letters, digits and . _ ~ : + -",
        run_id="lab/3",
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id with a space", {}, "may only contain letters, digits", run_id="lab 3", where=ONLY_TRIGGER
    ),
    BadBooking("run id with ..", {}, "no '..'", run_id="lab..3", where=ONLY_TRIGGER),
    BadBooking(
        "run id starting with a dash",
        {},
        "starting with a letter or a digit",
        run_id="-lab3",
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id with NUL",
        {},
        "The session id (run id) contains a control character (U+0000) at position 4: remove it.",
        run_id="lab\x003",
        where=ONLY_TRIGGER,
    ),
    BadBooking(
        "run id with a right-to-left override",
        {},
        "The session id (run id) contains a text-direction control character (U+202E",
        run_id="lab\u202e3",
        where=ONLY_TRIGGER,
    ),
    # Refused with the federation's facts (reserve; the calendar's check once it runs every rule).
    BadBooking(
        "unknown region",
        {"region": "MECA-Mars"},
        "The region 'MECA-Mars' is not one of the federation's regions",
    ),
    BadBooking(
        "unknown template",
        {"template": "Windows 95"},
        "The template 'Windows 95' is not Ready in any region; the valid names are Lab VM, Ubuntu 22.04.",
    ),
    BadBooking(
        "unknown offering",
        {"offering": "Huge"},
        "The service offering 'Huge' does not exist in any region; the valid names are Large, Small.",
    ),
    BadBooking(
        "template missing in the asked region",
        {"region": "MECA-Lisboa", "template": "Lab VM"},
        "The template 'Lab VM' is not Ready in region MECA-Lisboa; the valid names are Ubuntu 22.04.",
    ),
    BadBooking(
        "more than the asked region holds",
        {"region": "MECA-Lisboa", "offering": "Large", "instances": 10},
        "MECA-Lisboa has room for only",
    ),
    BadBooking(
        "overlap that does not fit", {"region": "MECA-PolITO"}, "MECA-PolITO has room for only 1 VM(s)"
    ),
    BadBooking(
        "region marked full",
        {"region": "MECA-BME"},
        "MECA-BME is marked full by the monitoring rule 'bme-full'.",
    ),
    BadBooking("asked region down", {"region": "MECA-Lisboa"}, "MECA-Lisboa could not be asked", down=True),
]


def cases(where: Where | None = None) -> list[BadBooking]:
    """The cases of :data:`BAD` refused at ``where`` (every case when ``None``)."""
    return [case for case in BAD if where is None or where in case.where]
