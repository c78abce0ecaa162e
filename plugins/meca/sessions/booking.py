"""Book a session: learn what each candidate region can give, then reserve it in the ledger.

This is what the session DAG's first task calls. The regions are asked in parallel (one thread per
region); a region that does not answer is left out with the reason, and the others are still used.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from meca.cloudstack.errors import CloudStackError
from meca.cloudstack.hook import CloudStackHook
from meca.regions import Region, get_region, region_conn_ids
from meca.sessions.capacity import (
    OfferingSize,
    RegionCapacity,
    RegionChoiceInput,
    asked_capacity,
    asked_offering,
    swept_capacity,
    swept_offering,
    template_ready,
)
from meca.sessions.config import SessionsConfig
from meca.sessions.ledger import Booking, get_booking, reserve
from meca.sessions.placement import unknown_region
from meca.sessions.request import ANY_REGION, BookingRefused, SessionRequest

MAX_THREADS = 10


def region_inputs(engine: Engine, request: SessionRequest, regions: list[Region]) -> list[RegionChoiceInput]:
    """What each candidate region can give the session: the sweep's figures, else the region's own.

    Only the asked region is considered when the request names one.

    :raises BookingRefused: when the request names a region that is not registered.
    """
    wanted = regions if request.region == ANY_REGION else [r for r in regions if r.name == request.region]
    if not wanted:
        raise unknown_region(request.region, [r.name for r in regions])
    with engine.connect() as connection:
        swept = {
            r.name: (swept_capacity(connection, r.name), swept_offering(connection, r.name, request.offering))
            for r in wanted
        }
    hooks = [CloudStackHook(r.conn_id) for r in wanted]
    for hook in hooks:
        hook.settings  # noqa: B018  # read every Connection here, not in the worker threads
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(hooks))) as pool:
        return list(pool.map(lambda hook: _ask(hook, request, *swept[hook.region.name]), hooks))


def _ask(
    hook: CloudStackHook,
    request: SessionRequest,
    capacity: RegionCapacity | None,
    offering: OfferingSize | None,
) -> RegionChoiceInput:
    try:
        ready = template_ready(hook, request.template)
        if capacity is None:
            capacity = asked_capacity(hook)
        if offering is None:
            offering = asked_offering(hook, request.offering)
    except CloudStackError as exc:
        return RegionChoiceInput(hook.region, None, None, template_ready=False, problem=str(exc))
    return RegionChoiceInput(hook.region, capacity, offering, template_ready=ready)


def book(
    engine: Engine,
    request: SessionRequest,
    *,
    session_id: str,
    now: datetime,
    config: SessionsConfig | None = None,
    conn_ids: list[str] | None = None,
) -> Booking:
    """Place and book a session in the federation's regions.

    :param engine: the MECA data database.
    :param request: the checked request (:meth:`SessionRequest.from_conf`).
    :param session_id: the session's id: the DAG run id.
    :param now: the current time.
    :param config: the booking rules; read from ``include/sessions.yaml`` when not given.
    :param conn_ids: the region Connections; the ``meca_regions`` Variable when not given.
    :raises BookingRefused: with the teacher-readable reasons.
    """
    regions = [get_region(conn_id) for conn_id in (conn_ids if conn_ids is not None else region_conn_ids())]
    inputs = region_inputs(engine, request, regions)
    return reserve(engine, request, session_id=session_id, regions=inputs, now=now, config=config)


def book_run(
    engine: Engine,
    conf: Mapping[str, Any],
    *,
    session_id: str,
    now: datetime,
    config: SessionsConfig | None = None,
    conn_ids: list[str] | None = None,
) -> Booking:
    """Book the session of a DAG run, or return its booking when the ledger already holds it.

    The ledger holds it already when ``reserve`` is retried, and in the run of a later weekly
    occurrence (``<first run id>.week<k>``), booked with the whole series by the first run, which
    triggered that run with the occurrence as conf. The conf must then describe the booking: it is
    not checked against the booking rules again (a later week may start beyond ``max_advance_days``).

    :param engine: the MECA data database.
    :param conf: the run's conf or params (see :meth:`SessionRequest.from_conf`).
    :param session_id: the run id.
    :param now: the current time.
    :param config: the booking rules; read from ``include/sessions.yaml`` when not given.
    :param conn_ids: the region Connections; the ``meca_regions`` Variable when not given.
    :raises BookingRefused: with the teacher-readable reasons, also when the id is booked differently.
    """
    booked = get_booking(engine, session_id)
    if booked is None:
        request = SessionRequest.from_conf(conf, now=now, config=config)
        return book(engine, request, session_id=session_id, now=now, config=config, conn_ids=conn_ids)
    problems = booked.differences(conf)
    if problems:
        raise BookingRefused(problems)
    return booked
