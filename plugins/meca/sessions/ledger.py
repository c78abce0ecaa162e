"""The capacity ledger: bookings in the MECA data database, checked and written in one transaction.

Every booking transaction first updates the single ``booking_ledger_lock`` row, so booking
transactions run one at a time on SQLite and PostgreSQL alike: of two concurrent bookings for the
last free capacity exactly one is accepted, and the other sees it and is refused.

A booking holds ``instances`` times its offering's memory and CPU in its region from ``holds_from`` (the
start minus the provisioning lead time) to its end, while it is ``accepted``, ``provisioning`` or
``running`` (:data:`HOLDING`). The capacity left in a region over a window is the region's free
capacity (:class:`~meca.sessions.capacity.RegionCapacity`, with the VMs of sessions Running at its
measurement counted once) minus the peak of what the overlapping holding bookings hold within that
window (:mod:`meca.sessions.decision`).

The states and their moves are in :mod:`meca.sessions.states`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from meca.sessions.capacity import (
    OfferingSize,
    RegionCapacity,
    RegionChoiceInput,
    full_alerts,
    swept_capacity,
)
from meca.sessions.config import SessionsConfig, load_config
from meca.sessions.decision import Availability, Decision, decide, holds_window
from meca.sessions.holds import peak, read_holds
from meca.sessions.placement import Candidate, place
from meca.sessions.request import ANY_REGION, BookingRefused, Part, SessionRequest, span, when
from meca.sessions.states import ACCEPTED, CANCELLED, HOLDING, REFUSED, RUNNING, TRANSITIONS
from meca.store.models import BookingLedgerLock, SessionBooking

LEDGER = "bookings"


class BookingNotFound(LookupError):
    """No booking has the given session id."""


@dataclass(frozen=True)
class Booking:
    """One booked occurrence of a session (times are aware UTC).

    :param session_id: the id of this occurrence (the DAG run id of the session).
    :param series_id: the session id of the first occurrence of a weekly series (its own id otherwise).
    :param occurrence: 0 for the first occurrence, k for the k-th weekly repeat.
    :param region: the region it is placed in.
    :param asked_region: the region the request named, or ``"any"`` (then it may be re-placed).
    :param reasons: why that region was chosen (a re-placement's reason first).
    :param holds_from: when its capacity starts being held (start minus the lead time).
    :param changed_by: who cancelled or extended it last, if anyone.
    :param alternatives: what would have fitted instead, for a refused booking (JSON objects).
    :param running_since: when all its VMs were first Running.
    :param part: 0, or k for the k-th further part of a split session (see :func:`parts_of`).
    """

    session_id: str
    series_id: str
    occurrence: int
    state: str
    region: str
    asked_region: str
    reasons: tuple[str, ...]
    start: datetime
    end: datetime
    holds_from: datetime
    title: str
    owner: str
    template: str
    offering: str
    instances: int
    comments: str
    changed_by: str | None
    alternatives: tuple[dict[str, Any], ...] = ()
    running_since: datetime | None = None
    part: int = 0

    @property
    def holding(self) -> bool:
        """Whether the booking holds capacity in its region (accepted, provisioning or running)."""
        return self.state in HOLDING

    @classmethod
    def from_row(cls, row: SessionBooking) -> Booking:
        """The booking stored in a ``bookings`` row."""
        return cls(
            session_id=row.session_id,
            series_id=row.series_id,
            occurrence=row.occurrence,
            state=row.state,
            region=row.region,
            asked_region=row.asked_region,
            reasons=tuple(json.loads(row.placement)),
            start=row.starts_at,
            end=row.ends_at,
            holds_from=row.holds_from,
            title=row.title,
            owner=row.owner,
            template=row.template,
            offering=row.offering,
            instances=row.instances,
            comments=row.comments,
            changed_by=row.changed_by,
            alternatives=tuple(json.loads(row.alternatives or "[]")),
            running_since=row.running_since,
            part=row.part or 0,
        )

    def to_conf(self) -> dict[str, Any]:
        """This occurrence alone as DAG run conf (times in ISO 8601 UTC, no recurrence)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "title": self.title,
            "owner": self.owner,
            "region": self.asked_region,
            "template": self.template,
            "instances": self.instances,
            "offering": self.offering,
            "comments": self.comments,
            "recurrence_weeks": 0,
        }

    def differences(self, conf: Mapping[str, Any], parts: Sequence[Booking] = ()) -> list[str]:
        """Why a DAG run's conf does not describe this occurrence (empty when it does).

        The times may be given in any offset; ``recurrence_weeks`` is not compared (the first run of a
        series asks for the repeats this booking already holds).

        :param conf: the run's conf or params (see :meth:`SessionRequest.from_conf`).
        :param parts: every part of a split session (:func:`parts_of`), this one first.
        """
        booked = self.to_conf()
        problems = []
        if len(parts) > 1:
            booked["instances"] = sum(part.instances for part in parts)
            split = [{"region": part.region, "instances": part.instances} for part in parts]
            if conf.get("parts") != split:
                problems.append(f"the parts are {conf.get('parts')!r}, the booking's are {split!r}")
        elif conf.get("parts"):
            problems.append(f"the parts are {conf.get('parts')!r}, the booking is not split")
        for field in ("start", "end"):
            if _moment_or_none(conf.get(field)) != getattr(self, field):
                problems.append(f"the {field} is {conf.get(field)!r}, the booking's is {booked[field]}")
        asked = {"region": ANY_REGION, "comments": "", **conf}
        for field in ("title", "owner", "region", "template", "instances", "offering", "comments"):
            value = asked.get(field)
            if (value.strip() if isinstance(value, str) else value or "") != booked[field]:
                problems.append(f"the {field} is {value!r}, the booking's is {booked[field]!r}")
        if not problems:
            return []
        return [f"The session id {self.session_id} is already booked differently: {'; '.join(problems)}."]


