"""The booking decision: where a session goes, or every reason it cannot, with what would fit instead.

One function decides, for the calendar's check, the booking endpoint and the run's ``reserve`` alike
(:func:`decide`): it is given what each region can give (:class:`RegionChoiceInput`), the holds of
the live bookings (:mod:`meca.sessions.holds`) and the rules, and does no I/O itself. A refusal comes
with **alternatives**, each a complete conf a teacher can book as it is:

- ``slot``: the nearest free slots of the same length in the requested region (or any region when
  the request left it open): the same day first (earlier or later), then the following days at the
  nearest time of day, within the booking horizon, between :data:`DAY_STARTS` and :data:`DAY_ENDS`
  (UTC);
- ``region``: the other regions able to host the requested slot, ranked as placement ranks them;
- ``split``: when no single region can host the slot, the class split across regions (the home
  region first, then the nearest), each part as large as its region allows: one session, one run.

A split request (``parts``) is placed part by part, each in its own region with the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

from meca.regions import distance_km
from meca.sessions.capacity import RegionCapacity, RegionChoiceInput
from meca.sessions.config import SessionsConfig
from meca.sessions.holds import Hold, measured_running, peak
from meca.sessions.placement import Candidate, Placement, place, unknown_region
from meca.sessions.request import ANY_REGION, MAX_PARTS, BookingRefused, Part, SessionRequest, when

#: Alternative slots start on this grid, between these times of day (UTC).
SLOT_STEP = timedelta(minutes=30)
DAY_STARTS = time(6, 0)
DAY_ENDS = time(20, 0)
#: How many alternatives of each kind are proposed.
MAX_SLOTS = 3
MAX_REGIONS = 3


@dataclass(frozen=True)
class Alternative:
    """Something that would fit instead of a refused request.

    :param kind: ``slot`` (another time), ``region`` (another region) or ``split`` (several regions).
    :param summary: what it is, in a teacher's words.
    :param conf: the complete session conf to book it with.
    """

    kind: str
    summary: str
    conf: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """As JSON (what the API answers and the ledger stores)."""
        return {"kind": self.kind, "summary": self.summary, "conf": self.conf}


@dataclass(frozen=True)
class Decision:
    """The outcome: a placement, or the problems and the alternatives.

    :param placement: where the session goes (``None`` when refused).
    :param problems: every reason it cannot be booked (empty when placed).
    :param alternatives: what would fit instead (only with problems).
    """

    placement: Placement | None
    problems: tuple[str, ...] = ()
    alternatives: tuple[Alternative, ...] = field(default_factory=tuple)

    def refusal(self) -> BookingRefused:
        """The refusal to raise for this decision (its problems and alternatives)."""
        return BookingRefused(list(self.problems), alternatives=[a.to_json() for a in self.alternatives])


class Availability:
    """How many VMs of a request fit in a region over a window, from the holds read once.

    :param holds: the holds of the live bookings (at least those overlapping the windows asked for
        and those running when a region was measured).
    :param lead_time: how long before its start a session's capacity is held.
    :param exclude: a session whose own hold is left out (the one being moved or extended).
    """

    def __init__(self, holds: Sequence[Hold], lead_time: timedelta, *, exclude: str | None = None) -> None:
        self.holds = list(holds)
        self.lead_time = lead_time
        self.exclude = exclude

    def baseline(self, region: str, capacity: RegionCapacity) -> RegionCapacity:
        """The region's free capacity with the VMs of sessions Running at its measurement counted once.

        The measured used figures include those VMs, and their bookings hold them as well.
        """
        memory, cpu = measured_running(self.holds, region, capacity.measured_at)
        return replace(capacity, memory_bytes=capacity.memory_bytes + memory, cpu_mhz=capacity.cpu_mhz + cpu)

    def free_instances(self, facts: RegionChoiceInput, windows: Sequence[tuple[datetime, datetime]]) -> int:
        """How many VMs of the facts' offering fit in every window, after what the other bookings hold."""
        if facts.capacity is None or facts.offering is None:
            return 0
        name = facts.region.name
        baseline = self.baseline(name, facts.capacity)
        return min(
            baseline.fits(facts.offering, *peak(self.holds, name, since, until, exclude=self.exclude))
            for since, until in windows
        )

    def windows(self, request: SessionRequest) -> list[tuple[datetime, datetime]]:
        """The windows a request holds capacity in: each occurrence, from its start minus the lead time."""
        return [(start - self.lead_time, end) for start, end in request.occurrences()]

    def candidates(self, request: SessionRequest, facts: Sequence[RegionChoiceInput]) -> list[Candidate]:
        """Every region of ``facts`` as a placement candidate for ``request``."""
        windows = self.windows(request)
        return [Candidate(facts=f, free_instances=self.free_instances(f, windows)) for f in facts]


