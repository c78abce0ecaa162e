"""One simulated CloudStack region: the command table the HTTP layer dispatches to.

``RegionCloud.handle`` takes a command name and its lower-cased, decoded parameters and returns
the inner answer body (the HTTP layer wraps it as ``{"<command>response": body}``) or raises
:class:`~cloudstack_simulator.errors.ApiError`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cloudstack_simulator import (
    commands_configurations,
    commands_infrastructure,
    commands_jobs,
    commands_tags,
    commands_templates,
    commands_vms,
)
from cloudstack_simulator.state import RegionState
from cloudstack_simulator.topology import RegionSpec

Handler = Callable[[RegionState, str, dict[str, str]], dict[str, Any]]

_HANDLERS: dict[str, Handler] = {
    "listregions": commands_infrastructure.list_regions,
    "listzones": commands_infrastructure.list_zones,
    "listcapacity": commands_infrastructure.list_capacity,
    "listhosts": commands_infrastructure.list_hosts,
    "listserviceofferings": commands_infrastructure.list_service_offerings,
    "listostypes": commands_infrastructure.list_os_types,
    "listconfigurations": commands_configurations.list_configurations,
    "updateconfiguration": commands_configurations.update_configuration,
    "listpublicipaddresses": commands_infrastructure.empty_list,
    "listportforwardingrules": commands_infrastructure.empty_list,
    "listipforwardingrules": commands_infrastructure.empty_list,
    "listvirtualmachines": commands_vms.list_virtual_machines,
    "deployvirtualmachine": commands_vms.deploy_virtual_machine,
    "startvirtualmachine": commands_vms.start_virtual_machine,
    "stopvirtualmachine": commands_vms.stop_virtual_machine,
    "destroyvirtualmachine": commands_vms.destroy_virtual_machine,
    "queryasyncjobresult": commands_jobs.query_async_job_result,
    "listasyncjobs": commands_jobs.list_async_jobs,
    "createtags": commands_tags.create_tags,
    "deletetags": commands_tags.delete_tags,
    "listtags": commands_tags.list_tags,
    "listtemplates": commands_templates.list_templates,
    "registertemplate": commands_templates.register_template,
    "deletetemplate": commands_templates.delete_template,
}


class RegionCloud:
    """The cloud model of one region.

    :param spec: the region's topology entry; ``spec.faults`` is read live (``job_slowdown``,
        ``deploy_failure_rate``, ``template_download_failure``).
    :param rng: the region's seeded random generator (ids, injected failures).
    :param clock: the time source in epoch seconds (tests may pass a fake one).
    """

    commands: frozenset[str] = frozenset(_HANDLERS)

    def __init__(self, spec: RegionSpec, rng: random.Random, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.state = RegionState(spec, rng, clock)

    @property
    def endpoint(self) -> str:
        """The URL ``listRegions`` shows; the HTTP layer sets it once its port is known."""
        return self.state.endpoint

    @endpoint.setter
    def endpoint(self, url: str) -> None:
        self.state.endpoint = url

    async def handle(self, command: str, params: dict[str, str]) -> dict[str, Any]:
        """Run one command after finishing every job due by now.

        :param command: the command name (any case).
        :param params: lower-cased names, decoded values, without the signing parameters.
        :raises ApiError: as CloudStack would answer.
        :raises KeyError: for a command not in :attr:`commands` (the HTTP layer answers 401 first).
        """
        name = command.lower()
        handler = _HANDLERS[name]
        self.state.jobs.advance(self.state.clock())
        return handler(self.state, name, params)

    def housekeeping(self) -> None:
        """Finish due jobs, forget old finished jobs and expunge long-destroyed or failed VMs."""
        state, timings = self.state, self.spec.timings
        now = state.clock()
        state.jobs.advance(now)
        state.jobs.evict(now - timings.job_retention_s)
        for vm in list(state.vms.values()):
            old = vm.changed < now - timings.expunge_delay_s and vm.busy_until <= now
            if old and vm.state in ("Destroyed", "Error"):
                commands_vms.expunge(state, vm)

    def stats(self) -> dict[str, Any]:
        """Counts for the admin API: VMs by state, jobs, templates, tags and running downloads."""
        state = self.state
        state.jobs.advance(state.clock())
        return {
            "vms": dict(sorted(Counter(vm.state for vm in state.vms.values()).items())),
            "jobs_pending": state.jobs.pending(),
            "jobs_remembered": len(state.jobs.all()),
            "templates": len(state.templates),
            "tags": sum(len(t) for t in state.tags.values()),
            "downloads": len(state.downloads),
        }

    def deployed_vms(self, name_prefix: str = "") -> list[dict[str, Any]]:
        """Every VM ``deployVirtualMachine`` ever created here, oldest first, expunged ones included.

        Each entry is ``{"id", "name", "created"}``; the log only grows (one small entry per deploy), so
        tests can count the VMs a pipeline made even after it destroyed them.

        :param name_prefix: only the VMs whose name starts with it.
        """
        return [dict(vm) for vm in self.state.deployed if vm["name"].startswith(name_prefix)]

    async def aclose(self) -> None:
        """Cancel template downloads still running and wait for them to end."""
        tasks = list(self.state.downloads.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