def occurrence_id(session_id: str, occurrence: int) -> str:
    """The session id of the ``occurrence``-th weekly repeat (the first keeps ``session_id``)."""
    return session_id if occurrence == 0 else f"{session_id}.week{occurrence}"


def part_id(session_id: str, part: int) -> str:
    """The booking id of the ``part``-th part of a split session (the first keeps ``session_id``)."""
    return session_id if part == 0 else f"{session_id}.part{part}"


def reserve(
    engine: Engine,
    request: SessionRequest,
    *,
    session_id: str,
    regions: list[RegionChoiceInput],
    now: datetime,
    config: SessionsConfig | None = None,
    keep_refusal: bool = False,
) -> Booking:
    """Place the session and book it (every weekly occurrence, all or nothing) in one transaction.

    Booking the same request again under the same session id returns the existing booking, so a
    retried task does not fail.

    :param engine: the MECA data database.
    :param request: the checked request.
    :param session_id: the session's id (the DAG run id); repeats get :func:`occurrence_id`.
    :param regions: what is known about every candidate region (see :mod:`meca.sessions.booking`).
    :param now: the current time, recorded on the rows.
    :param config: the booking rules (lead time, home regions); read from the file when not given.
    :param keep_refusal: store a refusal as a ``refused`` booking under ``session_id`` (the run's
        ``reserve`` does, so the calendar and the API show it); otherwise a refusal changes nothing.
    :returns: the booking of the first occurrence.
    :raises BookingRefused: unknown region, no region able to host it (with the alternatives), or the
        id already used.
    """
    rules = config if config is not None else load_config()
    with engine.begin() as connection:
        _lock(connection)
        existing = _find(connection, session_id)
        if existing is not None:
            return _same_or_refuse(existing, request, session_id, _rows_of(connection, session_id))
        decision = decide_in(connection, request, regions, rules=rules, now=now)
        if decision.placement is None:
            if keep_refusal:
                connection.execute(
                    insert(SessionBooking),
                    [_values(_refused_row(session_id, request.to_conf(), decision, now))],
                )
        else:
            sizes = {f.region.name: f.offering for f in regions}
            shares = request.parts or (Part(decision.placement.region, request.instances),)
            rows = [
                SessionBooking(
                    session_id=part_id(occurrence_id(session_id, k), p),
                    series_id=session_id,
                    occurrence=k,
                    part=p,
                    state=ACCEPTED,
                    region=share.region,
                    asked_region=request.region,
                    title=request.title,
                    owner=request.owner,
                    template=request.template,
                    offering=request.offering,
                    instances=share.instances,
                    vm_memory_bytes=_size(sizes, share.region).memory_bytes,
                    vm_cpu_mhz=_size(sizes, share.region).cpu_mhz,
                    starts_at=start,
                    ends_at=end,
                    holds_from=start - rules.lead_time,
                    placement=json.dumps(decision.placement.reasons),
                    comments=request.comments,
                    created_at=now,
                    changed_at=now,
                )
                for k, (start, end) in enumerate(request.occurrences())
                for p, share in enumerate(shares)
            ]
            connection.execute(insert(SessionBooking), [_values(row) for row in rows])
    if decision.placement is None:
        raise decision.refusal()
    return Booking.from_row(rows[0])