def scope(request: SessionRequest, facts: Sequence[RegionChoiceInput]) -> list[RegionChoiceInput]:
    """The regions a request may be placed in: the named one, or every region for ``any``."""
    if request.region == ANY_REGION:
        return list(facts)
    return [f for f in facts if f.region.name == request.region]


def decide(
    request: SessionRequest,
    facts: Sequence[RegionChoiceInput],
    availability: Availability,
    *,
    rules: SessionsConfig,
    now: datetime,
) -> Decision:
    """Place ``request``, or say every reason it cannot be and propose what would fit.

    :param request: the checked request.
    :param facts: what every registered region can give (alerts already applied).
    :param availability: the holds of the live bookings.
    :param rules: the booking rules (lead time, home regions, horizon).
    :param now: the current time (no alternative starts before it).
    """
    home = rules.home_region(request.owner)
    placement = (
        _try(request, facts, availability, home)
        if not request.parts
        else _split(request, facts, availability, home)
    )
    if isinstance(placement, Placement):
        return Decision(placement)
    alternatives = [*_other_regions(request, facts, availability, home)]
    if not alternatives and not request.parts:
        alternatives.extend(_split_across(request, facts, availability, home))
    alternatives.extend(_other_slots(request, facts, availability, home, rules=rules, now=now))
    return Decision(None, tuple(placement.messages), tuple(alternatives))


def _split(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], availability: Availability, home: str | None
) -> Placement | BookingRefused:
    """Place a split request: each part in its own region, with the same rules as a whole session."""
    reasons: list[str] = []
    problems: list[str] = []
    for k, part in enumerate(request.parts, start=1):
        share = replace(request, region=part.region, instances=part.instances, parts=())
        placed = _try(share, facts, availability, home)
        if isinstance(placed, Placement):
            reasons.append(f"Part {k}, {part.instances} VM(s): {placed.reasons[0]}")
        else:
            problems.extend(
                f"Part {k} ({part.instances} VM(s) in {part.region}): {m}" for m in placed.messages
            )
    if problems:
        return BookingRefused(problems)
    regions = [part.region for part in request.parts]
    return Placement(region=regions[0], reasons=reasons, ranked=regions)


def _split_across(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], availability: Availability, home: str | None
) -> Iterator[Alternative]:
    """The class split across the regions able to host some of it: home first, then the nearest."""
    able = [
        f for f in facts if f.problem is None and f.full_alert is None and f.offering and f.template_ready
    ]
    windows = availability.windows(request)
    free = {f.region.name: availability.free_instances(f, windows) for f in able}
    home_region = next((f.region for f in facts if f.region.name == home), None)

    def rank(f: RegionChoiceInput) -> tuple[int, float, int]:
        distance = distance_km(home_region, f.region) if home_region is not None else 0.0
        return (0 if f.region.name == home else 1, round(distance, 1), -free[f.region.name])

    parts: list[Part] = []
    left = request.instances
    for f in sorted(able, key=rank):
        take = min(free[f.region.name], left)
        if take > 0 and len(parts) < MAX_PARTS:
            parts.append(Part(f.region.name, take))
            left -= take
        if left == 0:
            break
    if left or len(parts) < 2 or request.recurrence_weeks:
        return
    shares = " + ".join(f"{p.instances} in {p.region}" for p in parts)
    conf = _conf(replace(request, region=ANY_REGION, parts=tuple(parts)))
    yield Alternative("split", f"split the class: {shares}, same time", conf)


