"""Benchmark: the booking decision with alternatives, 50 classroom sessions in one week, ten regions.

Starts the CloudStack simulator with the seed federation (``meca_seed.yaml``), points Airflow
Connections at it, and takes 50 random sessions (fixed seed: weekdays 08:00-18:00, 1-3 h, 2-12 VMs
of Small or Medium, half of them asking for a named region) into a fresh SQLite MECA data database.
For each, in the order a teacher meets them, it times:

- the pre-run decision, :func:`meca.sessions.booking.decide_conf` (the calendar's check and the
  booking endpoint: placement, or every reason with the alternatives; nothing written);
- the booking, :func:`meca.sessions.booking.book` (the run's ``reserve``; a refusal raises
  :class:`~meca.sessions.request.BookingRefused` with its alternatives).

The database has no sweep data, so every decision asks every region (``listTemplates``,
``listCapacity``, ``listConfigurations``, ``listServiceOfferings``). Every alternative proposed by a
refusal or a decision is then decided again at once with ``decide_conf``: each must be accepted
(mismatches are counted). Finally it checks, minute by minute over the week, that the accepted
bookings never hold more memory or CPU in a region than the region had free under its allocation
thresholds (``threshold * total - max(used, allocated)``, as
:func:`meca.sessions.capacity.asked_capacity` reads it before the first booking).

It prints p50 / p95 / max of both latencies (target: p95 <= 300 ms), the accepted and refused
counts, how many refusals came with at least one alternative, the alternative mismatches and the
over-committed region-minutes. Exit status 1 on any over-committed minute or alternative mismatch.

    .venv/bin/python bench/session_booking.py [--sessions 50] [--seed 5]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="meca-bench-airflow-"))

from sqlalchemy import Engine, create_engine  # noqa: E402

from cloudstack_simulator.airflow_connections import airflow_env  # noqa: E402
from cloudstack_simulator.testing import run_simulator  # noqa: E402

TOPOLOGY = REPO / "cloudstack_simulator" / "topologies" / "meca_seed.yaml"
TEMPLATE = "Ubuntu-22.04-Server"
OFFERINGS = ("Small", "Small", "Medium")
TARGET_P95_MS = 300
INSTITUTIONS = ("polito.it", "bme.hu", "example.org")


def session_confs(
    count: int, week: datetime, regions: list[str], rng: random.Random
) -> list[dict[str, object]]:
    """``count`` random session confs in the week starting ``week`` (a Monday, 00:00 UTC)."""
    confs = []
    for i in range(count):
        start = week + timedelta(
            days=rng.randrange(5), hours=rng.randrange(8, 16), minutes=rng.choice((0, 30))
        )
        confs.append(
            {
                "start": start.isoformat(),
                "end": (start + timedelta(hours=rng.randint(1, 3))).isoformat(),
                "title": f"Session {i}",
                "owner": f"teacher{i}@{rng.choice(INSTITUTIONS)}",
                "region": rng.choice(regions) if i % 2 else "any",
                "template": TEMPLATE,
                "instances": rng.randint(2, 12),
                "offering": rng.choice(OFFERINGS),
            }
        )
    return confs


def overcommitted(engine: Engine, week: datetime, free: dict[str, tuple[int, int]]) -> list[str]:
    """Every (region, minute) where the accepted bookings hold more than the region had free."""
    from meca.sessions.capacity import MIB
    from meca.sessions.ledger import bookings_between

    held: dict[str, list[tuple[datetime, datetime, int, int]]] = {}
    sizes = _offering_sizes()  # from the topology, not from the ledger's own records
    for b in bookings_between(engine, week - timedelta(days=1), week + timedelta(days=8)):
        memory_mib, cpu_mhz = sizes[b.offering]
        held.setdefault(b.region, []).append(
            (b.holds_from, b.end, b.instances * memory_mib * MIB, b.instances * cpu_mhz)
        )
    problems = []
    for minute in range(0, 8 * 24 * 60):
        moment = week - timedelta(hours=12) + timedelta(minutes=minute)
        for region, spans in held.items():
            memory = sum(m for start, end, m, _ in spans if start <= moment < end)
            cpu = sum(c for start, end, _, c in spans if start <= moment < end)
            if memory > free[region][0] or cpu > free[region][1]:
                problems.append(f"{region} at {moment:%a %H:%M}: {memory} B / {cpu} MHz held")
    return problems


def _offering_sizes() -> dict[str, tuple[int, int]]:
    import yaml

    topology = yaml.safe_load(TOPOLOGY.read_text())
    return {o["name"]: (o["memory"], o["cpu_number"] * o["cpu_speed"]) for o in topology["service_offerings"]}


def percentiles(latencies: list[float]) -> str:
    """``p50 X, p95 Y, max Z`` of latencies in ms (p95: the nearest-rank percentile)."""
    ordered = sorted(latencies)
    if not ordered:
        return "none"
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.0f}, p95 {p95:.0f}, max {ordered[-1]:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="meca-bench-booking-"))
    with run_simulator(TOPOLOGY, workdir / "simulator") as simulator:
        os.environ.update(airflow_env(simulator.endpoints, timeout_s=5.0))
        from meca.cloudstack.hook import CloudStackHook
        from meca.regions import get_region, region_conn_ids
        from meca.sessions.booking import book, decide_conf
        from meca.sessions.capacity import asked_capacity
        from meca.sessions.config import load_config
        from meca.sessions.request import BookingRefused, SessionRequest
        from meca.store.migrate import upgrade

        engine = create_engine(f"sqlite:///{workdir / 'meca.db'}")
        upgrade(engine)
        config = load_config()
        regions = [get_region(conn_id) for conn_id in region_conn_ids()]
        free = {}
        for region in regions:
            capacity = asked_capacity(CloudStackHook(region.conn_id))
            free[region.name] = (capacity.memory_bytes, capacity.cpu_mhz)
        now = datetime.now(UTC)
        week = (now + timedelta(days=7 - now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        confs = session_confs(args.sessions, week, [r.name for r in regions], random.Random(args.seed))
        booking_ms, decision_ms, accepted, refused = [], [], 0, []
        refusals_with_alternatives = decided_refusals = alternatives_checked = 0
        mismatches: list[str] = []
        disagreements: list[str] = []  # the pre-run decision and the booking right after it differ

        def check_alternatives(alternatives: list[dict[str, object]], origin: str) -> None:
            """Decide every proposed alternative at once: each must be accepted."""
            nonlocal alternatives_checked
            for alternative in alternatives:
                alternatives_checked += 1
                _, again, _ = decide_conf(engine, alternative["conf"], now=now, config=config)
                if again.placement is None:
                    mismatches.append(
                        f"{origin}: {alternative['kind']} '{alternative['summary']}' refused:"
                        f" {'; '.join(again.problems)[:160]}"
                    )

        for i, conf in enumerate(confs):
            started = time.perf_counter()
            _, decision, _ = decide_conf(engine, conf, now=now, config=config)
            decision_ms.append((time.perf_counter() - started) * 1000)
            if decision.placement is None:
                decided_refusals += 1
                check_alternatives([a.to_json() for a in decision.alternatives], f"decision {i}")
            started = time.perf_counter()
            try:
                request = SessionRequest.from_conf(conf, now=now, config=config)
                booked = book(engine, request, session_id=f"bench-{i}", now=now, config=config)
                booking_ms.append((time.perf_counter() - started) * 1000)
                accepted += 1
                if decision.placement is None or decision.placement.region != booked.region:
                    disagreements.append(
                        f"session {i}: decided {decision.placement and decision.placement.region},"
                        f" booked in {booked.region}"
                    )
            except BookingRefused as exc:
                booking_ms.append((time.perf_counter() - started) * 1000)
                if decision.placement is not None:
                    disagreements.append(f"session {i}: decided {decision.placement.region}, booking refused")
                refused.append(exc.messages[0][:100])
                if exc.alternatives:
                    refusals_with_alternatives += 1
                check_alternatives(list(exc.alternatives), f"booking {i}")
        problems = overcommitted(engine, week, free)
    print(f"sessions: {len(confs)} in the week of {week:%Y-%m-%d}, {len(regions)} regions")
    print(
        f"accepted: {accepted}, refused: {len(refused)}"
        f" ({refusals_with_alternatives} with at least one alternative)"
    )
    for line in refused[:5]:
        print(f"  refused: {line}")
    print(
        f"decision latency ms (decide_conf, with alternatives): {percentiles(decision_ms)}"
        f" (target p95 <= {TARGET_P95_MS} ms; {decided_refusals} refused)"
    )
    print(f"booking latency ms (book): {percentiles(booking_ms)} (includes asking every region)")
    print(f"alternatives decided again: {alternatives_checked}, refused on the spot: {len(mismatches)}")
    for line in mismatches[:10]:
        print(f"  {line}")
    print(f"decision and booking disagree: {len(disagreements)}")
    for line in disagreements[:10]:
        print(f"  {line}")
    print(f"over-committed region-minutes: {len(problems)} (free = threshold * total - allocated)")
    for line in problems[:10]:
        print(f"  {line}")
    return 1 if problems or mismatches or disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