def decide_in(
    connection: Connection,
    request: SessionRequest,
    regions: list[RegionChoiceInput],
    *,
    rules: SessionsConfig,
    now: datetime,
    exclude: str | None = None,
) -> Decision:
    """The booking decision for ``request`` with the ledger as ``connection`` sees it (nothing written).

    :param regions: what every registered region can give; the open full alerts are added here.
    :param exclude: a session whose own hold is left out.
    """
    alerts = full_alerts(connection)
    facts = [_with_alert(f, alerts.get(f.region.name)) for f in regions]
    since, until = holds_window(request, facts, rules, now)
    availability = Availability(read_holds(connection, since, until), rules.lead_time, exclude=exclude)
    return decide(request, facts, availability, rules=rules, now=now)


def check(
    engine: Engine,
    request: SessionRequest,
    regions: list[RegionChoiceInput],
    *,
    now: datetime,
    config: SessionsConfig | None = None,
) -> Decision:
    """The decision :func:`reserve` would make now, without booking (the calendar's check)."""
    rules = config if config is not None else load_config()
    with engine.connect() as connection:
        return decide_in(connection, request, regions, rules=rules, now=now)


def record_refusal(
    engine: Engine, session_id: str, conf: Mapping[str, Any], refused: BookingRefused, *, now: datetime
) -> Booking:
    """Store a run's refusal that came before any placement (a conf the rules refuse) as ``refused``.

    The conf's text is cleaned of control characters and cut to the column sizes; times that cannot
    be read are stored as ``now``. Nothing is held. An id already in the ledger is left as it is.
    """
    decision = Decision(None, tuple(refused.messages))
    with engine.begin() as connection:
        _lock(connection)
        existing = _find(connection, session_id)
        if existing is not None:
            return Booking.from_row(existing)
        row = _refused_row(session_id, conf, decision, now)
        connection.execute(insert(SessionBooking), [_values(row)])
    return Booking.from_row(row)


def get_booking(engine: Engine, session_id: str) -> Booking | None:
    """The booking of ``session_id``, or ``None``."""
    with engine.connect() as connection:
        row = _find(connection, session_id)
    return None if row is None else Booking.from_row(row)


def parts_of(engine: Engine, session_id: str) -> list[Booking]:
    """Every part of the session's booking, the session's own first (one for a session not split)."""
    with engine.connect() as connection:
        return [Booking.from_row(row) for row in _rows_of(connection, session_id)]


def repeats_of(engine: Engine, series_id: str) -> list[Booking]:
    """The later weekly occurrences (1, 2, ...) booked with the series first booked as ``series_id``."""
    table = SessionBooking.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            select(table)
            .where(
                SessionBooking.series_id == series_id,
                SessionBooking.occurrence > 0,
                SessionBooking.part == 0,
            )
            .order_by(SessionBooking.occurrence)
        ).all()
    return [Booking.from_row(SessionBooking(**row._mapping)) for row in rows]


def bookings_between(
    engine: Engine, since: datetime, until: datetime, *, states: tuple[str, ...] = HOLDING
) -> list[Booking]:
    """The bookings in ``states`` whose session overlaps ``[since, until)``, by start (for the calendar)."""
    table = SessionBooking.__table__
    with engine.connect() as connection:
        rows = connection.execute(
            select(table)
            .where(
                SessionBooking.state.in_(states),
                SessionBooking.starts_at < until,
                SessionBooking.ends_at > since,
            )
            .order_by(SessionBooking.starts_at, SessionBooking.session_id)
        ).all()
    return [Booking.from_row(SessionBooking(**row._mapping)) for row in rows]


def cancel(engine: Engine, session_id: str, *, by: str, now: datetime) -> Booking:
    """Cancel a booking that has not ended; its capacity is free again at once.

    Cancelling a cancelled booking returns it unchanged.

    :raises BookingNotFound: for an unknown session id.
    :raises BookingRefused: when the session has already ended, failed or was refused.
    """
    with engine.begin() as connection:
        _lock(connection)
        row = _row(connection, session_id)
        if row.state == CANCELLED:
            return Booking.from_row(row)
        if row.state not in HOLDING:
            raise BookingRefused([f"The session {session_id} is {row.state}; it cannot be cancelled."])
        if row.ends_at <= now:
            raise BookingRefused(
                [f"The session {session_id} ended at {when(row.ends_at)}; it cannot be cancelled."]
            )
        for part in _rows_of(connection, session_id)[1:]:
            _update(connection, part, state=CANCELLED, changed_at=now, changed_by=by)
        return _update(connection, row, state=CANCELLED, changed_at=now, changed_by=by)


