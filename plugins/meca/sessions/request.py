"""A teacher's session request: read from a DAG run's conf, checked before anything is created.

Everything that needs no I/O is checked here (times, lengths, control characters, limits of
``include/sessions.yaml``), as is the shape of a session id (:func:`check_session_id`);
unknown regions, templates and offerings, and capacity, are checked when the booking is reserved
(:mod:`meca.sessions.booking`). Every problem is reported at once, in words a teacher understands.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from meca.sessions.config import SessionsConfig, load_config

ANY_REGION = "any"
TITLE_MAX = 200
COMMENTS_MAX = 2000
NAME_MAX = 128
FIELDS = (
    "start",
    "end",
    "title",
    "owner",
    "region",
    "template",
    "instances",
    "offering",
    "comments",
    "recurrence_weeks",
    "parts",
)
#: The most regions one session may be split across, and the most VMs one part may ask for (the
#: session's own limit applies to the sum).
MAX_PARTS = 5
MAX_INSTANCES_PER_PART = 1000


#: The text fields of a conf and how a refusal names them.
TEXT_FIELDS = {
    "title": "title",
    "owner": "owner",
    "region": "region",
    "template": "template",
    "offering": "service offering",
    "comments": "comments",
}


#: The longest session id (DAG run id) accepted, weekly suffix ``.week<k>`` included.
SESSION_ID_MAX = 100
#: The shape of a session id: Airflow's own ``allowed_run_id_pattern`` starting with a letter or digit
#: (no ``/``, no space), so that it is safe in URLs, VM names, file names and log paths.
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.~:+-]*")
#: The whitespace allowed in the free-text field ``comments`` only.
COMMENT_WHITESPACE = frozenset("\t\n\r")
#: Characters that change how the text around them is shown (bidirectional marks, embeddings,
#: overrides and isolates): U+200E, U+200F, U+202A-U+202E, U+2066-U+2069.
BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(character: str) -> bool:
    code = ord(character)
    return code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF or character in BIDI_CONTROLS


def control_character_problem(value: str, name: str, *, multiline: bool = False) -> str | None:
    """The refusal of the first control character in ``value``, or ``None`` when it has none.

    Refused: C0 controls (U+0000-U+001F; tab, line feed and carriage return are allowed when
    ``multiline``), DEL and the C1 controls (U+007F-U+009F), lone surrogates (which no database
    stores) and the bidirectional controls of :data:`BIDI_CONTROLS` (a right-to-left override makes
    a title read differently from what it is).

    :param value: the text as given.
    :param name: the field as a teacher names it, e.g. ``title``.
    :param multiline: whether tabs and line breaks are allowed (``comments``).
    :returns: e.g. ``The title contains a control character (U+0000) at position 4: remove it.``;
        the position counts characters from 1.
    """
    for position, character in enumerate(value, start=1):
        if not _is_control(character) or (multiline and character in COMMENT_WHITESPACE):
            continue
        label = unicodedata.name(character, "")
        what = "a text-direction control character" if character in BIDI_CONTROLS else "a control character"
        code = f"U+{ord(character):04X}" + (f" {label}" if label else "")
        return f"The {name} contains {what} ({code}) at position {position}: remove it."
    return None


def session_id_problem(session_id: object, *, repeats: int = 0) -> str | None:
    """Why ``session_id`` cannot be a session's id (its DAG run id), or ``None`` when it can.

    It must match :data:`SESSION_ID_PATTERN` (Airflow's own run id characters, a letter or digit first,
    no ``..``) and be at most :data:`SESSION_ID_MAX` characters long, its weekly repeats' ids
    ``<id>.week<k>`` included.

    :param session_id: the run id given (``dag_run_id`` of a trigger, or the run's own).
    :param repeats: how many weekly repeats the session books (``recurrence_weeks``).
    """
    if not isinstance(session_id, str):
        return f"The session id (run id) must be text (got {session_id!r})."
    shown = session_id if len(session_id) <= 40 else session_id[:40] + "..."
    control = control_character_problem(session_id, "session id (run id)")
    if control is not None:
        return control
    longest = len(session_id) + (len(f".week{repeats}") if repeats > 0 else 0)
    if longest > SESSION_ID_MAX:
        repeat_note = f" with its weekly repeats' suffix .week{repeats}" if repeats > 0 else ""
        return (
            f"The session id (run id) {shown!r} is too long: {longest} characters{repeat_note}, "
            f"at most {SESSION_ID_MAX}."
        )
    if not SESSION_ID_PATTERN.fullmatch(session_id) or ".." in session_id:
        return (
            f"The session id (run id) {shown!r} may only contain letters, digits and . _ ~ : + - "
            "(starting with a letter or a digit, no '..'), like lab3-2026-12-01."
        )
    return None


def check_session_id(session_id: object, *, repeats: int = 0) -> None:
    """Refuse a session id that :func:`session_id_problem` refuses.

    :raises BookingRefused: with that reason.
    """
    problem = session_id_problem(session_id, repeats=repeats)
    if problem is not None:
        raise BookingRefused([problem])


def conf_text_problems(conf: Mapping[str, Any]) -> list[str]:
    """The control-character refusals of the text fields of a DAG run conf (other problems left aside).

    :param conf: the conf as given (only its text values are looked at).
    """
    problems = []
    for field, name in TEXT_FIELDS.items():
        value = conf.get(field)
        if isinstance(value, str):
            problem = control_character_problem(value, name, multiline=field == "comments")
            if problem is not None:
                problems.append(problem)
    return problems


class BookingRefused(ValueError):
    """A booking that cannot be accepted; ``messages`` says why, one sentence per problem.

    :param messages: the teacher-readable reasons.
    :param alternatives: what would fit instead, as JSON (see :class:`meca.sessions.decision.Alternative`).
    """

    def __init__(self, messages: list[str], *, alternatives: list[dict[str, Any]] | None = None) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages
        self.alternatives = alternatives or []


@dataclass(frozen=True)
class Part:
    """One region's share of a session split across regions: ``instances`` VMs in ``region``."""

    region: str
    instances: int

    def to_conf(self) -> dict[str, Any]:
        """As conf: ``{"region": ..., "instances": ...}``."""
        return {"region": self.region, "instances": self.instances}


@dataclass(frozen=True)
class SessionRequest:
    """A checked session request; times are aware UTC datetimes.

    :param start: when the VMs must be Running.
    :param end: when the VMs are torn down.
    :param title: what the session is, e.g. ``Cloud computing lab 3``.
    :param owner: who booked it (an e-mail address finds the home region by institution).
    :param region: a region name, or ``"any"`` to let placement choose.
    :param template: the template name of every VM.
    :param instances: how many VMs.
    :param offering: the service offering name of every VM.
    :param comments: free text for the operators.
    :param recurrence_weeks: how many further weekly occurrences (0 = this one only).
    :param parts: a split across regions (two or more, ``instances`` in all, region ``any``), or
        none: one session, one run, its VMs in each part's region.
    """

    start: datetime
    end: datetime
    title: str
    owner: str
    region: str
    template: str
    instances: int
    offering: str
    comments: str = ""
    recurrence_weeks: int = 0
    parts: tuple[Part, ...] = ()

    @property
    def duration(self) -> timedelta:
        """How long one occurrence lasts."""
        return self.end - self.start

    def occurrences(self) -> list[tuple[datetime, datetime]]:
        """The ``(start, end)`` of this occurrence and of each weekly repeat (every 7 days of 24 h)."""
        week = timedelta(weeks=1)
        return [(self.start + k * week, self.end + k * week) for k in range(self.recurrence_weeks + 1)]

    def to_conf(self) -> dict[str, Any]:
        """The request as DAG run conf (times in ISO 8601 UTC), the inverse of :meth:`from_conf`.

        ``parts`` is there only for a split session.
        """
        conf: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "title": self.title,
            "owner": self.owner,
            "region": self.region,
            "template": self.template,
            "instances": self.instances,
            "offering": self.offering,
            "comments": self.comments,
            "recurrence_weeks": self.recurrence_weeks,
        }
        if self.parts:
            conf["parts"] = [part.to_conf() for part in self.parts]
        return conf

    @classmethod
    def from_conf(
        cls, conf: Mapping[str, Any], *, now: datetime, config: SessionsConfig | None = None
    ) -> SessionRequest:
        """Check a DAG run's conf (or the form's params) and build the request.

        :param conf: the fields of :data:`FIELDS`; ``region`` defaults to ``"any"``, ``comments`` to
            ``""`` and ``recurrence_weeks`` to 0.
        :param now: the current time (aware); the start may not be before it.
        :param config: the booking rules; read from ``include/sessions.yaml`` when not given.
        :raises BookingRefused: listing every problem found.
        """
        rules = config if config is not None else load_config()
        problems: list[str] = []
        unknown = sorted(set(conf) - set(FIELDS))
        if unknown:
            problems.append(
                f"Unknown field(s) {', '.join(map(repr, unknown))}: the fields are {', '.join(FIELDS)}."
            )
        start = _moment(conf.get("start"), "start", problems)
        end = _moment(conf.get("end"), "end", problems)
        title = _text(conf.get("title"), TEXT_FIELDS["title"], TITLE_MAX, problems)
        owner = _text(conf.get("owner"), TEXT_FIELDS["owner"], NAME_MAX, problems)
        region = _text(conf.get("region", ANY_REGION), TEXT_FIELDS["region"], NAME_MAX, problems)
        template = _text(conf.get("template"), TEXT_FIELDS["template"], NAME_MAX, problems)
        offering = _text(conf.get("offering"), TEXT_FIELDS["offering"], NAME_MAX, problems)
        comments = _text(
            conf.get("comments", ""),
            TEXT_FIELDS["comments"],
            COMMENTS_MAX,
            problems,
            required=False,
            multiline=True,
        )
        instances = _whole(conf.get("instances"), "number of instances", 1, rules.max_instances, problems)
        recurrence = _whole(
            conf.get("recurrence_weeks", 0), "weekly recurrence", 0, rules.max_recurrence_weeks, problems
        )
        parts = _parts(conf.get("parts"), instances=instances, region=region, problems=problems)
        if parts and recurrence:
            problems.append("A session split across regions cannot repeat weekly: book each week on its own.")
        if start is not None and end is not None:
            _check_times(start, end, now, rules, problems)
        if problems or start is None or end is None or instances is None or recurrence is None:
            raise BookingRefused(problems)
        return cls(
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            title=title,
            owner=owner,
            region=region,
            template=template,
            instances=instances,
            offering=offering,
            comments=comments,
            recurrence_weeks=recurrence,
            parts=parts,
        )


