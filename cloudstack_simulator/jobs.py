"""Asynchronous jobs: submitted with a duration, finished lazily when a request sees them due.

Time only moves when someone looks (:meth:`JobBook.advance` runs before every command), which
keeps the model single-threaded and deterministic: jobs finish in order of due time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudstack_simulator.clock import cs_time

IN_PROGRESS, SUCCEEDED, FAILED = 0, 1, 2


class JobFailure(Exception):
    """Raised by a job's finisher to fail the job with a CloudStack error object.

    :param errorcode: the ``ApiErrorCode`` (530 internal, 533 insufficient capacity, ...).
    :param errortext: CloudStack-like text.
    """

    def __init__(self, errorcode: int, errortext: str) -> None:
        super().__init__(errortext)
        self.errorcode = errorcode
        self.errortext = errortext


@dataclass
class AsyncJob:
    """One job as ``queryAsyncJobResult`` shows it.

    :param id: the job uuid.
    :param cmd: the Java command class name.
    :param created: epoch seconds.
    :param due: epoch seconds when it finishes.
    :param finish: called once with the job when due; returns ``jobresult`` or raises
        :class:`JobFailure`.
    :param instance_type: ``jobinstancetype`` (e.g. ``VirtualMachine``), or ``None``.
    :param instance_id: ``jobinstanceid``, or ``None``.
    """

    id: str
    cmd: str
    created: float
    due: float
    finish: Callable[[AsyncJob], dict[str, Any]] = field(repr=False)
    instance_type: str | None = None
    instance_id: str | None = None
    seq: int = 0
    status: int = IN_PROGRESS
    result: dict[str, Any] | None = None
    completed: float | None = None


class JobBook:
    """The jobs of one region.

    :param account_id: ``accountid`` of every job (the admin account).
    :param user_id: ``userid`` of every job.
    """

    def __init__(self, account_id: str, user_id: str) -> None:
        self._account_id = account_id
        self._user_id = user_id
        self._jobs: dict[str, AsyncJob] = {}
        self._seq = itertools.count()

    def submit(self, job: AsyncJob) -> AsyncJob:
        """Register a new job (its ``seq`` orders jobs due at the same instant)."""
        job.seq = next(self._seq)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> AsyncJob | None:
        """The job with this id, if still remembered."""
        return self._jobs.get(job_id)

    def all(self) -> list[AsyncJob]:
        """Every remembered job, oldest first."""
        return sorted(self._jobs.values(), key=lambda j: j.seq)

    def advance(self, now: float) -> None:
        """Finish every job due by ``now``, in order of due time.

        A finisher may submit further jobs; those due by ``now`` finish in the same call.
        """
        while True:
            due = [j for j in self._jobs.values() if j.status == IN_PROGRESS and j.due <= now]
            if not due:
                return
            job = min(due, key=lambda j: (j.due, j.seq))
            try:
                job.result = job.finish(job)
                job.status = SUCCEEDED
            except JobFailure as failure:
                job.result = {"errorcode": failure.errorcode, "errortext": failure.errortext}
                job.status = FAILED
            job.completed = job.due

    def pending(self) -> int:
        """How many jobs are still in progress."""
        return sum(1 for j in self._jobs.values() if j.status == IN_PROGRESS)

    def evict(self, older_than: float) -> int:
        """Forget finished jobs completed before ``older_than``; returns how many."""
        old = [j.id for j in self._jobs.values() if j.completed is not None and j.completed < older_than]
        for job_id in old:
            del self._jobs[job_id]
        return len(old)

    def body(self, job: AsyncJob) -> dict[str, Any]:
        """The job as ``queryAsyncJobResult`` and ``listAsyncJobs`` answer it."""
        out: dict[str, Any] = {
            "accountid": self._account_id,
            "userid": self._user_id,
            "cmd": job.cmd,
            "jobstatus": job.status,
            "jobprocstatus": 0,
            "jobresultcode": 530 if job.status == FAILED else 0,
        }
        if job.status != IN_PROGRESS:
            out["jobresulttype"] = "object"
            out["jobresult"] = job.result
        if job.instance_type is not None:
            out["jobinstancetype"] = job.instance_type
            out["jobinstanceid"] = job.instance_id
        out["created"] = cs_time(job.created)
        if job.completed is not None:
            out["completed"] = cs_time(job.completed)
        out["jobid"] = job.id
        return out
