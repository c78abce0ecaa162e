"""Every dashboard route requires an authenticated Airflow user.

Airflow mounts plugin apps without any protection, so the dashboard checks the user itself with
Airflow's own :func:`airflow.api_fastapi.core_api.security.get_user`: a ``Authorization: Bearer`` JWT
(from ``POST /auth/token``) or the ``_token`` cookie the Airflow UI sets at login. Pages answer an
unauthenticated browser with a redirect to the auth manager's login page, which comes back here
afterwards; the JSON endpoints and ``/metrics`` answer 401 (403 for a malformed token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


class NotAuthenticated(Exception):
    """The request carries no valid Airflow token.

    :param status_code: 401 (no token, expired token) or 403 (a token Airflow cannot read).
    :param detail: Airflow's reason, e.g. ``Not authenticated``.
    :param page: whether an HTML page was asked for (then the answer is a redirect to the login page).
    """

    def __init__(self, status_code: int, detail: str, *, page: bool) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.page = page


async def _authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None, *, page: bool
) -> BaseUser:
    # Imported here: the plugin module is loaded by every Airflow process, the API app only by one.
    from airflow.api_fastapi.core_api.security import get_user

    try:
        return await get_user(request, None, credentials)
    except HTTPException as exc:
        raise NotAuthenticated(exc.status_code, str(exc.detail), page=page) from exc


async def page_user(request: Request, credentials: Bearer) -> BaseUser:
    """The user of an HTML page request; without one the browser is sent to the login page."""
    return await _authenticated(request, credentials, page=True)


async def api_user(request: Request, credentials: Bearer) -> BaseUser:
    """The user of a JSON or ``/metrics`` request; without one the answer is 401."""
    return await _authenticated(request, credentials, page=False)


def not_authenticated_handler(request: Request, exc: NotAuthenticated) -> Response:
    """Answer :class:`NotAuthenticated`: a redirect to the login page for pages, else a JSON error."""
    if exc.page:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


#: The authenticated user of a JSON endpoint, as a FastAPI dependency.
ApiUser = Annotated["BaseUser", Depends(api_user)]


def may_edit_session_runs(request: Request, user: ApiUser) -> None:
    """Refuse (403) a user whom Airflow does not allow to edit runs of the classroom session DAG.

    Cancelling, extending, starting and stopping a session change its run, so they need what
    Airflow's own ``PUT`` on a DAG run of ``meca_classroom_session`` needs.

    :raises HTTPException: 403, naming the user and the permission needed.
    """
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    from meca.sessions.control import SESSION_DAG_ID

    check = requires_access_dag(method="PUT", access_entity=DagAccessEntity.RUN, param_dag_id=SESSION_DAG_ID)
    try:
        check(request, user)
    except HTTPException as exc:
        raise HTTPException(
            exc.status_code,
            f"user {user.get_name()!r} may not edit the runs of DAG {SESSION_DAG_ID}, "
            "which changing a session needs",
        ) from exc
