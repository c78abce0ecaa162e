"""Every MECA route requires an authenticated Airflow user, and the permission its MECA resource asks for.

Authentication: Airflow mounts plugin apps without any protection, so the plugin checks the user
itself with Airflow's own :func:`airflow.api_fastapi.core_api.security.get_user`: a
``Authorization: Bearer`` JWT (from ``POST /auth/token``) or the ``_token`` cookie the Airflow UI sets
at login. Pages answer an unauthenticated browser with a redirect to the auth manager's login page,
which comes back here afterwards; the JSON endpoints and ``/metrics`` answer 401 (403 for a
malformed token).

Authorization: each route names a MECA resource of :mod:`meca.security.roles` and a method
(:func:`requires_meca`), and the auth manager's ``is_authorized_custom_view`` decides. With the FAB
auth manager these are the FAB permissions of the user's roles (Teacher, Analyst, Operator, Admin;
``python -m meca.security.sync_roles``). A refusal answers 403: ``{"detail": ...}`` naming the user
and the permission needed for JSON, a small HTML page saying the same for pages.

The SimpleAuthManager (the demo, the tests) has no per-view permissions: its
``is_authorized_custom_view`` lets every user with a role use any custom view, whatever the method.
Every such user may therefore read every MECA page, and, so that a ``viewer`` cannot change what a
``PUT`` guards, any other method than ``GET`` on a MECA resource needs its ``op`` or ``admin`` role
(the role that edits Connections). Real roles need FAB.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Annotated, Literal

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from meca.security.roles import METHOD_ACTIONS

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]

#: The methods of Airflow's auth manager checks (its ``ResourceMethod``).
Method = Literal["GET", "POST", "PUT", "DELETE"]
#: How a refusal names each method.
VERBS = {"GET": "read", "PUT": "change", "POST": "create in", "DELETE": "delete from"}


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


class NotAuthorized(Exception):
    """The user lacks a permission; answered 403.

    :param detail: who may not do what, and the permission that would allow it.
    :param page: whether an HTML page was asked for (then the answer is a small HTML page).
    """

    def __init__(self, detail: str, *, page: bool) -> None:
        super().__init__(detail)
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


#: The authenticated user of a JSON endpoint, as a FastAPI dependency.
ApiUser = Annotated[BaseUser, Depends(api_user)]
#: The authenticated user of an HTML page, as a FastAPI dependency.
PageUser = Annotated[BaseUser, Depends(page_user)]


def is_authorized(user: BaseUser, resource: str, method: Method = "GET") -> bool:
    """Whether the auth manager lets ``user`` use the MECA ``resource`` with ``method``.

    :param user: the authenticated user.
    :param resource: a MECA resource name (:data:`meca.security.roles.MECA_RESOURCES`).
    :param method: ``GET`` to read, ``PUT`` to change.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
        SimpleAuthManager,
        SimpleAuthManagerRole,
    )

    manager = get_auth_manager()
    if method != "GET" and isinstance(manager, SimpleAuthManager):
        role = (getattr(user, "role", None) or "").upper()
        return role in SimpleAuthManagerRole.__members__ and (
            SimpleAuthManagerRole[role].order >= SimpleAuthManagerRole.OP.order
        )
    return manager.is_authorized_custom_view(method=method, resource_name=resource, user=user)


def refusal(user: BaseUser, resource: str, method: Method = "GET") -> str:
    """The 403 text: ``user 'ann' may not read MECA Data (that needs can_read on MECA Data)``."""
    action = METHOD_ACTIONS.get(method, method)
    return (
        f"user {user.get_name()!r} may not {VERBS.get(method, method)} {resource} "
        f"(that needs {action} on {resource})"
    )


def requires_meca(resource: str, method: Method = "GET", *, page: bool = False) -> Callable[..., BaseUser]:
    """A FastAPI dependency: the authenticated user, when they may use ``resource`` with ``method``.

    :param resource: the MECA resource the route belongs to.
    :param method: ``GET`` for reading, ``PUT`` for changing.
    :param page: whether the route is an HTML page (login redirect, HTML 403) or JSON (401, JSON 403).
    :raises NotAuthorized: when the user lacks the permission.
    """

    def page_check(user: PageUser) -> BaseUser:
        if not is_authorized(user, resource, method):
            raise NotAuthorized(refusal(user, resource, method), page=True)
        return user

    def api_check(user: ApiUser) -> BaseUser:
        if not is_authorized(user, resource, method):
            raise NotAuthorized(refusal(user, resource, method), page=False)
        return user

    return page_check if page else api_check


def not_authenticated_handler(request: Request, exc: NotAuthenticated) -> Response:
    """Answer :class:`NotAuthenticated`: a redirect to the login page for pages, else a JSON error."""
    if exc.page:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


FORBIDDEN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Forbidden · MECA</title></head>
<body>
<h1>Forbidden</h1>
<p id="reason">{reason}.</p>
<p>Ask an Airflow administrator for the role that gives this permission.</p>
</body>
</html>
"""


def not_authorized_handler(_request: Request, exc: NotAuthorized) -> Response:
    """Answer :class:`NotAuthorized` with 403: a small HTML page for pages, else ``{"detail": ...}``."""
    if exc.page:
        return HTMLResponse(FORBIDDEN_PAGE.format(reason=html.escape(exc.detail)), status_code=403)
    return JSONResponse({"detail": exc.detail}, status_code=403)


def add_auth_handlers(app: FastAPI) -> None:
    """Register the answers to :class:`NotAuthenticated` and :class:`NotAuthorized` on ``app``."""
    app.add_exception_handler(NotAuthenticated, not_authenticated_handler)  # type: ignore[arg-type]
    app.add_exception_handler(NotAuthorized, not_authorized_handler)  # type: ignore[arg-type]
