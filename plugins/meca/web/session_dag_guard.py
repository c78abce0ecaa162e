"""A guard on Airflow's REST API for ``meca_classroom_session``: no pausing it, no booking in another's name.

FAB lets a user trigger a DAG only with ``can_edit`` on that DAG, and ``can_edit`` on a DAG also lets
them pause it. A Teacher therefore could, through Airflow's own REST API (and its UI, which uses it):

- pause ``meca_classroom_session`` (``PATCH /api/v2/dags/meca_classroom_session``, or the bulk
  ``PATCH /api/v2/dags?dag_id_pattern=...``), which stops every teacher's sessions;
- trigger a run with someone else as ``conf.owner``, so that the booking belongs to that person.

:class:`SessionDagGuard`, a root middleware of the api-server registered by :mod:`meca.plugin`,
closes both for every user who does not hold ``can_edit`` on ``MECA Sessions``
(:data:`meca.security.roles.ALL_SESSIONS`, which Operators and Admins have):

- ``PATCH`` of the session DAG and every bulk ``PATCH /api/v2/dags`` (whatever its ``dag_id_pattern``:
  a pattern may match the session DAG in many ways) answer 403;
- ``POST /api/v2/dags/meca_classroom_session/dagRuns`` answers 403 unless the JSON body's
  ``conf.owner`` is one of the user's identities (:func:`meca.web.session_access.user_identities`:
  user name or e-mail, ignoring case and surrounding spaces). Its body is read here and replayed to
  Airflow unchanged.

For every user, Operators and Admins included, the trigger of the session DAG also answers 400 with
the reasons (:func:`trigger_problems`) when its ``dag_run_id`` is no safe session id (at most 100
characters of Airflow's run id characters: a 300-character id breaks the task's log path) or a text
field of its ``conf`` holds a control character (NUL crashes PostgreSQL; U+202E disguises a title).

The user is identified the way Airflow does (a ``Bearer`` header, else the ``_token`` cookie, through
the auth manager's ``get_user_from_token``). A request without a valid token is left to Airflow,
which answers 401 (or 403 for a token it cannot read) itself. Every other request passes through
after a look at its method and path: nothing else is read, and responses are never touched.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meca.security.roles import ALL_SESSIONS, CAN_EDIT, SESSION_DAG_ID
from meca.sessions.request import conf_text_problems, session_id_problem
from meca.web.auth import is_authorized
from meca.web.session_access import is_own_name, user_identities

log = logging.getLogger(__name__)

#: Where Airflow's public REST API lives, below the api-server's base path.
API_PREFIX = "/api/v2/"
#: ``PATCH`` here pauses or unpauses the session DAG.
SESSION_DAG_PATH = f"{API_PREFIX}dags/{SESSION_DAG_ID}"
#: ``PATCH`` here pauses or unpauses every DAG its query matches.
BULK_DAGS_PATH = f"{API_PREFIX}dags"
#: ``POST`` here triggers a run of the session DAG: books a session.
SESSION_TRIGGER_PATH = f"{SESSION_DAG_PATH}/dagRuns"
#: The largest trigger body read from a user who may not book for others (a booking's is < 2 KiB).
MAX_TRIGGER_BODY_BYTES = 1024 * 1024
#: How much of a given owner a refusal quotes.
OWNER_QUOTE_CHARS = 80

#: What a guarded request does: pause (or unpause) DAGs, or book a session.
Guarded = Literal["pause", "book"]


def route_path(scope: Scope) -> str:
    """The request's path below ``root_path`` (the path of Airflow's ``[api] base_url``), as routing sees it.

    :param scope: an ASGI HTTP scope.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path) and path[len(root_path) : len(root_path) + 1] in ("", "/"):
        return path[len(root_path) :]
    return path


def guarded_request(method: str, path: str) -> Guarded | None:
    """Which guarded action the request is, if any; ``None`` for every other request.

    :param method: the HTTP method.
    :param path: the path below the base path (:func:`route_path`); a trailing ``/`` is ignored.
    """
    if not path.startswith(API_PREFIX) or method not in ("PATCH", "POST"):
        return None
    path = path.rstrip("/")
    if method == "PATCH" and path in (SESSION_DAG_PATH, BULK_DAGS_PATH):
        return "pause"
    if method == "POST" and path == SESSION_TRIGGER_PATH:
        return "book"
    return None


def pause_refusal(user: BaseUser) -> str:
    """The 403 text for a user who may not pause or unpause the session DAG."""
    return (
        f"user {user.get_name()!r} may not pause or unpause DAG {SESSION_DAG_ID} (nor pause DAGs in bulk, "
        f"which may include it): pausing the session DAG stops every teacher's sessions, and that needs "
        f"{CAN_EDIT} on {ALL_SESSIONS}"
    )