def _parts(value: Any, *, instances: int | None, region: str, problems: list[str]) -> tuple[Part, ...]:
    """The parts of a split session, checked: 2 to :data:`MAX_PARTS` distinct regions, summing up."""
    if value is None or value == []:
        return ()
    example = '[{"region": "MECA-PolITO", "instances": 6}, {"region": "MECA-BME", "instances": 4}]'
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        problems.append(f"The parts must be a list like {example} (got {value!r:.80}).")
        return ()
    if not 2 <= len(value) <= MAX_PARTS:
        problems.append(f"A split session has 2 to {MAX_PARTS} parts (got {len(value)}).")
        return ()
    parts = []
    for k, item in enumerate(value, start=1):
        unknown = sorted(set(item) - {"region", "instances"})
        if unknown:
            problems.append(
                f"Part {k} has unknown field(s) {', '.join(map(repr, unknown))}: use region and instances."
            )
        name = _text(item.get("region"), f"region of part {k}", NAME_MAX, problems)
        count = _whole(
            item.get("instances"), f"number of instances of part {k}", 1, MAX_INSTANCES_PER_PART, problems
        )
        if name and count is not None:
            parts.append(Part(name, count))
    if len(parts) != len(value):
        return ()
    if len({part.region for part in parts}) != len(parts):
        problems.append("Each part of a split session must be in another region.")
    if region != ANY_REGION:
        problems.append(
            f'A split session leaves the region to its parts: set the region to "any", not {region!r}.'
        )
    total = sum(part.instances for part in parts)
    if instances is not None and total != instances:
        problems.append(f"The parts hold {total} VM(s) in all, but the session has {instances}.")
    return tuple(parts)


