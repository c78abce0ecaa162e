"""Destroy (with expunge) every VM of a session in its region, and check that nothing is left.

Idempotent: it lists what the session still has each round and destroys that, so it may run after a
failed provisioning, twice, or at the same time as the reaper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import CloudStackError
from meca.sessions.async_jobs import bounded_gather, job_timing, wait_for_jobs
from meca.sessions.tags import session_vms, vm_record

DEFAULT_ROUNDS = 3


class TeardownError(RuntimeError):
    """VMs of a session could not be destroyed; the message names them and why."""


class SessionNotClean(RuntimeError):
    """VMs tagged with the session are still there after its teardown; the message lists them."""


@dataclass
class TeardownReport:
    """What a teardown destroyed.

    :param destroyed: the VMs destroyed (as :func:`~meca.sessions.tags.vm_record` gives them).
    :param errors: the errors met on the way (each retried in the next round).
    """

    destroyed: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def destroy_vms(
    hook: CloudStackAsyncHook,
    vms: list[dict[str, Any]],
    *,
    poll_s: float | None = None,
    timeout_s: float | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Destroy and expunge VMs: every command first, then all their jobs polled together.

    :param hook: the region.
    :param vms: ``listVirtualMachines`` items.
    :param poll_s: seconds between job polls (the Connection's ``poll_interval`` when ``None``).
    :param timeout_s: how long to wait for the jobs (its ``job_timeout`` when ``None``).
    :return: ``(destroyed VM records, error messages)``; a VM whose destroy failed is in the errors.
    """
    default_poll_s, default_timeout_s = await job_timing(hook)
    submitted = await bounded_gather(
        hook.call("destroyVirtualMachine", id=vm["id"], expunge=True) for vm in vms
    )
    jobs: dict[str, str] = {}
    errors: list[str] = []
    for vm, answer in zip(vms, submitted, strict=True):
        if isinstance(answer, CloudStackError):
            errors.append(f"{vm.get('name')} ({vm['id']}): {answer}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            jobs[answer["jobid"]] = vm["id"]
    by_id = {vm["id"]: vm for vm in vms}
    destroyed: list[dict[str, Any]] = []
    outcomes = await wait_for_jobs(
        hook,
        jobs,
        poll_s=default_poll_s if poll_s is None else poll_s,
        timeout_s=default_timeout_s if timeout_s is None else timeout_s,
    )
    for outcome in outcomes:
        vm = by_id[outcome.resource_id]
        if outcome.succeeded:
            destroyed.append(vm_record(vm))
        else:
            errors.append(f"{vm.get('name')} ({vm['id']}): {outcome.error}")
    return destroyed, errors


async def teardown_session(
    hook: CloudStackAsyncHook,
    session_id: str,
    *,
    rounds: int = DEFAULT_ROUNDS,
    poll_s: float | None = None,
    timeout_s: float | None = None,
) -> TeardownReport:
    """Destroy with expunge everything of the session in the hook's region, retrying what failed.

    :param hook: the booked region.
    :param session_id: the session.
    :param rounds: how many list-and-destroy rounds to try.
    :param poll_s: seconds between job polls (the Connection's ``poll_interval`` when ``None``).
    :param timeout_s: how long to wait for the jobs of one round (its ``job_timeout`` when ``None``).
    :raises TeardownError: when VMs are still there after every round.
    """
    report = TeardownReport()
    for _ in range(rounds):
        vms = await session_vms(hook, session_id)
        if not vms:
            return report
        destroyed, errors = await destroy_vms(hook, vms, poll_s=poll_s, timeout_s=timeout_s)
        report.destroyed += destroyed
        report.errors += errors
    left = await session_vms(hook, session_id)
    if left:
        names = ", ".join(f"{vm.get('name')} ({vm.get('state')})" for vm in left)
        raise TeardownError(
            f"session {session_id}: {len(left)} VM(s) still there after {rounds} teardown round(s): {names}; "
            f"errors: {'; '.join(report.errors) or 'none'}"
        )
    return report


async def assert_clean(hook: CloudStackAsyncHook, session_id: str) -> None:
    """Check that no VM of the session is left in the hook's region.

    :raises SessionNotClean: listing the VMs left.
    """
    left = await session_vms(hook, session_id)
    if left:
        region = await hook.get_region()
        names = ", ".join(f"{vm.get('name')} ({vm.get('id')}, {vm.get('state')})" for vm in left)
        raise SessionNotClean(
            f"session {session_id}: {len(left)} VM(s) left in region {region.name}: {names}"
        )
