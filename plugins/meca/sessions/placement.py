"""Placement: which region hosts a session, and why.

The owner's home region comes first when it can host the session. Otherwise the regions that can
(template Ready, the offering exists, enough free capacity at the booked time, not marked full, and
answering) are ranked: regions with room for at least twice the session before those that barely fit,
then the nearest to the home region (great-circle distance), then the most free capacity. A request
for one named region is placed there or refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meca.regions import Region, distance_km
from meca.sessions.capacity import RegionChoiceInput
from meca.sessions.request import BookingRefused, SessionRequest, when

ROOMY = 2


@dataclass(frozen=True)
class Candidate:
    """A region that might host the session, with its free capacity at the booked time.

    :param facts: what is known about the region.
    :param free_instances: how many VMs of the offering fit at the booked time, after the overlapping
        accepted bookings (0 when the offering or the capacity is unknown).
    """

    facts: RegionChoiceInput
    free_instances: int

    @property
    def name(self) -> str:
        """The region name."""
        return self.facts.region.name


@dataclass(frozen=True)
class Placement:
    """The chosen region, the reasons for the choice, and every region able to host it, best first."""

    region: str
    reasons: list[str]
    ranked: list[str]


def place(request: SessionRequest, candidates: list[Candidate], *, home: str | None) -> Placement:
    """Choose the region of a session.

    :param request: the session.
    :param candidates: the regions to choose from (only the asked one when the request names one).
    :param home: the owner's home region name, or ``None``.
    :raises BookingRefused: when no candidate can host the session, saying why for each.
    """
    exclusions = {c.name: why for c in candidates if (why := _exclusion(request, c)) is not None}
    able = [c for c in candidates if c.name not in exclusions]
    if not able:
        raise BookingRefused(_refusal(request, candidates, exclusions))
    home_region = next((c.facts.region for c in candidates if c.name == home), None)
    ranked = sorted(able, key=lambda c: _rank(c, request, home_region))
    chosen = ranked[0]
    return Placement(
        region=chosen.name,
        reasons=_reasons(request, chosen, home, home_region, exclusions, len(able)),
        ranked=[c.name for c in ranked],
    )


def unknown_region(name: str, known: list[str]) -> BookingRefused:
    """The refusal of a request naming a region that is not registered."""
    names = ", ".join(sorted(known)) or "none is registered"
    return BookingRefused(
        [f"The region '{name}' is not one of the federation's regions ({names}), nor \"any\"."]
    )


def _rank(candidate: Candidate, request: SessionRequest, home: Region | None) -> tuple[int, int, float, int]:
    is_home = 0 if home is not None and candidate.name == home.name else 1
    roominess = min(candidate.free_instances // request.instances, ROOMY)
    distance = distance_km(home, candidate.facts.region) if home is not None else 0.0
    return is_home, -roominess, round(distance, 1), -candidate.free_instances


def _exclusion(request: SessionRequest, candidate: Candidate) -> str | None:
    facts = candidate.facts
    name = candidate.name
    if facts.problem is not None:
        return f"{name} could not be asked ({facts.problem})."
    if facts.full_alert is not None:
        return f"{name} is marked full by the monitoring rule '{facts.full_alert}'."
    if facts.offering is None:
        return f"{name} has no service offering '{request.offering}'."
    if not facts.template_ready:
        return f"{name} has no Ready template '{request.template}'."
    if facts.capacity is None:
        return f"{name} has no capacity figures."
    if candidate.free_instances < request.instances:
        return (
            f"{name} has room for only {candidate.free_instances} VM(s) of '{request.offering}' "
            f"at that time, and {request.instances} are needed."
        )
    return None


def _refusal(request: SessionRequest, candidates: list[Candidate], exclusions: dict[str, str]) -> list[str]:
    scope = f"region {candidates[0].name}" if len(candidates) == 1 else "any region"
    answering = [c.facts for c in candidates if c.facts.problem is None]
    messages = []
    if answering and all(f.offering is None for f in answering):
        known = _names(f.offerings for f in answering)
        messages.append(f"The service offering '{request.offering}' does not exist in {scope}{known}")
    if answering and all(not f.template_ready for f in answering):
        ready = _names(f.templates for f in answering)
        messages.append(f"The template '{request.template}' is not Ready in {scope}{ready}")
    if not messages:
        messages.append(
            f"No region can host {request.instances} VM(s) from {when(request.start)} "
            f"to {when(request.end)}: " + " ".join(exclusions[c.name] for c in candidates)
        )
    return messages


def _names(groups: Iterable[tuple[str, ...]]) -> str:
    """``: the valid names are A, B.`` (or ``.`` when none is known), to end a refusal with."""
    names = sorted({name for group in groups for name in group})
    return f"; the valid names are {', '.join(names)}." if names else "."


def _reasons(
    request: SessionRequest,
    chosen: Candidate,
    home: str | None,
    home_region: Region | None,
    exclusions: dict[str, str],
    able: int,
) -> list[str]:
    facts = chosen.facts
    detail = (
        f"template '{request.template}' Ready, room for {chosen.free_instances} VM(s) of "
        f"'{request.offering}' at that time (capacity from the {_source(facts)})"
    )
    if home is not None and chosen.name == home:
        return [f"{chosen.name} is the home region of {request.owner}: {detail}."]
    if request.region == chosen.name:
        return [f"{chosen.name} was asked for: {detail}."]
    where = (
        f", {distance_km(home_region, facts.region):.0f} km from the home region {home_region.name}"
        if home_region is not None
        else ""
    )
    reasons = [f"{chosen.name} ranked first of {able} region(s) able to host the session: {detail}{where}."]
    if home is None:
        reasons.append(f"No home region is configured for {request.owner}.")
    elif home_region is None:
        reasons.append(f"The home region {home} of {request.owner} is not a candidate.")
    elif home in exclusions:
        reasons.append(f"Not the home region: {exclusions[home]}")
    return reasons


def _source(facts: RegionChoiceInput) -> str:
    swept = facts.capacity is not None and facts.capacity.source == "sweep"
    return "latest sweep" if swept else "region, asked now"
