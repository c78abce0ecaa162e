"""Who owns a session, and what the calendar's event feed shows to someone who may not see them all.

The users are the real user classes of both auth managers: FAB's ``User`` (user name and e-mail)
and the SimpleAuthManager's (user name only). The HTTP side of the rule (403 for a session that is
not one's own) is in ``test_session_control_api.py`` and ``test_calendar_api.py``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.providers.fab.auth_manager.models import User

from meca.sessions.ledger import Booking
from meca.web.calendar_api import feed
from meca.web.session_access import owns, user_identities

START = datetime(2030, 3, 4, 9, tzinfo=UTC)
COLOURS = {"alpha": "#1f77b4"}


def booking(session_id: str, owner: str, *, title: str = "Cloud lab") -> Booking:
    return Booking(
        session_id=session_id,
        series_id=session_id,
        occurrence=0,
        state="accepted",
        region="alpha",
        asked_region="alpha",
        reasons=("alpha named",),
        start=START,
        end=START + timedelta(hours=2),
        holds_from=START - timedelta(minutes=10),
        title=title,
        owner=owner,
        template="Ubuntu 22.04",
        offering="Small",
        instances=3,
        comments="",
        changed_by=None,
    )


def fab_user(username: str, email: str) -> User:
    return User(username=username, email=email, first_name="A", last_name="B")


def test_identities_are_user_name_and_e_mail_lower_cased() -> None:
    assert user_identities(fab_user("Ann", "Ann.Smith@PoliTO.it")) == {"ann", "ann.smith@polito.it"}
    assert user_identities(SimpleAuthManagerUser(username="Teacher1", role="user")) == {"teacher1"}


@pytest.mark.parametrize(
    ("owner", "expected"),
    [
        ("ann.smith@polito.it", True),
        ("  ANN.SMITH@polito.IT ", True),
        ("ann", True),
        ("bob@polito.it", False),
        ("ann.smith", False),
        ("", False),
    ],
)
def test_a_fab_user_owns_a_session_by_user_name_or_e_mail(owner: str, expected: bool) -> None:
    assert owns(fab_user("ann", "Ann.Smith@polito.it"), booking("s1", owner)) is expected


def test_a_simple_auth_manager_user_owns_by_user_name_only() -> None:
    user = SimpleAuthManagerUser(username="ann@example.org", role="user")
    assert owns(user, booking("s1", "Ann@Example.org"))
    assert not owns(SimpleAuthManagerUser(username="ann", role="user"), booking("s1", "ann@example.org"))


def test_the_feed_hides_other_peoples_sessions_behind_busy_blocks() -> None:
    own = booking("ann-lab", "ann@example.org", title="Ann's lab")
    other = replace(booking("bob-secret-exam", "bob@example.org", title="Bob's secret exam"), region="beta")
    ann = SimpleAuthManagerUser(username="ann@example.org", role="user")

    shown = feed([own, other], COLOURS, ann, every_session=False)

    assert [event.get("id") for event in shown] == ["ann-lab", None]
    assert shown[0]["title"] == "Ann's lab"
    assert shown[0]["extendedProps"]["owner"] == "ann@example.org"
    assert shown[1] == {
        "start": other.start.isoformat(),
        "end": other.end.isoformat(),
        "display": "background",
        "backgroundColor": "#9e9e9e",
        "extendedProps": {"busy": True, "region": "beta"},
    }
    assert "bob" not in repr(shown[1]).lower()


def test_the_feed_shows_everything_to_whoever_may_read_every_session() -> None:
    bookings = [booking("ann-lab", "ann@example.org"), booking("bob-lab", "bob@example.org")]
    operator = fab_user("olga", "olga@example.org")

    shown = feed(bookings, COLOURS, operator, every_session=True)

    assert [(event["id"], event["extendedProps"]["owner"]) for event in shown] == [
        ("ann-lab", "ann@example.org"),
        ("bob-lab", "bob@example.org"),
    ]
