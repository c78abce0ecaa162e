"""Create the N VMs of a session in its region as parallel CloudStack async jobs, exactly N in the end.

Every round lists what the session already has (by tag or name, see :mod:`meca.sessions.tags`),
removes broken VMs, tags untagged ones, and deploys only the missing ones: all deploy commands are
sent first, the new VMs tagged at once, then all the jobs polled together. A retry, after a failed
deploy or a killed worker, therefore never creates more than N.

Two refusals are handled as CloudStack means them:

- **431 "already exists"** for one of the session's own VM names (a deploy whose answer was lost,
  sent again): the VM with that name is the session's, so it is tagged and counted, not failed.
- **533** (the region's planner found no cluster under its allocation disable thresholds, or no
  host with room): another round cannot help, so provisioning stops at once with
  :class:`CapacityRefused`, naming the region, its thresholds and the VM; nothing more is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import (
    CloudStackCapacityError,
    CloudStackError,
    CloudStackParamError,
    CloudStackServerError,
    CloudStackTimeoutError,
    CloudStackUnreachableError,
)
from meca.cloudstack.thresholds import KEYWORD, CapacityThresholds
from meca.sessions.async_jobs import CAPACITY_ERRORCODE, bounded_gather, job_timing, wait_for_jobs
from meca.sessions.tags import BROKEN_STATES, session_tags, session_vms, tagged_session, vm_name, vm_record
from meca.sessions.teardown import destroy_vms

DEFAULT_ROUNDS = 3
TRANSIENT = (CloudStackServerError, CloudStackTimeoutError, CloudStackUnreachableError)
NAME_TAKEN = "already exists"


class ProvisioningError(RuntimeError):
    """The session's VMs could not all be created; the message says how many and why."""


class CapacityRefused(ProvisioningError):
    """The region refused a VM for lack of capacity (533): retrying cannot help, the message says why."""


@dataclass(frozen=True)
class VmSpec:
    """What every VM of a session is made of, as ids of the region.

    :param zone_id: the zone where the template is Ready.
    :param template_id: the template.
    :param offering_id: the compute offering.
    """

    zone_id: str
    template_id: str
    offering_id: str


@dataclass
class ProvisionReport:
    """What provisioning did.

    :param vms: the session's VMs at the end (as :func:`~meca.sessions.tags.vm_record` gives them).
    :param deployed: how many deploy commands were sent.
    :param failures: the error of every deploy that failed (each was replaced in a later round).
    :param removed: VMs removed because they were broken or one too many.
    """

    vms: list[dict[str, Any]] = field(default_factory=list)
    deployed: int = 0
    failures: list[str] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)


async def resolve_spec(hook: CloudStackAsyncHook, *, template: str, offering: str) -> VmSpec:
    """Find the template (Ready, in some zone) and the compute offering by name in the hook's region.

    :param hook: the booked region.
    :param template: the template's name.
    :param offering: the service offering's name.
    :raises ProvisioningError: naming what is missing and what the region has instead.
    """
    region = (await hook.get_region()).name
    offerings = await hook.list("listServiceOfferings")
    chosen = [o for o in offerings if o.get("name") == offering]
    if not chosen:
        known = sorted({str(o.get("name")) for o in offerings})
        raise ProvisioningError(f"region {region} has no service offering {offering!r}; it has {known}")
    templates = await hook.list("listTemplates", templatefilter="executable", name=template)
    ready = [t for t in templates if t.get("name") == template and t.get("isready")]
    if not ready:
        raise ProvisioningError(f"template {template!r} is not Ready in any zone of region {region}")
    return VmSpec(zone_id=ready[0]["zoneid"], template_id=ready[0]["id"], offering_id=chosen[0]["id"])


async def provision_session(
    hook: CloudStackAsyncHook,
    session_id: str,
    count: int,
    spec: VmSpec,
    *,
    rounds: int = DEFAULT_ROUNDS,
    poll_s: float | None = None,
    timeout_s: float | None = None,
) -> ProvisionReport:
    """Make the session have exactly ``count`` VMs (deployed or deploying) in the hook's region.

    :param hook: the booked region.
    :param session_id: the session.
    :param count: how many VMs it needs.
    :param spec: what they are made of.
    :param rounds: how many deploy rounds to try; failed deploys are replaced in the next one.
    :param poll_s: seconds between job polls (the Connection's ``poll_interval`` when ``None``).
    :param timeout_s: how long to wait for the jobs of one round (its ``job_timeout`` when ``None``).
    :raises ProvisioningError: when VMs are still missing after every round, or a deploy is refused
        for a reason a retry cannot fix (bad parameter, no capacity).
    """
    default_poll_s, default_timeout_s = await job_timing(hook)
    poll_s = default_poll_s if poll_s is None else poll_s
    timeout_s = default_timeout_s if timeout_s is None else timeout_s
    report = ProvisionReport()
    for round_number in range(rounds + 1):
        live = await _tidy(hook, session_id, count, report, poll_s=poll_s, timeout_s=timeout_s)
        missing = count - len(live)
        if missing == 0:
            report.vms = [vm_record(vm) for vm in live]
            return report
        if round_number == rounds:
            break
        taken = {vm.get("name") for vm in live}
        names = [name for i in range(1, 1000) if (name := vm_name(session_id, i)) not in taken][:missing]
        await _deploy(hook, session_id, names, spec, report, poll_s=poll_s, timeout_s=timeout_s)
    region = (await hook.get_region()).name
    raise ProvisioningError(
        f"session {session_id}: only {count - missing} of {count} VM(s) in region {region} after {rounds} "
        f"round(s); last errors: {'; '.join(report.failures[-3:]) or 'none'}"
    )


