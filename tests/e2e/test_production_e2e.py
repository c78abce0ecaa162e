"""The whole system on a production-shaped Airflow: CeleryExecutor, FAB roles, PostgreSQL, Redis.

One cluster for the module, every part a separate process: api-server, scheduler, dag-processor,
triggerer and a Celery worker, with the metadata and the MECA data databases fresh on PostgreSQL
(dropped at the end), a private ``redis-server`` as the broker, the seed simulator's regions as
Connections and an SFTP MGTR with its staging server for the replication. The users are FAB users:
an Operator, two Teachers whose e-mail domains are institutions of ``include/sessions.yaml`` and an
Analyst. The tests show:

1. what each role may and may not do, over the REST API and the plugin's session control;
2. a teacher's short session beside a sweep and a replication, everything succeeding: the VMs are
   Running before the start and destroyed after the end, the sweep's samples are in the tables;
3. a Celery worker killed mid-provision (SIGKILL, the whole process tree) and replaced: the
   scheduler sees the task's heartbeat stop and retries it on the new worker, the run succeeds, and
   the simulator's log of deployed VMs shows exactly N VMs ever existed, none left.

Without redis-server or PostgreSQL the module is skipped, with the reason; when ``CI`` is ``true``
it fails instead. It prints one summary line to stderr: the wall time of each part and what ran.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import pytest
import redis
import requests
import yaml
from sqlalchemy import Engine, create_engine, make_url, text

from cloudstack_simulator.airflow_connections import airflow_env
from cloudstack_simulator.testing import SimulatorHandle
from meca.mgtr.status import status_rows
from meca.security.roles import ANALYST, OPERATOR, TEACHER
from meca.sessions.tags import session_token, vm_name
from meca.store.engine import connection_fields
from meca.store.migrate import upgrade
from tests.e2e.airflow_cluster import AirflowCluster, free_port
from tests.e2e.private_redis import RedisUnavailable, run_private_redis
from tests.e2e.replication_setup import replication_setup
from tests.e2e.session_watch import (
    SESSION_DAG_ID,
    booked_region,
    poll,
    running_vms,
    session_vms_anywhere,
    task_states,
)
from tests.e2e.sweep_tables import stored_sweep
from tests.meca.sessions.session_cloud import raw_api, vms_of

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SWEEP_DAG_ID = "meca_metrics_sweep"
REPLICATION_DAG_ID = "meca_template_replication"
CET = timezone(timedelta(hours=1))
#: Task slots of the Celery worker (and ``[core] parallelism``).
WORKER_SLOTS = 6
#: How much slower every async job of the killed session's region runs (a deploy: 2 s -> 60 s).
SLOW_JOBS = 30.0

OPERATOR_USER, TEACHER_A, TEACHER_B, ANALYST_USER = "operator", "teacher-a", "teacher-b", "analyst"
#: E-mail domain -> home region, from the booking rules.
INSTITUTIONS: dict[str, str] = yaml.safe_load((REPO / "include" / "sessions.yaml").read_text())[
    "home_regions"
]["institutions"]
_DOMAINS = list(INSTITUTIONS)
#: Each user's role and e-mail address; a teacher's domain is an institution with a home region.
USERS = {
    OPERATOR_USER: (OPERATOR, "operator@meca.example"),
    TEACHER_A: (TEACHER, f"{TEACHER_A}@{_DOMAINS[0]}"),
    TEACHER_B: (TEACHER, f"{TEACHER_B}@{_DOMAINS[1]}"),
    ANALYST_USER: (ANALYST, "analyst@meca.example"),
}


def unavailable(reason: str) -> NoReturn:
    """Skip the module for a missing service, or fail when ``CI`` is ``true`` (CI must run it)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the production end-to-end test", pytrace=False)
    pytest.skip(reason)


@dataclass
class Production:
    """The module's running system.

    :param cluster: Airflow, with the users of :data:`USERS`.
    :param data: the MECA data database (PostgreSQL).
    :param replication_path: the MGTR path of the template the replication copies.
    """

    cluster: AirflowCluster
    data: Engine
    replication_path: str