def advance(
    engine: Engine, session_id: str, state: str, *, now: datetime, reason: str | None = None
) -> Booking:
    """Move a booking on in its lifecycle (:data:`meca.sessions.states.TRANSITIONS`).

    A move to the state it is already in, or from a final state (cancelled, refused, ended, failed),
    changes nothing and returns the booking as it is: the run's tasks may be retried, and a
    cancellation wins over a late report. ``running`` records ``running_since``; ``failed`` adds
    ``reason`` to the booking's reasons.

    :raises BookingNotFound: for an unknown session id.
    """
    with engine.begin() as connection:
        _lock(connection)
        rows = _rows_of(connection, session_id)
        if not rows:
            raise BookingNotFound(f"no booking has session id {session_id!r}")
        moved = []
        for row in rows:  # every part of a split session moves with it
            if state not in TRANSITIONS.get(row.state, frozenset()):
                moved.append(Booking.from_row(row))
                continue
            changes: dict[str, object] = {"state": state, "changed_at": now}
            if state == RUNNING:
                changes["running_since"] = now
            if reason is not None:
                changes["placement"] = json.dumps([*json.loads(row.placement), reason])
            moved.append(_update(connection, row, **changes))
        return moved[0]


def extend(
    engine: Engine,
    session_id: str,
    new_end: datetime,
    *,
    by: str,
    now: datetime,
    capacity: RegionCapacity | None = None,
    config: SessionsConfig | None = None,
) -> Booking:
    """Move the end of a holding, unfinished booking later, when its region has room until then.

    The session's own VMs are counted once: its hold is left out of the window, and when they were
    Running at the region's measurement, they are added back to the measured free capacity.

    :param capacity: the region's free capacity; the latest sweep's when not given.
    :raises BookingNotFound: for an unknown session id.
    :raises BookingRefused: not holding, ended, not later, too long, or no room in the region.
    """
    rules = config if config is not None else load_config()
    with engine.begin() as connection:
        _lock(connection)
        row = _row(connection, session_id)
        problems = _extension_problems(row, new_end, now, rules)
        parts = _rows_of(connection, session_id)
        if not problems:
            for part in parts:  # each part of a split session needs room in its own region
                problems.extend(_room_to_extend(connection, part, new_end, capacity, rules))
        if problems:
            raise BookingRefused(problems)
        new_end = new_end.astimezone(row.ends_at.tzinfo)
        for part in parts[1:]:
            _update(connection, part, ends_at=new_end, changed_at=now, changed_by=by)
        return _update(connection, row, ends_at=new_end, changed_at=now, changed_by=by)


def _room_to_extend(
    connection: Connection,
    row: SessionBooking,
    new_end: datetime,
    capacity: RegionCapacity | None,
    rules: SessionsConfig,
) -> list[str]:
    """Why the booking's region has no room for it until ``new_end`` (nothing when it has)."""
    baseline = capacity if capacity is not None else swept_capacity(connection, row.region)
    if baseline is None:
        return [f"Region {row.region} has no capacity figures yet: try again after the next sweep."]
    size = OfferingSize(row.offering, row.vm_memory_bytes, row.vm_cpu_mhz)
    since = min(baseline.measured_at, row.ends_at)
    availability = Availability(
        read_holds(connection, since, new_end, regions=[row.region]), rules.lead_time, exclude=row.session_id
    )
    memory, cpu = peak(availability.holds, row.region, row.ends_at, new_end, exclude=row.session_id)
    free = availability.baseline(row.region, baseline).fits(size, memory, cpu)
    if free >= row.instances:
        return []
    zone = row.ends_at.tzinfo
    return [
        f"Region {row.region} has room for only {free} VM(s) of '{row.offering}' "
        f"between {when(row.ends_at)} and {when(new_end.astimezone(zone))}, "
        f"and the session has {row.instances}."
    ]


