"""Job commands: queryAsyncJobResult and listAsyncJobs."""

from __future__ import annotations

from typing import Any

from cloudstack_simulator.params import invalid_value, list_answer, require
from cloudstack_simulator.state import RegionState

Params = dict[str, str]


def query_async_job_result(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``queryAsyncJobResult``: the job's status and, once finished, its result."""
    job_id = require(command, params, "jobid")
    job = state.jobs.get(job_id)
    if job is None:
        raise invalid_value(command, "jobid", job_id)
    return state.jobs.body(job)


def list_async_jobs(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listAsyncJobs``: every job still remembered, oldest first."""
    return list_answer(command, params, "asyncjobs", [state.jobs.body(j) for j in state.jobs.all()])
