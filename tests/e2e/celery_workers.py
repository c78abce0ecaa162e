"""What a test cluster needs to run its tasks on Celery workers: settings, worker commands, readiness.

Each worker is a separate ``airflow celery worker`` process named ``celery-worker-<n>`` (its Celery
node name is ``celery-worker-<n>@meca-e2e``), with ``--skip-serve-logs`` so that several workers, and
other clusters, never compete for the log server's port: every component runs on this machine and
the api-server reads the task logs from the shared log folder.

The Celery message of a task is acknowledged late (the provider's default ``task_acks_late``), so a
killed worker leaves it unacknowledged in Redis; Redis would hand it out again only after the broker's
visibility timeout, set here far above any test. The scheduler notices the dead worker's task instead,
by its missing heartbeat (``[scheduler] task_instance_heartbeat_timeout``), and queues the next try
as a new task instance id: the retry is what runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from celery import Celery

WORKER_HOST = "meca-e2e"
#: Seconds before Redis redelivers an unacknowledged message (Airflow's default is 24 h, with a warning).
VISIBILITY_TIMEOUT_S = 3600
#: Seconds without a task heartbeat before the scheduler fails (or retries) the task instance.
HEARTBEAT_TIMEOUT_S = 30
HEARTBEAT_CHECK_S = 5
PING_TIMEOUT_S = 1.0


def worker_name(number: int) -> str:
    """The component name of the ``number``-th worker (from 1): ``celery-worker-<number>``."""
    return f"celery-worker-{number}"


def node_name(name: str) -> str:
    """The Celery node name of a worker component, e.g. ``celery-worker-1@meca-e2e``."""
    return f"{name}@{WORKER_HOST}"


def celery_environment(*, broker_url: str, result_backend: str, concurrency: int) -> dict[str, str]:
    """The Airflow settings of every component for CeleryExecutor.

    :param broker_url: the Redis broker, e.g. ``redis://127.0.0.1:40123/0``.
    :param result_backend: a database for Celery's task states, e.g. ``db+postgresql+psycopg2://...``.
    :param concurrency: task slots per worker.
    """
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": result_backend,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": str(HEARTBEAT_CHECK_S),
    }


def worker_args(name: str) -> list[str]:
    """The ``airflow`` arguments that start the worker component ``name``."""
    return ["celery", "worker", "--celery-hostname", node_name(name), "--skip-serve-logs"]


def wait_until_ready(broker_url: str, name: str, timeout: float, check: Callable[[], None]) -> float:
    """Ping the worker through the broker until it answers; return the seconds it took.

    :param broker_url: the broker the worker consumes from.
    :param name: the worker component.
    :param timeout: seconds to wait.
    :param check: called between pings; raises when the worker process has exited.
    :raises TimeoutError: when it has not answered after ``timeout`` seconds.
    """
    started = time.monotonic()
    app = Celery(broker=broker_url)
    try:
        while time.monotonic() - started < timeout:
            check()
            if app.control.ping(destination=[node_name(name)], timeout=PING_TIMEOUT_S):
                return time.monotonic() - started
            time.sleep(0.5)
    finally:
        app.close()
    raise TimeoutError(f"Celery worker {node_name(name)} did not answer a ping within {timeout} s")
