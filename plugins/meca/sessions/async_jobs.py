"""Submit many CloudStack async commands at once and wait for all their jobs together.

A classroom's VMs are deployed (and destroyed) as parallel jobs: every command is sent first, then
one polling loop asks for every pending job each round, so N VMs take about as long as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from meca.cloudstack.async_hook import CloudStackAsyncHook

DEFAULT_CONCURRENCY = 8
T = TypeVar("T")

IN_PROGRESS, SUCCEEDED, FAILED = 0, 1, 2
#: The ``errorcode`` of a job that failed for lack of capacity (CloudStack's 533).
CAPACITY_ERRORCODE = 533


class JobsTimeoutError(TimeoutError):
    """Some jobs were still running when the wait ended; the message names them."""


@dataclass(frozen=True)
class JobOutcome:
    """How one async job ended.

    :param job_id: the job's uuid.
    :param resource_id: the resource it acted on (e.g. the VM id).
    :param result: the job's ``jobresult`` (the error object when it failed).
    :param succeeded: whether the job succeeded.
    """

    job_id: str
    resource_id: str
    result: dict[str, Any]
    succeeded: bool

    @property
    def error(self) -> str:
        """The job's error text, or ``""`` when it succeeded."""
        if self.succeeded:
            return ""
        return str(self.result.get("errortext") or f"job {self.job_id} failed with {self.result!r}")


async def bounded_gather(
    awaitables: Iterable[Awaitable[T]], *, limit: int = DEFAULT_CONCURRENCY
) -> list[T | BaseException]:
    """Await all, at most ``limit`` at a time, returning results or exceptions in order.

    :param awaitables: the calls to make.
    :param limit: how many may be in flight at once (API politeness).
    """
    semaphore = asyncio.Semaphore(limit)

    async def one(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    return await asyncio.gather(*(one(a) for a in awaitables), return_exceptions=True)


async def job_timing(hook: CloudStackAsyncHook) -> tuple[float, float]:
    """The region Connection's ``(poll_interval, job_timeout)`` in seconds."""
    settings = await hook.get_settings()
    return settings.poll_interval, settings.job_timeout


async def wait_for_jobs(
    hook: CloudStackAsyncHook,
    jobs: dict[str, str],
    *,
    poll_s: float,
    timeout_s: float,
    limit: int = DEFAULT_CONCURRENCY,
) -> list[JobOutcome]:
    """Poll every pending job each round until all are finished.

    :param hook: the region.
    :param jobs: ``{job id: resource id}``.
    :param poll_s: seconds between two rounds.
    :param timeout_s: how long to wait for all of them.
    :return: one outcome per job, in the order of ``jobs``.
    :raises JobsTimeoutError: when jobs are still running after ``timeout_s``.
    :raises CloudStackError: when a ``queryAsyncJobResult`` call itself fails.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    done: dict[str, JobOutcome] = {}
    while pending := [job for job in jobs if job not in done]:
        answers = await bounded_gather(
            (hook.call("queryAsyncJobResult", jobid=job) for job in pending), limit=limit
        )
        for job, answer in zip(pending, answers, strict=True):
            if isinstance(answer, BaseException):
                raise answer
            if answer["jobstatus"] != IN_PROGRESS:
                done[job] = JobOutcome(
                    job, jobs[job], answer.get("jobresult") or {}, answer["jobstatus"] == SUCCEEDED
                )
        if len(done) == len(jobs):
            break
        if loop.time() >= deadline:
            late = [f"{job} ({jobs[job]})" for job in jobs if job not in done]
            raise JobsTimeoutError(
                f"{len(late)} job(s) still running after {timeout_s:.0f} s: {', '.join(late)}"
            )
        await asyncio.sleep(poll_s)
    return [done[job] for job in jobs]