@dataclass
class Summary:
    """What ran in the module and how long each part took, printed as one line at the end."""

    started: float = field(default_factory=time.monotonic)
    parts: list[str] = field(default_factory=list)

    def add(self, part: str, seconds: float) -> None:
        self.parts.append(f"{part} {seconds:.0f} s")

    def line(self) -> str:
        return (
            f"production e2e (api-server, scheduler, dag-processor, triggerer, Celery workers; FAB roles, "
            f"PostgreSQL, private Redis): {time.monotonic() - self.started:.0f} s in all: "
            + "; ".join(self.parts)
        )


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[Summary]:
    """Collects the parts' wall times; prints the summary line to stderr, past pytest's capture."""
    done = Summary()
    yield done
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{done.line()}", file=sys.stderr)


@pytest.fixture(scope="module")
def databases(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL databases, ``(Airflow metadata URL, MECA data URL)``, dropped at the end."""
    try:
        server_url = request.getfixturevalue("postgres_server_url")
    except pytest.skip.Exception as skipped:
        unavailable(f"no PostgreSQL for the production cluster ({skipped})")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    names = [f"meca_e2e_{purpose}_{uuid.uuid4().hex[:10]}" for purpose in ("airflow", "data")]
    try:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        airflow_url, data_url = (
            make_url(server_url).set(database=name).render_as_string(hide_password=False) for name in names
        )
        yield airflow_url, data_url
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for this module: the Celery broker's URL."""
    try:
        with run_private_redis(tmp_path_factory.mktemp("redis"), free_port()) as url:
            yield url
    except RedisUnavailable as missing:
        unavailable(str(missing))


@pytest.fixture(scope="module")
def production(
    summary: Summary,
    databases: tuple[str, str],
    broker: str,
    seed_simulator: SimulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Production]:
    started = time.monotonic()
    airflow_url, data_url = databases
    data = create_engine(data_url)
    upgrade(data)
    work = tmp_path_factory.mktemp("production-e2e")
    with replication_setup(work / "replication") as replication:
        env = airflow_env(seed_simulator.endpoints)
        env.update(replication.env)
        env["AIRFLOW_CONN_MECA_DATA"] = json.dumps(connection_fields(data.url))
        with AirflowCluster(
            work / "airflow",
            dags_folder=REPO / "dags",
            plugins_folder=REPO / "plugins",
            db_url=airflow_url,
            env_extra=env,
            parallelism=WORKER_SLOTS,
            executor="CeleryExecutor",
            broker_url=broker,
            auth_manager="fab",
        ) as cluster:
            for username, (role, email) in USERS.items():
                cluster.create_user(username, role, email=email)
            for dag_id in (SESSION_DAG_ID, SWEEP_DAG_ID, REPLICATION_DAG_ID):
                cluster.wait_for_dag(dag_id)
            startup = f"cluster up (startup {cluster.startup_s:.0f} s), 4 users, 3 DAGs unpaused"
            summary.add(startup, time.monotonic() - started)
            yield Production(cluster=cluster, data=data, replication_path=replication.path)
    data.dispose()


# -- helpers ---------------------------------------------------------------------------------------


def book(
    cluster: AirflowCluster,
    user: str,
    *,
    start: datetime,
    end: datetime,
    instances: int,
    owner: str | None = None,
) -> tuple[str, requests.Response]:
    """A user triggers ``meca_classroom_session`` over REST; (run id, response).

    :param owner: the session's owner; the user's own e-mail address when ``None``.
    """
    run_id = f"lab-prod-{uuid.uuid4().hex[:8]}"
    conf = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "title": f"Lab of {user}",
        "owner": owner or USERS[user][1],
        "region": "any",
        "template": "Ubuntu-22.04-Server",
        "instances": instances,
        "offering": "Small",
    }
    body = {"logical_date": None, "dag_run_id": run_id, "conf": conf}
    return run_id, cluster.api("POST", f"/dags/{SESSION_DAG_ID}/dagRuns", user=user, json=body)


