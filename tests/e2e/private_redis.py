"""A private ``redis-server`` for one test module: a free loopback port, a temporary folder, no persistence.

Tests never share the machine's Redis (127.0.0.1:6379) with anyone: the Celery broker of a test
cluster is a server of its own, stopped (and checked gone) at the end.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.e2e.process_tree import signal_groups, survivors

START_TIMEOUT_S = 20.0
STOP_GRACE_S = 10.0


class RedisUnavailable(RuntimeError):
    """There is no ``redis-server`` binary on this machine (Debian package ``redis-server``)."""


def redis_server_binary() -> str:
    """The path of ``redis-server``.

    :raises RedisUnavailable: when it is not on ``PATH``.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable("no redis-server on PATH (Debian package redis-server)")
    return binary


@contextmanager
def run_private_redis(workdir: Path, port: int) -> Iterator[str]:
    """Serve Redis on ``127.0.0.1:port`` until the ``with`` block ends; yield its URL (database 0).

    :param workdir: a folder for its working directory and log (created).
    :param port: a free TCP port.
    :raises RedisUnavailable: when there is no redis-server.
    :raises RuntimeError: when it does not answer PING in time (its log is quoted).
    :raises AssertionError: when a process of it survives the stop.
    """
    binary = redis_server_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "redis.log"
    settings = {
        "bind": "127.0.0.1",
        "port": str(port),
        "dir": str(workdir),
        "save": "",
        "appendonly": "no",
        "daemonize": "no",
        "logfile": str(log_path),
    }
    command = [binary, *(item for name, value in settings.items() for item in (f"--{name}", value))]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(process, url, log_path)
        yield url
    finally:
        _stop(process)


def _wait_for_ping(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}: {_log(log_path)}")
            try:
                if client.ping():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not answer within {START_TIMEOUT_S} s: {_log(log_path)}"
                )
            time.sleep(0.1)
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    group = {process.pid}
    signal_groups(group, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        signal_groups(group, signal.SIGKILL)
        process.wait(timeout=10)
    left = survivors(group)
    assert not left, f"redis-server processes survived: {left}"


def _log(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"