def move(
    engine: Engine,
    session_id: str,
    regions: list[RegionChoiceInput],
    *,
    reason: str,
    now: datetime,
    config: SessionsConfig | None = None,
) -> Booking:
    """Place an accepted booking of "any" region again, away from its region, in one transaction.

    The booking is placed as a new one would be (home region first, then by room and distance) among
    ``regions`` other than its own, with the capacity it needs from its provisioning time to its end
    checked under the ledger lock. Its stored reasons become ``reason`` followed by the new ones.

    :param engine: the MECA data database.
    :param session_id: the session (its DAG run id).
    :param regions: what is known about the candidate regions (see :mod:`meca.sessions.booking`).
    :param reason: why it moves, e.g. ``re-placed: MECA-BME unreachable at provision time``.
    :param now: the current time, recorded on the row.
    :param config: the booking rules (home regions); read from the file when not given.
    :raises BookingNotFound: for an unknown session id.
    :raises BookingRefused: not holding, booked for a named region, or no other region can host it.
    """
    rules = config if config is not None else load_config()
    with engine.begin() as connection:
        _lock(connection)
        row = _row(connection, session_id)
        if row.state not in HOLDING:
            raise BookingRefused([f"The session {session_id} is {row.state}; it cannot be re-placed."])
        if row.asked_region != ANY_REGION:
            raise BookingRefused(
                [f"The session {session_id} was booked in region {row.asked_region} by name; it stays there."]
            )
        if row.part or len(_rows_of(connection, session_id)) > 1:
            raise BookingRefused([f"The session {session_id} is split across regions; its parts stay there."])
        request = _request_of(row)
        others = [facts for facts in regions if facts.region.name != row.region]
        if not others:
            raise BookingRefused(
                [f"No region other than {row.region} is registered to move {session_id} to."]
            )
        since, until = holds_window(request, others, rules, now)
        availability = Availability(read_holds(connection, since, until), rules.lead_time, exclude=session_id)
        window = [(row.holds_from, row.ends_at)]
        candidates = [
            Candidate(facts=facts, free_instances=availability.free_instances(facts, window))
            for facts in others
        ]
        placement = place(request, candidates, home=rules.home_region(row.owner))
        size = next(c.facts.offering for c in candidates if c.name == placement.region)
        assert size is not None
        return _update(
            connection,
            row,
            region=placement.region,
            vm_memory_bytes=size.memory_bytes,
            vm_cpu_mhz=size.cpu_mhz,
            placement=json.dumps([reason, *placement.reasons]),
            changed_at=now,
        )


def held_capacity(
    connection: Connection, region: str, since: datetime, until: datetime, *, exclude: str | None = None
) -> tuple[int, int]:
    """The peak memory (bytes) and CPU (MHz) the holding bookings of ``region`` hold within a window.

    :param exclude: a session id whose booking is left out (the one being extended).
    """
    return peak(read_holds(connection, since, until, regions=[region]), region, since, until, exclude=exclude)


def _lock(connection: Connection) -> None:
    """Take the ledger lock for the rest of the transaction (the first statement of it)."""
    result = connection.execute(
        update(BookingLedgerLock)
        .where(BookingLedgerLock.name == LEDGER)
        .values(version=BookingLedgerLock.version + 1)
    )
    if result.rowcount != 1:
        raise RuntimeError(
            "the booking ledger lock row is missing: migrate the MECA data database "
            "(python -m meca.store.migrate upgrade)"
        )


def _with_alert(facts: RegionChoiceInput, rule: str | None) -> RegionChoiceInput:
    if rule is None or facts.full_alert is not None:
        return facts
    return replace(facts, full_alert=rule)


def _refused_row(
    session_id: str, conf: Mapping[str, Any], decision: Decision, now: datetime
) -> SessionBooking:
    """A ``refused`` booking from whatever the conf holds (cleaned text, unreadable times as ``now``)."""
    start = _moment_or_none(conf.get("start")) or now
    end = _moment_or_none(conf.get("end")) or start
    instances = conf.get("instances")
    return SessionBooking(
        session_id=session_id,
        series_id=session_id,
        occurrence=0,
        part=0,
        state=REFUSED,
        region=_clean(conf.get("region", ANY_REGION), 64) or ANY_REGION,
        asked_region=_clean(conf.get("region", ANY_REGION), 64) or ANY_REGION,
        title=_clean(conf.get("title"), 200),
        owner=_clean(conf.get("owner"), 128),
        template=_clean(conf.get("template"), 128),
        offering=_clean(conf.get("offering"), 128),
        instances=instances if type(instances) is int and 0 <= instances < 2**31 else 0,
        vm_memory_bytes=0,
        vm_cpu_mhz=0,
        starts_at=start.astimezone(UTC),
        ends_at=max(end, start).astimezone(UTC),
        holds_from=start.astimezone(UTC),
        placement=json.dumps(list(decision.problems)),
        alternatives=json.dumps([a.to_json() for a in decision.alternatives]),
        comments=_clean(conf.get("comments"), 2000),
        created_at=now,
        changed_at=now,
    )