def session_url(run_id: str, action: str = "") -> str:
    """The plugin's session-control URL of a session (``action``: ``""``, ``"cancel"``, ``"extend"``)."""
    return f"/meca/sessions/api/sessions/{quote(run_id, safe='')}" + (f"/{action}" if action else "")


def later(seconds: float) -> datetime:
    """A whole second, ``seconds`` from now, in CET (as a teacher in Turin would write it)."""
    return (datetime.now(CET) + timedelta(seconds=seconds)).replace(microsecond=0)


def ever_deployed(seed_simulator: SimulatorHandle, region: str, run_id: str) -> list[dict[str, Any]]:
    """Every VM the session's name prefix ever had in the region, expunged ones included."""
    return seed_simulator.control.deployed_vms(region, name_prefix=f"meca-{session_token(run_id)}-")


# -- 1. roles --------------------------------------------------------------------------------------


def test_a_teacher_is_refused_other_dags_the_connections_and_another_teachers_session(
    production: Production, summary: Summary
) -> None:
    started = time.monotonic()
    cluster = production.cluster
    far = later(2 * 86400)
    b_run, booked_b = book(cluster, TEACHER_B, start=far, end=far + timedelta(hours=1), instances=1)
    a_run, booked_a = book(cluster, TEACHER_A, start=far, end=far + timedelta(hours=1), instances=1)
    assert (booked_b.status_code, booked_a.status_code) == (200, 200), (booked_b.text, booked_a.text)
    for run_id in (b_run, a_run):
        booked_region(cluster, run_id)

    sweep_dag = cluster.api("GET", f"/dags/{SWEEP_DAG_ID}", user=TEACHER_A)
    connections = cluster.api("GET", "/connections", user=TEACHER_A)
    other_session = cluster.http("GET", session_url(b_run), user=TEACHER_A)
    cancel_other = cluster.http("POST", session_url(b_run, "cancel"), user=TEACHER_A, json={})
    dashboard = cluster.http("GET", "/meca/dashboard/api/summary", user=ANALYST_USER)
    _, analyst_books = book(cluster, ANALYST_USER, start=far, end=far + timedelta(hours=1), instances=1)

    assert (sweep_dag.status_code, connections.status_code) == (403, 403), (sweep_dag.text, connections.text)
    # A teacher's token works where a teacher may go; an operator may go where a teacher may not.
    assert cluster.api("GET", f"/dags/{SESSION_DAG_ID}", user=TEACHER_A).status_code == 200
    assert cluster.api("GET", f"/dags/{SWEEP_DAG_ID}", user=OPERATOR_USER).status_code == 200
    assert cluster.api("GET", "/connections", user=OPERATOR_USER).status_code == 200
    assert (other_session.status_code, cancel_other.status_code) == (403, 403), cancel_other.text
    assert dashboard.status_code == 200, dashboard.text
    assert analyst_books.status_code == 403, analyst_books.text
    # The session DAG guard: a teacher may trigger the session DAG but neither pause it nor book in
    # another teacher's name (FAB's can_edit on the DAG, which triggering needs, would allow both).
    paused = cluster.api("PATCH", f"/dags/{SESSION_DAG_ID}", user=TEACHER_A, json={"is_paused": True})
    assert paused.status_code == 403, paused.text
    assert "stops every teacher's sessions" in paused.json()["detail"]
    assert cluster.api("GET", f"/dags/{SESSION_DAG_ID}", user=TEACHER_A).json()["is_paused"] is False
    in_b_name, booked_in_b_name = book(
        cluster, TEACHER_A, start=far, end=far + timedelta(hours=1), instances=1, owner=USERS[TEACHER_B][1]
    )
    assert booked_in_b_name.status_code == 403, booked_in_b_name.text
    assert "in their own name" in booked_in_b_name.json()["detail"]
    never_made = cluster.api("GET", f"/dags/{SESSION_DAG_ID}/dagRuns/{in_b_name}", user=OPERATOR_USER)
    assert never_made.status_code == 404, never_made.text
    # The same calls by those allowed: the owner and an operator cancel; nothing was cancelled before.
    own = cluster.http("GET", session_url(b_run), user=TEACHER_B)
    assert (own.status_code, own.json()["state"]) == (200, "accepted"), own.text
    cancelled_by_owner = cluster.http("POST", session_url(b_run, "cancel"), user=TEACHER_B, json={})
    cancelled_by_operator = cluster.http("POST", session_url(a_run, "cancel"), user=OPERATOR_USER, json={})
    assert cancelled_by_owner.status_code == 200, cancelled_by_owner.text
    assert cancelled_by_operator.status_code == 200, cancelled_by_operator.text
    assert cancelled_by_owner.json()["changed_by"] == TEACHER_B
    assert cancelled_by_operator.json()["changed_by"] == OPERATOR_USER
    for run_id in (b_run, a_run):
        assert cluster.wait_for_run(SESSION_DAG_ID, run_id, timeout=120.0) == "success"
    summary.add("roles (19 calls as 4 users, 2 sessions booked and cancelled)", time.monotonic() - started)


