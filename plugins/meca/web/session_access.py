"""Who may look at or change one classroom session: its owner, or a holder of ``MECA Sessions``.

The rule, for the session control endpoints, the calendar's session page, its VM list and its
"Start all" / "Stop all":

- a user holding ``MECA Sessions`` (:data:`meca.security.roles.ALL_SESSIONS`) may look at every
  session with ``GET`` (``can_read``) and change every one (cancel, extend, start, stop) with
  ``PUT`` (``can_edit``): Operators and Admins;
- anyone else only their own sessions, and only if Airflow lets them trigger runs of
  ``meca_classroom_session`` (its own ``POST`` check on that DAG's runs): Teachers.

A user owns a session when the booking's ``owner`` equals their user name or their e-mail address,
ignoring case (:func:`user_identities`). Anything else is refused with 403 and the reason; an
unknown session is 404.
"""

from __future__ import annotations

from collections.abc import Callable

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Request

from meca.security.roles import ALL_SESSIONS, METHOD_ACTIONS, SESSION_DAG_ID
from meca.sessions.ledger import Booking, BookingNotFound, get_booking
from meca.sessions.request import control_character_problem
from meca.web.auth import VERBS, ApiUser, Method, NotAuthorized, PageUser, is_authorized
from meca.web.database import data_engine


def user_identities(user: BaseUser) -> frozenset[str]:
    """The names a booking's owner may give for ``user``: user name and e-mail, lower-cased.

    FAB's users have ``username`` and ``email``; the SimpleAuthManager's only ``username``.

    :param user: an authenticated Airflow user.
    """
    names = [user.get_name(), getattr(user, "username", None), getattr(user, "email", None)]
    return frozenset(name.strip().casefold() for name in names if isinstance(name, str) and name.strip())


def is_own_name(user: BaseUser, owner: str) -> bool:
    """Whether ``owner`` names ``user``: it is one of :func:`user_identities`, case and spaces aside."""
    return owner.strip().casefold() in user_identities(user)


def owns(user: BaseUser, booking: Booking) -> bool:
    """Whether ``user`` owns the session: its owner is one of :func:`user_identities`."""
    return is_own_name(user, booking.owner)


def may_trigger_sessions(request: Request, user: BaseUser) -> bool:
    """Whether Airflow lets ``user`` trigger runs of the session DAG (``POST`` on its runs)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from starlette.exceptions import HTTPException

    check = requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN, param_dag_id=SESSION_DAG_ID)
    try:
        check(request, user)
    except HTTPException:
        return False
    return True


def checked_session(
    request: Request, user: BaseUser, session_id: str, method: Method, *, page: bool
) -> Booking:
    """The booking of ``session_id``, when ``user`` may use it with ``method`` (``GET`` or ``PUT``).

    :raises BookingNotFound: when no booking has that id (404).
    :raises NotAuthorized: when the user neither holds ``MECA Sessions`` for ``method`` nor owns the
        session and may trigger session runs (403).
    """
    # No booking id holds a control character, and NUL must never reach the database.
    booking = None if control_character_problem(session_id, "id") else get_booking(data_engine(), session_id)
    if booking is None:
        raise BookingNotFound(f"no booking has session id {session_id!r}")
    if is_authorized(user, ALL_SESSIONS, method):
        return booking
    if not owns(user, booking):
        raise NotAuthorized(
            f"user {user.get_name()!r} may not {VERBS.get(method, method)} session {session_id!r}: it is "
            f"not theirs, and other people's sessions need {METHOD_ACTIONS[method]} on {ALL_SESSIONS}",
            page=page,
        )
    if not may_trigger_sessions(request, user):
        raise NotAuthorized(
            f"user {user.get_name()!r} owns session {session_id!r} but may not trigger runs of DAG "
            f"{SESSION_DAG_ID}, which using one's own sessions needs",
            page=page,
        )
    return booking


def session_for(method: Method, *, page: bool = False) -> Callable[..., Booking]:
    """A FastAPI dependency: the booking of the route's ``session_id``, checked by :func:`checked_session`.

    :param method: ``GET`` to look at the session, ``PUT`` to change it.
    :param page: whether the route is an HTML page (HTML 403) or JSON.
    """

    def for_page(request: Request, session_id: str, user: PageUser) -> Booking:
        return checked_session(request, user, session_id, method, page=True)

    def for_api(request: Request, session_id: str, user: ApiUser) -> Booking:
        return checked_session(request, user, session_id, method, page=False)

    return for_page if page else for_api
