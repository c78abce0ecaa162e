"""Process groups of the end-to-end harness, read from ``/proc`` (Linux only).

Every harness process (an Airflow component, a Celery worker, redis-server) starts in its own process
group. Airflow 3's task supervisor puts each task process in a group of its own as well, so stopping
or killing a component means signalling its group *and* every group below it: otherwise a task
process would survive its worker as an orphan.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _process_table() -> dict[int, tuple[int, int]]:
    """``{pid: (parent pid, process group)}`` of every live process (zombies excluded)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        state, ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            table[int(entry.name)] = (int(ppid), int(pgrp))
    return table


def live_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are still alive (zombies excluded)."""
    return [pid for pid, (_ppid, pgrp) in _process_table().items() if pgrp == pgid]


def tree_groups(pgid: int) -> set[int]:
    """Group ``pgid`` and the groups of every live descendant of its members.

    :param pgid: a process group, usually the pid of the harness process that leads it.
    """
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _pgrp) in table.items():
        children.setdefault(ppid, []).append(pid)
    groups = {pgid}
    pending = [pid for pid, (_ppid, pgrp) in table.items() if pgrp == pgid]
    while pending:
        pid = pending.pop()
        groups.add(table[pid][1])
        pending.extend(children.get(pid, []))
    return groups


def signal_groups(groups: set[int], sig: signal.Signals) -> None:
    """Send ``sig`` to process groups that may already be gone."""
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def survivors(groups: set[int]) -> dict[int, list[int]]:
    """``{pgid: [live pids]}`` of the groups that still have a live member."""
    left: dict[int, list[int]] = {}
    for pid, (_ppid, pgrp) in _process_table().items():
        if pgrp in groups:
            left.setdefault(pgrp, []).append(pid)
    return left


def wait_until_gone(groups: set[int], timeout: float) -> dict[int, list[int]]:
    """Wait up to ``timeout`` seconds for the groups to empty; return :func:`survivors` then."""
    deadline = time.monotonic() + timeout
    while (left := survivors(groups)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