def _try(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], availability: Availability, home: str | None
) -> Placement | BookingRefused:
    candidates = availability.candidates(request, scope(request, facts))
    if not candidates:
        return unknown_region(request.region, [f.region.name for f in facts])
    try:
        return place(request, candidates, home=home)
    except BookingRefused as refused:
        return refused


def _conf(request: SessionRequest, **changes: Any) -> dict[str, Any]:
    return {**request.to_conf(), **changes}


def _other_regions(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], availability: Availability, home: str | None
) -> Iterator[Alternative]:
    """The other regions that can host the requested slot, best first (for a request naming a region)."""
    if request.region == ANY_REGION:
        return
    others = [f for f in facts if f.region.name != request.region]
    opened = replace(request, region=ANY_REGION)
    placed = _try(opened, others, availability, home)
    if not isinstance(placed, Placement):
        return
    for name in placed.ranked[:MAX_REGIONS]:
        yield Alternative(
            "region",
            f"{name}, same time ({when(request.start)} to {when(request.end)})",
            _conf(request, region=name),
        )


def _other_slots(
    request: SessionRequest,
    facts: Sequence[RegionChoiceInput],
    availability: Availability,
    home: str | None,
    *,
    rules: SessionsConfig,
    now: datetime,
) -> Iterator[Alternative]:
    """The nearest free slots of the same length, in the requested region (any region for ``any``)."""
    if not _could_ever_fit(request, facts, availability):
        return
    length = request.duration
    horizon = now + rules.max_advance
    found = 0
    for start in _starts(request.start, length, now=now, horizon=horizon):
        moved = replace(request, start=start, end=start + length)
        placed = _try(moved, facts, availability, home)
        if not isinstance(placed, Placement):
            continue
        where = placed.region if request.region == ANY_REGION else request.region
        yield Alternative(
            "slot",
            f"{when(start)} to {when(start + length)} in {where}",
            _conf(request, start=start.isoformat(), end=(start + length).isoformat()),
        )
        found += 1
        if found == MAX_SLOTS:
            return


def _could_ever_fit(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], availability: Availability
) -> bool:
    """Whether some region of the request's scope could host it at a time no booking holds anything.

    What excludes a region apart from its room (not answering, marked full, no such offering or
    template) does not depend on the slot, and the holds only ever take room away: without such a
    region no other slot can fit, and the whole horizon (up to a year of slots) need not be tried.
    """
    for f in scope(request, facts):
        if f.problem is not None or f.full_alert is not None or not f.template_ready:
            continue
        if f.capacity is None or f.offering is None:
            continue
        if availability.baseline(f.region.name, f.capacity).fits(f.offering) >= request.instances:
            return True
    return False


def _starts(asked: datetime, length: timedelta, *, now: datetime, horizon: datetime) -> Iterator[datetime]:
    """Candidate starts: the asked day's slots nearest first, then each later day's, nearest time first."""
    day = datetime.combine(asked.date(), time(0), tzinfo=asked.tzinfo)
    offset = asked - day
    for k in range(0, (horizon - day).days + 1):
        moment = day + timedelta(days=k)
        first = moment + timedelta(hours=DAY_STARTS.hour, minutes=DAY_STARTS.minute)
        last = moment + timedelta(hours=DAY_ENDS.hour, minutes=DAY_ENDS.minute)
        slots = [first + n * SLOT_STEP for n in range(int((last - first) / SLOT_STEP) + 1)]
        slots.sort(key=lambda s: (abs((s - moment) - offset), s))
        for start in slots:
            if start == asked or start < now or start > horizon:
                continue
            yield start


def holds_window(
    request: SessionRequest, facts: Sequence[RegionChoiceInput], rules: SessionsConfig, now: datetime
) -> tuple[datetime, datetime]:
    """The window whose holds a decision needs: from the oldest measurement to the horizon's last end."""
    measured = [f.capacity.measured_at for f in facts if f.capacity is not None]
    since = min([now - rules.lead_time, request.start - rules.lead_time, *measured])
    until = max(request.occurrences()[-1][1], now + rules.max_advance + request.duration)
    return since, until