async def _tidy(
    hook: CloudStackAsyncHook,
    session_id: str,
    count: int,
    report: ProvisionReport,
    *,
    poll_s: float,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Remove broken and surplus VMs, tag the untagged ones; return the live VMs (at most ``count``)."""
    vms = sorted(await session_vms(hook, session_id), key=lambda vm: str(vm.get("name")))
    live = [vm for vm in vms if vm.get("state") not in BROKEN_STATES]
    doomed = [vm for vm in vms if vm.get("state") in BROKEN_STATES] + live[count:]
    live = live[:count]
    if doomed:
        removed, errors = await destroy_vms(hook, doomed, poll_s=poll_s, timeout_s=timeout_s)
        report.removed += removed
        if errors:
            raise ProvisioningError(f"session {session_id}: cannot remove broken VMs: {'; '.join(errors)}")
    await _tag(hook, session_id, [vm["id"] for vm in live if tagged_session(vm) is None], poll_s, timeout_s)
    return live


async def _tag(
    hook: CloudStackAsyncHook, session_id: str, vm_ids: list[str], poll_s: float, timeout_s: float
) -> None:
    """Tag VMs with the session in one ``createTags`` job."""
    if not vm_ids:
        return
    answer = await hook.call(
        "createTags", resourcetype="UserVm", resourceids=",".join(vm_ids), tags=session_tags(session_id)
    )
    (outcome,) = await wait_for_jobs(
        hook, {answer["jobid"]: ",".join(vm_ids)}, poll_s=poll_s, timeout_s=timeout_s
    )
    if not outcome.succeeded:
        raise ProvisioningError(f"session {session_id}: tagging VMs {vm_ids} failed: {outcome.error}")


async def _deploy(
    hook: CloudStackAsyncHook,
    session_id: str,
    names: list[str],
    spec: VmSpec,
    report: ProvisionReport,
    *,
    poll_s: float,
    timeout_s: float,
) -> None:
    """Send every deploy, tag the new VMs, then wait for all the deploy jobs together."""
    answers = await bounded_gather(
        hook.call(
            "deployVirtualMachine",
            zoneid=spec.zone_id,
            templateid=spec.template_id,
            serviceofferingid=spec.offering_id,
            name=name,
            displayname=name,
        )
        for name in names
    )
    report.deployed += len(names)
    jobs: dict[str, str] = {}
    names_of: dict[str, str] = {}
    adopted: list[str] = []
    refused: list[tuple[str, CloudStackError]] = []
    for name, answer in zip(names, answers, strict=True):
        if isinstance(answer, TRANSIENT):
            report.failures.append(f"{name}: {answer}")
        elif isinstance(answer, CloudStackParamError) and NAME_TAKEN in (answer.errortext or ""):
            found = await _own_vm(hook, name)
            if found is None:
                refused.append((name, answer))
            elif tagged_session(found) is None:
                adopted.append(found["id"])
        elif isinstance(answer, CloudStackError):
            refused.append((name, answer))
        elif isinstance(answer, BaseException):
            raise answer
        else:
            jobs[answer["jobid"]] = answer["id"]
            names_of[answer["id"]] = name
    await _tag(hook, session_id, list(jobs.values()) + adopted, poll_s, timeout_s)
    for name, error in refused:
        if isinstance(error, CloudStackCapacityError):
            raise await _capacity_refused(hook, session_id, name, str(error.errortext or error)) from error
    if refused:
        raise ProvisioningError(
            f"session {session_id}: deployVirtualMachine refused: {refused[0][1]}"
        ) from refused[0][1]
    outcomes = await wait_for_jobs(hook, jobs, poll_s=poll_s, timeout_s=timeout_s)
    failed = [outcome for outcome in outcomes if not outcome.succeeded]
    for outcome in failed:
        report.failures.append(f"{names_of[outcome.resource_id]}: {outcome.error}")
    short = [outcome for outcome in failed if outcome.result.get("errorcode") == CAPACITY_ERRORCODE]
    if short:
        raise await _capacity_refused(
            hook,
            session_id,
            ", ".join(names_of[o.resource_id] for o in short),
            short[0].error,
            placed=len(outcomes) - len(failed),
            asked=len(names),
        )


async def _own_vm(hook: CloudStackAsyncHook, name: str) -> dict[str, Any] | None:
    """The VM named ``name`` (one of the session's own names), if the region has it."""
    vms = await hook.list("listVirtualMachines", listall=True, name=name)
    return next((vm for vm in vms if vm.get("name") == name), None)


async def _capacity_refused(
    hook: CloudStackAsyncHook,
    session_id: str,
    names: str,
    cloudstack_said: str,
    *,
    placed: int | None = None,
    asked: int | None = None,
) -> CapacityRefused:
    """The teacher- and operator-readable error for a 533, with the region's thresholds read live."""
    region = (await hook.get_region()).name
    try:
        thresholds = CapacityThresholds.from_api(await hook.list("listConfigurations", keyword=KEYWORD))
    except CloudStackError:
        thresholds = CapacityThresholds()
    fitted = "" if placed is None or asked is None else f" ({placed} of the {asked} VM(s) of this round fit)"
    return CapacityRefused(
        f"session {session_id}: region {region} has no capacity left under its allocation threshold "
        f"({thresholds.percent()}) for VM {names}{fitted}; choose fewer VMs, a smaller offering or "
        f"another region. CloudStack answered: {cloudstack_said}"
    )