def booking_owner_refusal(user: BaseUser, body: bytes) -> str | None:
    """The 403 text when a trigger body does not book in the user's own name; ``None`` when it does.

    :param user: the user triggering the session DAG, who may not book for others.
    :param body: the request body: JSON whose ``conf.owner`` must be one of :func:`user_identities`.
    """
    identities = user_identities(user)
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    conf = payload.get("conf") if isinstance(payload, dict) else None
    owner = conf.get("owner") if isinstance(conf, dict) else None
    if isinstance(owner, str) and is_own_name(user, owner):
        return None
    if payload is None:
        given = "a body that is not JSON"
    elif owner is None:
        given = "no conf.owner"
    else:
        shown = (
            owner
            if not isinstance(owner, str) or len(owner) <= OWNER_QUOTE_CHARS
            else owner[:OWNER_QUOTE_CHARS] + "..."
        )
        given = f"conf.owner {shown!r}"
    names = ", ".join(repr(name) for name in sorted(identities))
    return (
        f"teachers book sessions in their own name: set conf.owner to one of {names} (user "
        f"{user.get_name()!r} gave {given}; booking for someone else needs {CAN_EDIT} on {ALL_SESSIONS})"
    )


def trigger_problems(body: bytes) -> list[str]:
    """What a session trigger body holds that no session may have: a bad run id, control characters.

    Checked for every user, with :func:`meca.sessions.request.session_id_problem` (``dag_run_id``,
    when given: Airflow makes a safe one otherwise) and
    :func:`meca.sessions.request.conf_text_problems` (``conf``'s text fields). A body that is not
    JSON, and every other problem of the conf, are left to Airflow and to the run's ``reserve`` task.

    :param body: the request body.
    :returns: the teacher-readable refusals, empty when there is none.
    """
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if not isinstance(payload, dict):
        return []
    conf = payload.get("conf")
    conf = conf if isinstance(conf, dict) else {}
    problems = []
    run_id = payload.get("dag_run_id")
    if run_id is not None:
        repeats = conf.get("recurrence_weeks")
        problem = session_id_problem(run_id, repeats=repeats if isinstance(repeats, int) else 0)
        if problem is not None:
            problems.append(problem)
    return problems + conf_text_problems(conf)


async def request_user(scope: Scope) -> BaseUser | None:
    """The user Airflow would see for this request, or ``None`` when it has no valid token.

    Airflow's own ``get_user``: the ``Bearer`` header wins, else the user its JWT refresh middleware
    read from the ``_token`` cookie, else that cookie.
    """
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    request = Request(scope)
    try:
        credentials = await bearer_scheme(request)
        return await get_user(request, None, credentials)
    except HTTPException:
        return None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The request body, read from ``receive``; ``None`` when the client went away.

    :param receive: the ASGI receive callable.
    :param limit: stop reading beyond this many bytes.
    :returns: the body (or its first part) and whether it is complete (not over ``limit``).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive callable that gives ``body`` as one message, then what ``receive`` gives (the disconnect).

    :param body: the complete body already read from ``receive``.
    :param receive: the original receive callable.
    """
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class SessionDagGuard:
    """Pure ASGI middleware: refuses pausing ``meca_classroom_session`` and booking in another's name.

    Only users holding ``can_edit`` on ``MECA Sessions`` may do either; see the module docstring.

    :param app: the ASGI app it wraps (the api-server's own).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (guarded := guarded_request(scope["method"], route_path(scope))) is None
        ):
            await self.app(scope, receive, send)
            return
        user = await request_user(scope)
        if user is None:
            await self.app(scope, receive, send)
            return
        may_do_all = await run_in_threadpool(is_authorized, user, ALL_SESSIONS, "PUT")
        if guarded == "pause":
            if may_do_all:
                await self.app(scope, receive, send)
                return
            log.info("Refused user %r pausing through %s", user.get_name(), scope["path"])
            await JSONResponse({"detail": pause_refusal(user)}, status_code=403)(scope, receive, send)
            return
        read = await read_body(receive, MAX_TRIGGER_BODY_BYTES)
        if read is None:
            return
        body, complete = read
        if not complete:
            detail = f"a trigger of DAG {SESSION_DAG_ID} may have at most {MAX_TRIGGER_BODY_BYTES} bytes"
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        problems = trigger_problems(body)
        if problems:
            log.info("Refused user %r triggering a session: %s", user.get_name(), " ".join(problems))
            await JSONResponse({"detail": problems}, status_code=400)(scope, receive, send)
            return
        refusal = None if may_do_all else booking_owner_refusal(user, body)
        if refusal is not None:
            log.info("Refused user %r booking a session in another name", user.get_name())
            await JSONResponse({"detail": refusal}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