# -- 2. the whole system ---------------------------------------------------------------------------


def test_a_session_beside_a_sweep_and_a_replication_all_on_celery(
    production: Production, seed_simulator: SimulatorHandle, summary: Summary
) -> None:
    started = time.monotonic()
    cluster = production.cluster
    names = [region["name"] for region in seed_simulator.endpoints["regions"]]
    start = later(80)
    end = start + timedelta(seconds=40)

    run_id, booked = book(cluster, TEACHER_A, start=start, end=end, instances=3)
    assert booked.status_code == 200, booked.text
    sweep = cluster.trigger(SWEEP_DAG_ID, user=OPERATOR_USER)
    replication = cluster.trigger(REPLICATION_DAG_ID, user=OPERATOR_USER)
    region = booked_region(cluster, run_id)
    vms = running_vms(cluster, seed_simulator, region, run_id, 3, timeout=(start - later(0)).total_seconds())
    running_at = datetime.now(CET)
    states = {
        dag_id: cluster.wait_for_run(dag_id, run, timeout=600.0)
        for dag_id, run in ((SWEEP_DAG_ID, sweep), (REPLICATION_DAG_ID, replication))
    }
    states[SESSION_DAG_ID] = cluster.wait_for_run(
        SESSION_DAG_ID, run_id, timeout=(end - datetime.now(CET)).total_seconds() + 180
    )

    assert running_at < start, f"the VMs were Running only at {running_at}, the start is {start}"
    assert sorted(vm["name"] for vm in vms) == [vm_name(run_id, i) for i in (1, 2, 3)]
    assert states == dict.fromkeys(states, "success"), states
    session_tasks = task_states(cluster, SESSION_DAG_ID, run_id)
    assert session_tasks.pop("trigger_repeats") == "skipped"
    assert set(session_tasks.values()) == {"success"}, session_tasks
    assert session_vms_anywhere(seed_simulator, run_id) == {}
    assert len(ever_deployed(seed_simulator, region, run_id)) == 3
    sampled_at = datetime.fromisoformat(cluster.xcom(SWEEP_DAG_ID, sweep, "finalize")["sampled_at"])
    health, sampled = stored_sweep(production.data, sampled_at)
    assert health == dict.fromkeys(names, "ok")
    assert sampled == set(names)
    replicated = {row.region: row.state for row in status_rows(production.data, production.replication_path)}
    assert replicated == dict.fromkeys(names, "Ready")
    summary.add(
        f"whole system (3-VM session in {region}, sweep and replication of {len(names)} regions)",
        time.monotonic() - started,
    )


# -- 3. a worker killed mid-provision --------------------------------------------------------------


@pytest.fixture
def slow_jobs(seed_simulator: SimulatorHandle) -> Iterator[str]:
    """Every async job of the first teacher's home region is :data:`SLOW_JOBS` times slower meanwhile."""
    region = INSTITUTIONS[_DOMAINS[0]]
    seed_simulator.control.set_faults(region, job_slowdown=SLOW_JOBS)
    try:
        yield region
    finally:
        seed_simulator.control.set_faults(region, job_slowdown=1.0)