def _clean(value: Any, limit: int) -> str:
    """``value`` as text without control or bidi characters, cut to ``limit`` characters."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cf"}).strip()[:limit]


def _request_of(row: SessionBooking) -> SessionRequest:
    """The request of one booked occurrence, open to any region (to place it again)."""
    return SessionRequest(
        start=row.starts_at,
        end=row.ends_at,
        title=row.title,
        owner=row.owner,
        region=ANY_REGION,
        template=row.template,
        instances=row.instances,
        offering=row.offering,
        comments=row.comments,
    )


def _extension_problems(
    row: SessionBooking, new_end: datetime, now: datetime, rules: SessionsConfig
) -> list[str]:
    if row.state not in HOLDING:
        return [f"The session {row.session_id} is {row.state}; it cannot be extended."]
    if row.ends_at <= now:
        return [f"The session {row.session_id} ended at {when(row.ends_at)}; it cannot be extended."]
    if new_end <= row.ends_at:
        return [f"The new end ({when(new_end)}) must be after the current end ({when(row.ends_at)})."]
    if new_end - row.starts_at > rules.max_duration:
        return [
            f"The session would last {span(new_end - row.starts_at)}; "
            f"the longest session allowed is {span(rules.max_duration)}."
        ]
    return []


def _same_or_refuse(
    existing: SessionBooking, request: SessionRequest, session_id: str, parts: list[SessionBooking]
) -> Booking:
    if existing.state == REFUSED:
        booked = Booking.from_row(existing)
        raise BookingRefused(list(booked.reasons), alternatives=list(booked.alternatives))
    same = (
        existing.state in HOLDING
        and existing.starts_at == request.start
        and existing.ends_at == request.end
        and (existing.title, existing.owner, existing.template, existing.offering)
        == (request.title, request.owner, request.template, request.offering)
        and sum(part.instances for part in parts) == request.instances
        and tuple(Part(part.region, part.instances) for part in parts)
        == (request.parts or (Part(existing.region, existing.instances),))
        and request.region in (ANY_REGION, existing.region)
    )
    if not same:
        raise BookingRefused(
            [f"The session id {session_id} is already used by another booking ('{existing.title}')."]
        )
    return Booking.from_row(existing)


def _find(connection: Connection, session_id: str) -> SessionBooking | None:
    row = connection.execute(
        select(SessionBooking.__table__).where(SessionBooking.session_id == session_id)
    ).one_or_none()
    return None if row is None else SessionBooking(**row._mapping)


def _rows_of(connection: Connection, session_id: str) -> list[SessionBooking]:
    """The session's row and those of its further parts (a split session), by part."""
    rows = connection.execute(
        select(SessionBooking.__table__)
        .where(
            (SessionBooking.session_id == session_id)
            | ((SessionBooking.series_id == session_id) & (SessionBooking.part > 0))
        )
        .order_by(SessionBooking.part)
    ).all()
    return [SessionBooking(**row._mapping) for row in rows]


def _size(sizes: Mapping[str, OfferingSize | None], region: str) -> OfferingSize:
    size = sizes.get(region)
    if size is None:
        raise RuntimeError(f"region {region} was placed without an offering size")
    return size


def _row(connection: Connection, session_id: str) -> SessionBooking:
    row = _find(connection, session_id)
    if row is None:
        raise BookingNotFound(f"no booking has session id {session_id!r}")
    return row


def _update(connection: Connection, row: SessionBooking, **changes: object) -> Booking:
    """Write ``changes`` to the booking's row; return the booking as it now is."""
    connection.execute(
        update(SessionBooking).where(SessionBooking.session_id == row.session_id).values(**changes)
    )
    return Booking.from_row(SessionBooking(**{**_values(row), **changes}))


def _values(row: SessionBooking) -> dict[str, object]:
    return {column.key: getattr(row, column.key) for column in SessionBooking.__table__.columns}


def _moment_or_none(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.utcoffset() is not None else None
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None
