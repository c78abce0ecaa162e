"""A real multi-process Airflow (api-server, scheduler, dag-processor, triggerer) for end-to-end tests.

Each component is a separate process in its own process group, logging to
``<workdir>/logs/<component>.log``: LocalExecutor (the default), or CeleryExecutor with Celery workers
as more components (``celery-worker-1``, ...; see :mod:`tests.e2e.celery_workers`). Users are the
SimpleAuthManager's single admin (the default) or FAB users with roles. The cluster is driven through
the public REST API, exactly as an operator's script would. Linux only (process groups are read
from ``/proc``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import requests

from tests.e2e.celery_workers import celery_environment, wait_until_ready, worker_args, worker_name
from tests.e2e.fab_users import (
    FAB_AUTH_MANAGER,
    USERS_PATH,
    admin_create_args,
    admin_create_label,
    sync_roles_argv,
    user_body,
)
from tests.e2e.process_tree import signal_groups, survivors, tree_groups, wait_until_gone

REPO = Path(__file__).resolve().parents[2]
POOLS_FILE = REPO / "include" / "pools.json"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
FINISHED_RUN_STATES = ("success", "failed")
LOG_TAIL_LINES = 60
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
AUTH_MANAGERS = {
    "simple": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    "fab": FAB_AUTH_MANAGER,
}
WORKER_READY_TIMEOUT_S = 120.0

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class AirflowCluster:
    """A context manager that runs Airflow as separate processes: four components, and Celery workers.

    On entry it writes the configuration (environment variables, a passwords file), migrates the
    metadata database, creates the FAB admin and roles (FAB only), starts the components (and the
    Celery workers), waits until ``/api/v2/monitor/health`` reports every component healthy and each
    worker answers a ping, and creates the pools of ``include/pools.json`` over REST. On exit it stops
    every process group and every group below it (SIGTERM, then SIGKILL) and fails if any process is
    left. Whenever something fails, the tail of every component log is printed so that the test
    output explains it.

    Connections and Variables are passed as ``AIRFLOW_CONN_<ID>`` / ``AIRFLOW_VAR_<KEY>`` in
    ``env_extra`` (see :func:`cloudstack_simulator.airflow_connections.airflow_env`).

    :param workdir: an empty folder for AIRFLOW_HOME, the SQLite database and the logs.
    :param dags_folder: the DAG files to serve.
    :param plugins_folder: Airflow's plugins folder (on every component's ``sys.path``).
    :param db_url: the metadata database URL; ``None`` means a new SQLite file in ``workdir``. Any
        other URL (PostgreSQL) must name a disposable database: it is reset (``airflow db reset``).
    :param env_extra: more environment variables for every component (connections, variables...).
    :param parallelism: ``[core] parallelism``: LocalExecutor worker processes, and each Celery
        worker's task slots.
    :param startup_timeout: seconds to wait for every component to report healthy.
    :param executor: ``"LocalExecutor"`` or ``"CeleryExecutor"`` (needs ``db_url`` and ``broker_url``).
    :param broker_url: the Celery broker (a Redis URL).
    :param result_backend: Celery's result backend; ``None`` means ``db+<db_url>``.
    :param celery_workers: how many Celery workers to start with the cluster.
    :param auth_manager: ``"simple"`` (SimpleAuthManager, one admin) or ``"fab"`` (FAB users and roles:
        the admin is created with ``airflow users create``, the MECA roles with
        ``python -m meca.security.sync_roles`` when that module exists, before the dag-processor
        starts; add users with :meth:`create_user`).
    :raises ValueError: on an unknown executor or auth manager, or CeleryExecutor without a broker or
        on SQLite.
    """

    username = "admin"

    def __init__(
        self,
        workdir: Path,
        *,
        dags_folder: Path,
        plugins_folder: Path,
        db_url: str | None = None,
        env_extra: dict[str, str] | None = None,
        parallelism: int = 4,
        startup_timeout: float = 180.0,
        executor: str = "LocalExecutor",
        broker_url: str | None = None,
        result_backend: str | None = None,
        celery_workers: int = 1,
        auth_manager: str = "simple",
    ) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor {executor!r} is not one of {EXECUTORS}")
        if auth_manager not in AUTH_MANAGERS:
            raise ValueError(f"auth manager {auth_manager!r} is not one of {sorted(AUTH_MANAGERS)}")
        self.celery = executor == "CeleryExecutor"
        if self.celery and (broker_url is None or db_url is None or db_url.startswith("sqlite")):
            raise ValueError("CeleryExecutor needs a broker_url and a db_url of a real database (not SQLite)")
        self.workdir = Path(workdir)
        self.home = self.workdir / "airflow-home"
        self.log_dir = self.workdir / "logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        self.passwords = {self.username: self.password}
        self.auth_manager = auth_manager
        self.broker_url = broker_url
        self.startup_timeout = startup_timeout
        self.shared_db = db_url is not None
        self.startup_s: float | None = None
        self.healthy_after: dict[str, float] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.worker_names: list[str] = []
        self.initial_workers = celery_workers if self.celery else 0
        self._tokens: dict[str, str] = {}
        self._http = requests.Session()
        executor_env = {"AIRFLOW__CORE__EXECUTOR": executor}
        if self.celery:
            executor_env = celery_environment(
                broker_url=str(broker_url),
                result_backend=result_backend or f"db+{db_url}",
                concurrency=parallelism,
            )
        self.env = self._environment(
            dags_folder=Path(dags_folder),
            plugins_folder=Path(plugins_folder),
            db_url=db_url or f"sqlite:///{self.workdir / 'airflow.db'}",
            env_extra={**executor_env, **(env_extra or {})},
            parallelism=parallelism,
        )

    def _environment(
        self,
        *,
        dags_folder: Path,
        plugins_folder: Path,
        db_url: str,
        env_extra: dict[str, str],
        parallelism: int,
    ) -> dict[str, str]:
        """The environment of every component: this process's, minus any Airflow setting, plus ours.

        :param env_extra: the executor's settings and the caller's (which win).
        """
        env = {key: value for key, value in os.environ.items() if not key.lstrip("_").startswith("AIRFLOW")}
        python_path = [str(plugins_folder), str(REPO)]
        if env.get("PYTHONPATH"):
            python_path.append(env["PYTHONPATH"])
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGERS[self.auth_manager],
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_dir / "tasks"),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            }
        )
        if self.auth_manager == "simple":
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{self.username}:admin"
            env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.home / "passwords.json")
        env.update(env_extra)
        return env

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> AirflowCluster:
        try:
            self.start()
        except BaseException:
            self.print_log_tails()
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.print_log_tails()
        self.stop()

    def start(self) -> None:
        """Configure, migrate, start the components (and workers), wait until all are ready, add the pools."""
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.auth_manager == "simple":
            (self.home / "passwords.json").write_text(json.dumps({self.username: self.password}))
        if self.shared_db:
            self._airflow_cli("db-reset", "db", "reset", "--yes")
        else:
            self._airflow_cli("db-migrate", "db", "migrate")
        if self.auth_manager == "fab":
            admin = admin_create_args(self.username, self.password)
            self._airflow_cli("users-create-admin", *admin, what=admin_create_label(self.username))
            if sync := sync_roles_argv():  # the MECA roles must exist before a DAG naming them is parsed
                self._run("sync-roles", sync, " ".join(sync[1:]))
        database_s = time.monotonic() - started
        for component in COMPONENTS:
            host = ["--port", str(self.port), "--host", "127.0.0.1"] if component == "api-server" else []
            self._start_component(component, [component, *host])
        for _ in range(self.initial_workers):
            self._spawn_worker()
        self._wait_until_healthy()
        for name in self.worker_names:
            self._wait_for_worker(name)
        self._create_pools()
        self.startup_s = time.monotonic() - started
        print(
            f"Airflow cluster ({self.env['AIRFLOW__CORE__EXECUTOR']}, {self.auth_manager} auth) on "
            f"{self.base_url} ready after {self.startup_s:.1f} s: database and users {database_s:.1f} s, "
            f"then seconds from spawn to healthy {self.healthy_after}",
            file=sys.stderr,
        )

    def _create_pools(self) -> None:
        """Create the pools of ``include/pools.json`` through the REST API (no extra CLI start-up)."""
        for name, pool in json.loads(POOLS_FILE.read_text()).items():
            response = self.api("POST", "/pools", json={"name": name, **pool})
            self._check(response, f"create pool {name}")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` in its own process group, output to ``logs/<name>.log``."""
        return self._popen(name, [sys.executable, "-m", "airflow", *args])

    def _popen(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group with the cluster's environment, output to the log."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _start_component(self, name: str, args: list[str]) -> None:
        """Spawn a long-running component (its pid is its process group)."""
        self.processes[name] = self._spawn(name, args)

    def _airflow_cli(self, name: str, *args: str, what: str | None = None, timeout: float = 300.0) -> None:
        """Run one ``airflow`` command to completion (see :meth:`_run`)."""
        self._run(
            name, [sys.executable, "-m", "airflow", *args], what or f"airflow {' '.join(args)}", timeout
        )

    def _run(self, name: str, argv: list[str], what: str, timeout: float = 300.0) -> None:
        """Run one command to completion, output to ``logs/<name>.log``.

        :param what: how to name the command in an error (never with a password).
        :raises RuntimeError: when it exits non-zero, with the tail of its output, or takes too long.
        """
        process = self._popen(name, argv)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"`{what}` took longer than {timeout} s") from None
        if code != 0:
            raise RuntimeError(f"`{what}` exited with {code}:\n{_tail(self.log_dir / f'{name}.log')}")

    def _wait_until_healthy(self) -> None:
        """Poll the health endpoint until every component is healthy, noting when each first was.

        :raises RuntimeError: when a component exits first.
        :raises TimeoutError: after ``startup_timeout`` seconds.
        """
        started = time.monotonic()
        deadline = started + self.startup_timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._raise_if_a_component_exited()
            try:
                health = self._http.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError) as err:
                last = repr(err)
            else:
                statuses = {key: (health.get(key) or {}).get("status") for key in HEALTH_KEYS}
                for key, status in statuses.items():
                    if status == "healthy":
                        self.healthy_after.setdefault(key, round(time.monotonic() - started, 1))
                if all(status == "healthy" for status in statuses.values()):
                    return
                last = json.dumps(statuses)
            time.sleep(0.5)
        raise TimeoutError(f"Airflow not healthy after {self.startup_timeout} s; last health: {last}")

    def _raise_if_a_component_exited(self) -> None:
        """:raises RuntimeError: naming the first component process that has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"Airflow {name} exited with {process.returncode} (see logs/{name}.log)")

    # -- Celery workers ----------------------------------------------------------------------------

    def _spawn_worker(self) -> str:
        name = worker_name(len(self.worker_names) + 1)
        self.worker_names.append(name)
        self._start_component(name, worker_args(name))
        return name

    def _wait_for_worker(self, name: str) -> None:
        ready_s = wait_until_ready(
            str(self.broker_url), name, WORKER_READY_TIMEOUT_S, self._raise_if_a_component_exited
        )
        self.healthy_after[name] = round(ready_s, 1)

    def start_worker(self) -> str:
        """Start one more Celery worker and wait until it answers a ping; return its name.

        :raises RuntimeError: when the cluster does not run CeleryExecutor, or the worker exits.
        """
        if not self.celery:
            raise RuntimeError("only a CeleryExecutor cluster has Celery workers")
        name = self._spawn_worker()
        self._wait_for_worker(name)
        return name

    def kill(self, name: str) -> set[int]:
        """SIGKILL a component's process group and every group below it, as if its machine died.

        Airflow's task supervisor runs each task in a process group of its own, so killing only the
        worker's group would leave its running tasks alive as orphans.

        :param name: a component, e.g. ``celery-worker-1``.
        :return: the process groups killed.
        :raises KeyError: for a component that is not running.
        :raises AssertionError: when a process survives.
        """
        process = self.processes.pop(name)
        groups = tree_groups(process.pid)
        signal_groups(groups, signal.SIGKILL)
        process.wait(timeout=10)
        left = wait_until_gone(groups, 10.0)
        assert not left, f"processes of {name} survived SIGKILL: {left}"
        return groups

    # -- stop --------------------------------------------------------------------------------------

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM every process group (and the groups below), SIGKILL what is left after ``grace_s``.

        :raises AssertionError: when a process of a component is still alive after SIGKILL.
        """
        groups = set().union(*(tree_groups(process.pid) for process in self.processes.values()))
        signal_groups(groups, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and survivors(groups):
            for process in self.processes.values():
                process.poll()
            time.sleep(0.2)
        groups.update(*(tree_groups(process.pid) for process in self.processes.values()))  # late tasks
        signal_groups(groups, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)
        self.processes.clear()
        self._http.close()
        left = wait_until_gone(groups, 10.0)
        assert not left, f"Airflow processes survived SIGKILL: {left}"

    def print_log_tails(self) -> None:
        """Print the end of every component log to stderr."""
        for log in sorted(self.log_dir.glob("*.log")):
            print(f"\n===== tail of {log} =====\n{_tail(log)}", file=sys.stderr)

    # -- users and REST API ------------------------------------------------------------------------

    def create_user(self, username: str, role: str, *, email: str) -> None:
        """Create a FAB user with one role over REST (``POST /auth/fab/v1/users``, as the admin).

        :param username: the login.
        :param role: a FAB role, e.g. ``Teacher`` (created by ``sync_roles``) or ``Admin``.
        :param email: the user's e-mail address.
        :raises RuntimeError: with the SimpleAuthManager (its users are fixed at start), or when FAB
            refuses (unknown role, duplicate user).
        """
        if self.auth_manager != "fab":
            raise RuntimeError("users can be added only with the FAB auth manager")
        password = secrets.token_urlsafe(16)
        response = self.http("POST", USERS_PATH, json=user_body(username, role, email, password))
        self._check(response, f"create the user {username} with role {role}")
        self.passwords[username] = password

    def token(self, user: str | None = None) -> str:
        """A JWT for a user (the admin by default) from ``POST /auth/token``, cached for the cluster's life.

        :raises KeyError: for a user this cluster did not create.
        """
        user = user or self.username
        if user not in self._tokens:
            response = self._http.post(
                f"{self.base_url}/auth/token",
                json={"username": user, "password": self.passwords[user]},
                timeout=30,
            )
            self._check(response, f"get a token for {user}")
            self._tokens[user] = response.json()["access_token"]
        return self._tokens[user]

    def http(self, method: str, path: str, *, user: str | None = None, **kwargs: Any) -> requests.Response:
        """One call to any path of the api-server (``/meca/...``, ``/auth/...``) with a user's token.

        :param user: who calls; the admin by default.
        :return: the response, whatever its status.
        """
        headers = {"Authorization": f"Bearer {self.token(user)}", **kwargs.pop("headers", {})}
        return self._http.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def api(self, method: str, path: str, *, user: str | None = None, **kwargs: Any) -> requests.Response:
        """One authenticated call to ``/api/v2<path>``; the response is returned whatever its status."""
        return self.http(method, f"/api/v2{path}", user=user, **kwargs)

    @staticmethod
    def _check(response: requests.Response, what: str) -> None:
        """:raises RuntimeError: when the response is not a 2xx, with its status and body."""
        if not response.ok:
            raise RuntimeError(f"could not {what}: HTTP {response.status_code} {response.text[:2000]}")

    def _poll(self, what: str, timeout: float, probe: Callable[[], T | None]) -> T:
        """Call ``probe`` every half second until it returns something other than None.

        :raises TimeoutError: naming ``what`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._raise_if_a_component_exited()
            result = probe()
            if result is not None:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.5)

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> None:
        """Wait until the DAG is parsed and serialised, then unpause it.

        :raises RuntimeError: when its file has an import error.
        """

        def parsed() -> bool | None:
            if self.api("GET", f"/dags/{dag_id}").status_code == 200:
                return True
            errors = self.api("GET", "/importErrors").json().get("import_errors", [])
            if errors:
                raise RuntimeError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            return None

        self._poll(f"DAG {dag_id} to be parsed", timeout, parsed)
        self._check(self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}), f"unpause {dag_id}")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, *, user: str | None = None) -> str:
        """Trigger a run now (as ``user``, the admin by default); return its run id."""
        body = {"logical_date": None, "conf": conf or {}}
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", user=user, json=body)
        self._check(response, f"trigger {dag_id}")
        return str(response.json()["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        """Wait until the run is finished; return its state (``success`` or ``failed``)."""

        def finished() -> str | None:
            response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            self._check(response, f"read run {run_id}")
            state = response.json()["state"]
            return state if state in FINISHED_RUN_STATES else None

        return self._poll(f"run {dag_id}/{run_id} to finish", timeout, finished)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included (one entry per map index)."""
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        self._check(response, f"list task instances of {run_id}")
        return list(response.json()["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The return value a task instance pushed, decoded from JSON.

        :raises RuntimeError: when there is none (HTTP 404).
        """
        response = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"map_index": map_index},
        )
        self._check(response, f"read the XCom of {task_id}[{map_index}]")
        return response.json()["value"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        """The full log of one try of a task instance, one line per record (structured ones as JSON)."""
        response = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"map_index": map_index, "full_content": "true"},
            headers={"Accept": "application/json"},
        )
        self._check(response, f"read the log of {task_id}[{map_index}]")
        content = response.json()["content"]
        return "\n".join(entry if isinstance(entry, str) else json.dumps(entry) for entry in content)