def provision_tries_unacknowledged(broker_url: str, run_id: str) -> list[int]:
    """The try numbers of the run's ``provision`` messages Redis holds as delivered, not acknowledged."""
    client = redis.Redis.from_url(broker_url)
    try:
        messages = [json.loads(raw) for raw in client.hvals("unacked")]  # kombu's Redis transport
    finally:
        client.close()
    tries = []
    for message, _exchange, _routing_key in messages:
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]  # Celery's message protocol 2: [args, kwargs, embed]
        ti = json.loads(args[0])["ti"]  # execute_workload's one argument: the workload as JSON
        if (ti["run_id"], ti["task_id"]) == (run_id, "provision"):
            tries.append(int(ti["try_number"]))
    return sorted(tries)


def test_a_worker_killed_mid_provision_is_replaced_and_the_retry_makes_exactly_n_vms(
    production: Production, seed_simulator: SimulatorHandle, broker: str, slow_jobs: str, summary: Summary
) -> None:
    started = time.monotonic()
    cluster = production.cluster
    region = slow_jobs
    start = later(90)
    run_id, booked = book(cluster, TEACHER_A, start=start, end=start + timedelta(seconds=30), instances=3)
    assert booked.status_code == 200, booked.text
    assert booked_region(cluster, run_id) == region
    api = raw_api(seed_simulator, region)

    def deploying() -> bool | None:
        states = task_states(cluster, SESSION_DAG_ID, run_id)
        assert states["provision"] in (None, "scheduled", "queued", "running"), states
        in_flight = [vm for vm in vms_of(api, run_id) if vm["state"] == "Starting"]
        return (states["provision"] == "running" and len(in_flight) == 3) or None

    poll(f"provision of {run_id} with 3 deploy jobs in flight", 120.0, deploying)
    (victim,) = cluster.worker_names
    killed_groups = cluster.kill(victim)
    killed_at = time.monotonic()
    assert provision_tries_unacknowledged(broker, run_id) == [1]  # the killed worker held the message
    replacement = cluster.start_worker()
    state = cluster.wait_for_run(SESSION_DAG_ID, run_id, timeout=420.0)
    print(
        f"{victim} killed ({len(killed_groups)} process groups) mid-provision; {replacement} took over; "
        f"run {state} {time.monotonic() - killed_at:.0f} s after the kill",
        file=sys.stderr,
    )

    assert state == "success", task_states(cluster, SESSION_DAG_ID, run_id)
    tries = cluster.api("GET", f"/dags/{SESSION_DAG_ID}/dagRuns/{run_id}/taskInstances/provision/tries")
    assert [(t["try_number"], t["state"]) for t in tries.json()["task_instances"]] == [
        (1, "failed"),
        (2, "success"),
    ]
    provisioned = cluster.xcom(SESSION_DAG_ID, run_id, "provision")
    assert (provisioned["deployed"], len(provisioned["vms"])) == (0, 3)  # the retry found the 3 deploying
    retry_log = cluster.task_log(SESSION_DAG_ID, run_id, "provision", try_number=2)  # read from the files
    assert f"Session {run_id}: 3 VM(s) in {region}, 0 deploy(s) sent" in retry_log
    deployed = ever_deployed(seed_simulator, region, run_id)
    assert len({vm["id"] for vm in deployed}) == len(deployed) == 3, deployed
    assert sorted(vm["name"] for vm in deployed) == [vm_name(run_id, i) for i in (1, 2, 3)]
    assert session_vms_anywhere(seed_simulator, run_id) == {}
    # The killed try's message stays unacknowledged (Redis redelivers it only after the visibility
    # timeout); the retry ran from a message of its own, acknowledged when it ended.
    assert provision_tries_unacknowledged(broker, run_id) == [1]
    summary.add(
        f"worker killed mid-provision, replaced, 3 VMs ever made (run success "
        f"{time.monotonic() - killed_at:.0f} s after the kill)",
        time.monotonic() - started,
    )
