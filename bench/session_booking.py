"""Benchmark: 50 classroom sessions booked in one week across the ten seed regions.

Starts the CloudStack simulator with the seed federation (``meca_seed.yaml``), points Airflow
Connections at it, and books 50 random sessions (fixed seed: weekdays 08:00-18:00, 1-3 h, 2-12 VMs
of Small or Medium, half of them asking for a named region) with
:func:`meca.sessions.booking.book` into a fresh SQLite MECA data database. The database has no sweep
data, so every booking asks every candidate region (``listTemplates``, ``listCapacity``,
``listServiceOfferings``). It reports the booking latency (p50 / p95 / max), how many were accepted
and refused, then checks, minute by minute over the week, that the accepted bookings never hold
more memory or CPU in a region than the region had free: exit status 1 if they ever do.

    .venv/bin/python bench/session_booking.py [--sessions 50] [--seed 5]
"""

from __future__ import annotations

import argparse
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
        from meca.sessions.booking import book
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
        latencies, accepted, refused = [], 0, []
        for i, conf in enumerate(confs):
            started = time.perf_counter()
            try:
                request = SessionRequest.from_conf(conf, now=now, config=config)
                book(engine, request, session_id=f"bench-{i}", now=now, config=config)
                accepted += 1
            except BookingRefused as exc:
                refused.append(exc.messages[0][:100])
            latencies.append((time.perf_counter() - started) * 1000)
        problems = overcommitted(engine, week, free)
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"sessions: {len(confs)} in the week of {week:%Y-%m-%d}, {len(regions)} regions")
    print(f"accepted: {accepted}, refused: {len(refused)}")
    for line in refused[:5]:
        print(f"  refused: {line}")
    print(
        f"booking latency ms: p50 {statistics.median(ordered):.0f}, p95 {p95:.0f}, max {ordered[-1]:.0f}"
        " (includes asking every candidate region)"
    )
    print(f"over-committed region-minutes: {len(problems)}")
    for line in problems[:10]:
        print(f"  {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
