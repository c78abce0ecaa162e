"""Placement: home region first, else Ready template, room and distance, each with its reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meca.regions import Region, distance_km
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.placement import Candidate, place
from meca.sessions.request import BookingRefused, SessionRequest

NOW = datetime(2030, 1, 7, tzinfo=UTC)
SMALL = OfferingSize.of("Small", 1, 1000, 1024)
TURIN = Region("c_turin", "Turin", 1, "Turin", "Turin", "IT", 45.06, 7.66, "#111111")
MILAN = Region("c_milan", "Milan", 2, "Milan", "Milan", "IT", 45.46, 9.19, "#222222")
BUDAPEST = Region("c_bud", "Budapest", 3, "Budapest", "Budapest", "HU", 47.47, 19.06, "#333333")
LISBON = Region("c_lis", "Lisbon", 4, "Lisbon", "Lisbon", "PT", 38.72, -9.14, "#444444")
REQUEST = SessionRequest(NOW, NOW + timedelta(hours=2), "Lab", "ann@polito.it", "any", "Ubuntu", 4, "Small")


def candidate(region: Region, free: int, *, ready: bool = True, **more: object) -> Candidate:
    capacity = RegionCapacity(free * SMALL.memory_bytes, free * SMALL.cpu_mhz, NOW, "sweep")
    facts = RegionChoiceInput(region, capacity, SMALL, template_ready=ready, **more)  # type: ignore[arg-type]
    return Candidate(facts, free)


def test_home_region_first_when_it_can_host() -> None:
    placement = place(REQUEST, [candidate(BUDAPEST, 100), candidate(TURIN, 4)], home="Turin")
    assert placement.region == "Turin"
    assert placement.ranked == ["Turin", "Budapest"]
    assert placement.reasons == [
        "Turin is the home region of ann@polito.it: template 'Ubuntu' Ready, room for 4 VM(s) of 'Small' "
        "at that time (capacity from the latest sweep)."
    ]


def test_without_room_at_home_the_nearest_roomy_region_wins() -> None:
    candidates = [candidate(TURIN, 3), candidate(LISBON, 40), candidate(BUDAPEST, 40), candidate(MILAN, 5)]
    placement = place(REQUEST, candidates, home="Turin")
    # Milan is nearest but barely fits (5 < 2 x 4); Budapest and Lisbon both have room to spare.
    assert placement.ranked == ["Budapest", "Lisbon", "Milan"]
    assert distance_km(TURIN, BUDAPEST) < distance_km(TURIN, LISBON)
    assert f"{distance_km(TURIN, BUDAPEST):.0f} km from the home region Turin" in placement.reasons[0]
    assert placement.reasons[1] == (
        "Not the home region: Turin has room for only 3 VM(s) of 'Small' at that time, and 4 are needed."
    )


def test_template_not_ready_excludes_even_the_home_region() -> None:
    placement = place(REQUEST, [candidate(TURIN, 50, ready=False), candidate(MILAN, 8)], home="Turin")
    assert placement.region == "Milan"
    assert "Turin has no Ready template 'Ubuntu'." in placement.reasons[-1]


def test_equal_room_and_no_home_ranks_by_free_capacity() -> None:
    placement = place(REQUEST, [candidate(TURIN, 9), candidate(MILAN, 30)], home=None)
    assert placement.ranked == ["Milan", "Turin"]
    assert placement.reasons[-1] == "No home region is configured for ann@polito.it."


def test_no_region_able_lists_every_reason() -> None:
    with pytest.raises(BookingRefused) as refused:
        place(
            REQUEST,
            [
                candidate(TURIN, 2),
                candidate(MILAN, 50, full_alert="mem-95"),
                candidate(LISBON, 0, problem="down"),
            ],
            home="Turin",
        )
    (message,) = refused.value.messages
    assert message.startswith("No region can host 4 VM(s) from 2030-01-07 00:00 UTC to 2030-01-07 02:00 UTC:")
    assert "Milan is marked full by the monitoring rule 'mem-95'." in message
    assert "Lisbon could not be asked (down)." in message
