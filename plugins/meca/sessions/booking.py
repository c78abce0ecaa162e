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
    asked_offerings,
    ready_templates,
    swept_capacity,
    swept_offering,
    swept_offerings,
)
from meca.sessions.config import SessionsConfig, load_config
from meca.sessions.decision import Decision
from meca.sessions.ledger import Booking, check, get_booking, parts_of, record_refusal, reserve
from meca.sessions.placement import unknown_region
from meca.sessions.request import ANY_REGION, BookingRefused, SessionRequest
from meca.sessions.states import REFUSED

MAX_THREADS = 10


def region_inputs(
    engine: Engine, regions: list[Region], *, template: str, offering: str
) -> list[RegionChoiceInput]:
    """What every region can give a session of ``template`` and ``offering``.

    Capacity and offerings come from the latest sweep, else from the region; the templates Ready
    there are always asked from the region (all regions in parallel).
    """
    if not regions:
        return []
    with engine.connect() as connection:
        swept = {
            r.name: (
                swept_capacity(connection, r.name),
                swept_offering(connection, r.name, offering),
                swept_offerings(connection, r.name),
            )
            for r in regions
        }
    hooks = [CloudStackHook(r.conn_id) for r in regions]
    for hook in hooks:
        hook.settings  # noqa: B018  # read every Connection here, not in the worker threads
    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(hooks))) as pool:
        return list(pool.map(lambda hook: _ask(hook, template, offering, *swept[hook.region.name]), hooks))


def _ask(
    hook: CloudStackHook,
    template: str,
    offering_name: str,
    capacity: RegionCapacity | None,
    offering: OfferingSize | None,
    offerings: tuple[str, ...],
) -> RegionChoiceInput:
    try:
        templates = ready_templates(hook)
        if capacity is None:
            capacity = asked_capacity(hook)
        if offering is None:
            offering = asked_offering(hook, offering_name)
        if not offerings:
            offerings = asked_offerings(hook)
    except CloudStackError as exc:
        return RegionChoiceInput(hook.region, None, None, template_ready=False, problem=str(exc))
    return RegionChoiceInput(
        hook.region,
        capacity,
        offering,
        template_ready=template in templates,
        templates=templates,
        offerings=offerings,
    )


def _registered(conn_ids: list[str] | None) -> list[Region]:
    return [get_region(conn_id) for conn_id in (conn_ids if conn_ids is not None else region_conn_ids())]


def _asked(request: SessionRequest, regions: list[Region]) -> list[Region]:
    """The regions to ask for a request: all of them (the alternatives may be elsewhere).

    :raises BookingRefused: when the request names a region that is not registered.
    """
    if request.region != ANY_REGION and request.region not in {r.name for r in regions}:
        raise unknown_region(request.region, [r.name for r in regions])
    return regions


def owner_problems(conf: Mapping[str, Any], own_names: frozenset[str] | None) -> list[str]:
    """Why the caller may not book in the conf's owner's name (nothing for an operator: ``None``).

    :param own_names: the names the caller may book under (lower-cased), ``None`` for anyone.
    """
    owner = conf.get("owner")
    if own_names is None or not isinstance(owner, str) or not owner.strip():
        return []
    if owner.strip().casefold() in own_names:
        return []
    names = ", ".join(f"'{name}'" for name in sorted(own_names))
    return [f"You book sessions in your own name: set the owner to {names}, not '{owner.strip()}'."]


def decide_conf(
    engine: Engine,
    conf: Mapping[str, Any],
    *,
    now: datetime,
    own_names: frozenset[str] | None = None,
    config: SessionsConfig | None = None,
    conn_ids: list[str] | None = None,
) -> tuple[SessionRequest | None, Decision, list[RegionChoiceInput]]:
    """The booking decision for a conf, made before any run exists (nothing is written).

    Every problem is listed at once: the conf's own (times, limits, text), the owner rule, and, when
    the conf can be read, the regions' (region, template, offering, capacity) with the alternatives.

    :param own_names: the names the caller may book under; ``None`` for an operator.
    :returns: the request (``None`` when the conf cannot be read), the decision, and what the regions
        said (empty when they were not asked): :func:`~meca.sessions.ledger.reserve` books with it,
        so a booking made right after the decision does not ask every region again.
    """
    rules = config if config is not None else load_config()
    problems = owner_problems(conf, own_names)
    try:
        request = SessionRequest.from_conf(conf, now=now, config=rules)
    except BookingRefused as refused:
        return None, Decision(None, (*refused.messages, *problems)), []
    try:
        regions = _asked(request, _registered(conn_ids))
    except BookingRefused as refused:
        return request, Decision(None, (*refused.messages, *problems)), []
    facts = region_inputs(engine, regions, template=request.template, offering=request.offering)
    decision = check(engine, request, facts, now=now, config=rules)
    if problems:
        decision = Decision(None, (*problems, *decision.problems), decision.alternatives)
    return request, decision, facts


def book(
    engine: Engine,
    request: SessionRequest,
    *,
    session_id: str,
    now: datetime,
    config: SessionsConfig | None = None,
    conn_ids: list[str] | None = None,
    keep_refusal: bool = False,
) -> Booking:
    """Place and book a session in the federation's regions.

    :param engine: the MECA data database.
    :param request: the checked request (:meth:`SessionRequest.from_conf`).
    :param session_id: the session's id: the DAG run id.
    :param now: the current time.
    :param config: the booking rules; read from ``include/sessions.yaml`` when not given.
    :param conn_ids: the region Connections; the ``meca_regions`` Variable when not given.
    :param keep_refusal: store a refusal as a ``refused`` booking (see :func:`~meca.sessions.ledger.reserve`).
    :raises BookingRefused: with the teacher-readable reasons and the alternatives.
    """
    regions = _asked(request, _registered(conn_ids))
    facts = region_inputs(engine, regions, template=request.template, offering=request.offering)
    return reserve(
        engine,
        request,
        session_id=session_id,
        regions=facts,
        now=now,
        config=config,
        keep_refusal=keep_refusal,
    )


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
    A refusal is stored as a ``refused`` booking under the run id, with its reasons and alternatives,
    so the calendar, the session page and the API show it.

    :raises BookingRefused: with the teacher-readable reasons, also when the id is booked differently.
    """
    booked = get_booking(engine, session_id)
    if booked is None:
        try:
            request = SessionRequest.from_conf(conf, now=now, config=config)
            regions = _asked(request, _registered(conn_ids))
        except BookingRefused as refused:
            record_refusal(engine, session_id, conf, refused, now=now)
            raise
        facts = region_inputs(engine, regions, template=request.template, offering=request.offering)
        return reserve(
            engine, request, session_id=session_id, regions=facts, now=now, config=config, keep_refusal=True
        )
    if booked.state == REFUSED:
        raise BookingRefused(list(booked.reasons), alternatives=list(booked.alternatives))
    problems = booked.differences(conf, parts_of(engine, session_id))
    if problems:
        raise BookingRefused(problems)
    return booked
