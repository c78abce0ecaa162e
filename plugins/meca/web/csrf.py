"""No forged actions: a state-changing request must be one a page of another site cannot send.

Airflow's login is a cookie (``_token``, ``SameSite=Lax``) that the browser attaches to every request
to the api-server's host, also when a page of *another port* of that host (the same site) sends it:
a ``<form method=post>`` or a ``fetch(..., {mode: "no-cors"})`` with a ``text/plain`` body needs no
permission from the api-server. :func:`refuse_forgery`, a FastAPI dependency, therefore refuses every
request whose method is not ``GET``, ``HEAD`` or ``OPTIONS`` unless all of these hold:

1. ``Origin``, when the browser sends it, is the api-server's own origin (scheme, host and port of
   the request, or of Airflow's ``[api] base_url``); else **403**.
2. It carries the header :data:`HEADER` with the value :data:`HEADER_VALUE`
   (``X-Requested-With: meca``), or an ``Authorization: Bearer`` token; else **403**. A page of
   another origin can set neither without the api-server's CORS consent, which it never gives. The
   token itself is checked afterwards by the route's authentication (Airflow lets a ``Bearer``
   header win over the cookie, so an invalid one answers 401 and the cookie is never used).
3. Its ``Content-Type`` is ``application/json``; ``text/plain``, ``application/x-www-form-urlencoded``,
   ``multipart/form-data`` and no type at all answer **415**.
4. Its body is a JSON object: ``{}`` when the route needs nothing; else **422**.

Each refusal answers ``{"detail": "<why, and what to send>"}`` before the route runs, so nothing
changes. Every MECA app that changes state installs it for all its routes
(``FastAPI(dependencies=[Depends(refuse_forgery)])``); a single router or route can also take it as
``dependencies=[Depends(refuse_forgery)]``.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

#: The header a browser page of the api-server itself sends with every state-changing request.
HEADER = "X-Requested-With"
#: The value :data:`HEADER` must have (compared ignoring case).
HEADER_VALUE = "meca"
#: The methods that never change state, and so need no proof of origin.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The only request body type a state-changing route accepts.
JSON_TYPE = "application/json"
#: The default port of each scheme, for comparing origins.
DEFAULT_PORTS = {"http": 80, "https": 443}
#: What every refusal tells the caller to send.
HOW = (
    f"send a JSON body ({{}} when there is nothing to send) with 'Content-Type: {JSON_TYPE}' and "
    f"'{HEADER}: {HEADER_VALUE}' (or an 'Authorization: Bearer' token)"
)


def origin_of(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of a URL or an ``Origin`` header, lower-cased with its default port.

    :param url: e.g. ``http://127.0.0.1:8080`` or ``https://meca.example.org/airflow``.
    :returns: ``None`` when it is no ``http``/``https`` origin (e.g. the ``null`` origin).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def own_origins(request: Request) -> set[tuple[str, str, int]]:
    """The origins of the api-server: the request's own (its scheme and ``Host``) and ``[api] base_url``'s."""
    from airflow.configuration import conf

    origins = {origin_of(str(request.base_url)), origin_of(conf.get("api", "base_url", fallback="") or "")}
    return {origin for origin in origins if origin is not None}


def _origin_problem(request: Request) -> str | None:
    given = request.headers.get("origin")
    if given is None:
        return None
    if origin_of(given) in own_origins(request):
        return None
    own = f"{request.url.scheme}://{request.url.netloc}"
    return (
        f"refused: this request comes from a page of another origin ({given!r}, not {own!r}), as a "
        f"forged request would; only the MECA pages themselves may {request.method} here"
    )


def _sender_problem(request: Request) -> str | None:
    if request.headers.get(HEADER, "").strip().lower() == HEADER_VALUE:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return None
    return (
        f"refused: a {request.method} that changes something must carry '{HEADER}: {HEADER_VALUE}' or "
        f"an 'Authorization: Bearer' token, which a page of another site cannot send; {HOW}"
    )


def _type_problem(request: Request) -> str | None:
    given = request.headers.get("content-type", "")
    media_type = given.split(";", 1)[0].strip().lower()
    if media_type == JSON_TYPE:
        return None
    shown = f"'Content-Type: {given}'" if given else "no Content-Type"
    return f"refused: {shown}; {HOW}"


async def _body_problem(request: Request) -> str | None:
    body = await request.body()
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        return None
    shown = "an empty body" if not body.strip() else "a body that is no JSON object"
    return f"refused: {shown}; {HOW}"


async def refuse_forgery(request: Request) -> None:
    """FastAPI dependency: refuse a state-changing request that a page of another site could have sent.

    ``GET``, ``HEAD`` and ``OPTIONS`` pass untouched; the checks and their status codes are in the
    module docstring. The body read here is kept by the request, so the route still receives it.

    :raises HTTPException: 403 (foreign ``Origin``, neither :data:`HEADER` nor a bearer token), 415
        (not ``application/json``) or 422 (not a JSON object), with the reason as ``detail``.
    """
    if request.method in SAFE_METHODS:
        return
    for status, problem in (
        (403, _origin_problem(request)),
        (403, _sender_problem(request)),
        (415, _type_problem(request)),
    ):
        if problem is not None:
            raise HTTPException(status, problem)
    problem = await _body_problem(request)
    if problem is not None:
        raise HTTPException(422, problem)