def when(moment: datetime) -> str:
    """A date and time as a teacher reads it, in its own offset: ``2025-03-04 10:00 UTC+01:00``."""
    offset = moment.strftime("%z")
    zone = "UTC" if offset in {"+0000", ""} else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{moment:%Y-%m-%d %H:%M} {zone}"


def _check_times(
    start: datetime, end: datetime, now: datetime, rules: SessionsConfig, problems: list[str]
) -> None:
    if end <= start:
        problems.append(f"The end ({when(end)}) must be after the start ({when(start)}).")
    elif end - start > rules.max_duration:
        problems.append(
            f"The session lasts {span(end - start)}; "
            f"the longest session allowed is {span(rules.max_duration)}."
        )
    if start < now:
        problems.append(
            f"The start ({when(start)}) is in the past (it is now {when(now.astimezone(start.tzinfo))})."
        )
    elif start - now > rules.max_advance:
        problems.append(
            f"The start ({when(start)}) is too far ahead: sessions may be booked up to "
            f"{rules.max_advance.days} days in advance."
        )


def span(length: timedelta) -> str:
    """A duration as a teacher reads it: ``1 h 30 min``."""
    minutes = round(length.total_seconds() / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _moment(value: Any, name: str, problems: list[str]) -> datetime | None:
    example = "2025-03-04T09:00:00+01:00"
    if value is None or value == "":
        problems.append(f"The {name} is missing: give a date and time with its time zone, like {example}.")
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        # CPython's parser stops at a NUL: refuse what it would silently drop.
        control = control_character_problem(value, name)
        if control is not None:
            problems.append(control)
            return None
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.append(f"The {name} {value!r} is not a date and time like {example}.")
            return None
    else:
        problems.append(f"The {name} must be a date and time like {example} (got {value!r}).")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        problems.append(
            f"The {name} {value!s} has no time zone: add it, like {example} or {example[:-6]}Z for UTC."
        )
        return None
    return moment


def _text(
    value: Any, name: str, limit: int, problems: list[str], *, required: bool = True, multiline: bool = False
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(f"The {name} must be text (got {value!r}).")
        return ""
    control = control_character_problem(value, name, multiline=multiline)
    if control is not None:
        problems.append(control)
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"The {name} is missing.")
    elif len(value) > limit:
        problems.append(f"The {name} is too long: {len(value)} characters, at most {limit}.")
    return value


def _whole(value: Any, name: str, low: int, high: int, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"The {name} must be a whole number from {low} to {high} (got {value!r}).")
        return None
    if value < low:
        problems.append(f"The {name} must be at least {low} (got {value}).")
    elif value > high:
        problems.append(f"The {name} is {value}; at most {high} are allowed.")
    return value
