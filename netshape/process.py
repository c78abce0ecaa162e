"""Run the shaping proxy as a child process (so it does not share a CPU/GIL with the code measured)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 30.0
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ProxyHandle:
    """A running proxy.

    :param host: the address clients connect to.
    :param port: its port.
    :param stats_file: where the proxy writes its counters.
    """

    host: str
    port: int
    stats_file: Path

    def stats(self) -> dict[str, int]:
        """The latest counters (``connections``, ``bytes_down``, ``bytes_up``, ``cuts``)."""
        return dict(json.loads(self.stats_file.read_text()))


@contextlib.contextmanager
def run_shaping_proxy(
    target_host: str,
    target_port: int,
    workdir: Path,
    *,
    delay_ms: float = 50.0,
    rate_mbit: float | None = None,
    cut_after_bytes: int | None = None,
    max_seconds: float = 600.0,
) -> Iterator[ProxyHandle]:
    """Run ``python -m netshape`` in front of ``target_host:target_port`` for the ``with`` block.

    :param target_host: the server's host.
    :param target_port: the server's port.
    :param workdir: a folder for the port, stats and log files (created).
    :param delay_ms: one-way delay.
    :param rate_mbit: link rate per direction in Mbit/s, ``None`` for no cap.
    :param cut_after_bytes: close the open connections once after this many bytes downstream.
    :param max_seconds: the proxy stops by itself after this.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port_file, stats_file, log = workdir / "proxy.port", workdir / "proxy.stats.json", workdir / "proxy.log"
    port_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", "netshape", "--target", f"{target_host}:{target_port}"]
    command += ["--delay-ms", str(delay_ms), "--port-file", str(port_file), "--stats-file", str(stats_file)]
    command += ["--max-seconds", str(max_seconds)]
    if rate_mbit is not None:
        command += ["--rate-mbit", str(rate_mbit)]
    if cut_after_bytes is not None:
        command += ["--cut-after-bytes", str(cut_after_bytes)]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.is_file():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the shaping proxy did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield ProxyHandle(host="127.0.0.1", port=int(port_file.read_text()), stats_file=stats_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
