"""A real multi-process Airflow (api-server, scheduler, dag-processor, triggerer) for end-to-end tests.

Each component is a separate process in its own process group, with LocalExecutor, logging to
``<workdir>/logs/<component>.log``. The cluster is driven through the public REST API, exactly as an
operator's script would. Linux only (process groups are checked through ``/proc``).
"""

from __future__ import annotations

import contextlib
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

REPO = Path(__file__).resolve().parents[2]
POOLS_FILE = REPO / "include" / "pools.json"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
FINISHED_RUN_STATES = ("success", "failed")
LOG_TAIL_LINES = 60

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _live_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are still alive (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class AirflowCluster:
    """A context manager that runs Airflow with LocalExecutor as four separate processes.

    On entry it writes the configuration (environment variables, a passwords file), migrates the
    metadata database, starts the components, waits until ``/api/v2/monitor/health`` reports every
    component healthy and creates the pools of ``include/pools.json`` over REST. On exit it stops
    every process group (SIGTERM, then SIGKILL) and fails if any process is left. Whenever something
    fails, the tail of every component log is printed so that the test output explains it.

    Connections and Variables are passed as ``AIRFLOW_CONN_<ID>`` / ``AIRFLOW_VAR_<KEY>`` in
    ``env_extra`` (see :func:`cloudstack_simulator.airflow_connections.airflow_env`).

    :param workdir: an empty folder for AIRFLOW_HOME, the SQLite database and the logs.
    :param dags_folder: the DAG files to serve.
    :param plugins_folder: Airflow's plugins folder (on every component's ``sys.path``).
    :param db_url: the metadata database URL; ``None`` means a new SQLite file in ``workdir``. Any
        other URL (PostgreSQL) must name a disposable database: it is reset (``airflow db reset``).
    :param env_extra: more environment variables for every component (connections, variables...).
    :param parallelism: ``[core] parallelism``: LocalExecutor worker processes.
    :param startup_timeout: seconds to wait for every component to report healthy.
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
    ) -> None:
        self.workdir = Path(workdir)
        self.home = self.workdir / "airflow-home"
        self.log_dir = self.workdir / "logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        self.startup_timeout = startup_timeout
        self.shared_db = db_url is not None
        self.startup_s: float | None = None
        self.healthy_after: dict[str, float] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None
        self._http = requests.Session()
        self.env = self._environment(
            dags_folder=Path(dags_folder),
            plugins_folder=Path(plugins_folder),
            db_url=db_url or f"sqlite:///{self.workdir / 'airflow.db'}",
            env_extra=env_extra or {},
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
        """The environment of every component: this process's, minus any Airflow setting, plus ours."""
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
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_dir / "tasks"),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            }
        )
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
        """Configure, migrate, start the four components, wait until all are healthy, create the pools."""
        started = time.monotonic()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({self.username: self.password}))
        if self.shared_db:
            self._airflow_cli("db-reset", "db", "reset", "--yes")
        else:
            self._airflow_cli("db-migrate", "db", "migrate")
        database_s = time.monotonic() - started
        for component in COMPONENTS:
            host = ["--port", str(self.port), "--host", "127.0.0.1"] if component == "api-server" else []
            self.processes[component] = self._spawn(component, [component, *host])
        self._wait_until_healthy()
        self._create_pools()
        self.startup_s = time.monotonic() - started
        print(
            f"Airflow cluster on {self.base_url} ready after {self.startup_s:.1f} s: database "
            f"{database_s:.1f} s, then seconds from spawn to healthy {self.healthy_after}",
            file=sys.stderr,
        )

    def _create_pools(self) -> None:
        """Create the pools of ``include/pools.json`` through the REST API (no extra CLI start-up)."""
        for name, pool in json.loads(POOLS_FILE.read_text()).items():
            response = self.api("POST", "/pools", json={"name": name, **pool})
            self._check(response, f"create pool {name}")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` in its own process group, output to ``logs/<name>.log``."""
        with (self.log_dir / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _airflow_cli(self, name: str, *args: str, timeout: float = 300.0) -> None:
        """Run one ``airflow`` command to completion.

        :raises RuntimeError: when it exits non-zero, with the tail of its output.
        """
        process = self._spawn(name, list(args))
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"`airflow {' '.join(args)}` took longer than {timeout} s") from None
        if code != 0:
            raise RuntimeError(
                f"`airflow {' '.join(args)}` exited with {code}:\n{_tail(self.log_dir / f'{name}.log')}"
            )

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

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after ``grace_s``, and check none survived.

        :raises AssertionError: when a process of a component is still alive after SIGKILL.
        """
        groups = {name: process.pid for name, process in self.processes.items()}
        for pgid in groups.values():
            self._signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_live_members(pgid) for pgid in groups.values()):
            for process in self.processes.values():
                process.poll()
            time.sleep(0.2)
        for pgid in groups.values():
            self._signal_group(pgid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)
        self.processes.clear()
        self._http.close()
        kill_deadline = time.monotonic() + 10
        left = {name: _live_members(pgid) for name, pgid in groups.items()}
        while time.monotonic() < kill_deadline and any(left.values()):
            time.sleep(0.2)
            left = {name: _live_members(pgid) for name, pgid in groups.items()}
        survivors = {name: pids for name, pids in left.items() if pids}
        assert not survivors, f"Airflow processes survived SIGKILL: {survivors}"

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        """Send ``sig`` to a process group that may already be gone."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)

    def print_log_tails(self) -> None:
        """Print the end of every component log to stderr."""
        for log in sorted(self.log_dir.glob("*.log")):
            print(f"\n===== tail of {log} =====\n{_tail(log)}", file=sys.stderr)

    # -- REST API ----------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for the admin user (``POST /auth/token``), cached for the cluster's life."""
        if self._token is None:
            response = self._http.post(
                f"{self.base_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=30,
            )
            self._check(response, "get a token")
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One authenticated call to ``/api/v2<path>``; the response is returned whatever its status."""
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return self._http.request(
            method, f"{self.base_url}/api/v2{path}", headers=headers, timeout=30, **kwargs
        )

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

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run now; return its run id."""
        response = self.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
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
