"""Start or stop every VM of a session at once: the calendar's "Start all" and "Stop all".

Every command is sent first, then all their async jobs are polled together
(:func:`~meca.sessions.async_jobs.wait_for_jobs`), so N VMs take about as long as one. Only the VMs
that can make the move are sent a command (Stopped ones are started, Running ones stopped); the
others are reported as left alone, with their state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import CloudStackError
from meca.sessions.async_jobs import bounded_gather, job_timing, wait_for_jobs
from meca.sessions.tags import session_vms, vm_record

Action = Literal["start", "stop"]
#: action -> (CloudStack command, the state a VM must be in to be sent it)
MOVES: dict[str, tuple[str, str]] = {
    "start": ("startVirtualMachine", "Stopped"),
    "stop": ("stopVirtualMachine", "Running"),
}


@dataclass
class PowerReport:
    """What one "start all" or "stop all" did.

    :param action: ``start`` or ``stop``.
    :param changed: the VMs whose job succeeded, as the job left them (:func:`vm_record`).
    :param left_alone: the VMs not in the state the action needs (e.g. already Stopped).
    :param errors: one message per VM whose command or job failed.
    """

    action: str
    changed: list[dict[str, Any]] = field(default_factory=list)
    left_alone: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def power_session(
    hook: CloudStackAsyncHook,
    session_id: str,
    action: Action,
    *,
    poll_s: float | None = None,
    timeout_s: float | None = None,
) -> PowerReport:
    """Start (or stop) every VM of the session that is Stopped (or Running), all jobs in parallel.

    :param hook: the session's region.
    :param session_id: the session (its DAG run id).
    :param action: ``start`` or ``stop``.
    :param poll_s: seconds between job polls (the Connection's ``poll_interval`` when ``None``).
    :param timeout_s: how long to wait for the jobs (its ``job_timeout`` when ``None``).
    :raises ValueError: for another action.
    :raises CloudStackError: when the region cannot list the VMs or report on the jobs.
    """
    if action not in MOVES:
        raise ValueError(f"unknown action {action!r}: use one of {', '.join(MOVES)}")
    command, needed = MOVES[action]
    report = PowerReport(action)
    vms = await session_vms(hook, session_id)
    todo = [vm for vm in vms if vm.get("state") == needed]
    report.left_alone = [vm_record(vm) for vm in vms if vm.get("state") != needed]
    if not todo:
        return report
    default_poll_s, default_timeout_s = await job_timing(hook)
    answers = await bounded_gather(hook.call(command, id=vm["id"]) for vm in todo)
    jobs: dict[str, str] = {}
    for vm, answer in zip(todo, answers, strict=True):
        if isinstance(answer, CloudStackError):
            report.errors.append(f"{vm.get('name')} ({vm['id']}): {answer}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            jobs[answer["jobid"]] = vm["id"]
    by_id = {vm["id"]: vm for vm in todo}
    outcomes = await wait_for_jobs(
        hook,
        jobs,
        poll_s=default_poll_s if poll_s is None else poll_s,
        timeout_s=default_timeout_s if timeout_s is None else timeout_s,
    )
    for outcome in outcomes:
        vm = by_id[outcome.resource_id]
        if outcome.succeeded:
            report.changed.append(vm_record(outcome.result.get("virtualmachine") or vm))
        else:
            report.errors.append(f"{vm.get('name')} ({vm['id']}): {outcome.error}")
    return report
