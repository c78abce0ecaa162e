"""Everything one simulated region holds, built from its topology entry, and the helpers commands share."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

from cloudstack_simulator.background_load import BackgroundLoad
from cloudstack_simulator.configurations import CPU_DISABLE, MEMORY_DISABLE
from cloudstack_simulator.ids import new_uuid
from cloudstack_simulator.infrastructure import GIB, MIB, Offering, OsType, Zone
from cloudstack_simulator.jobs import AsyncJob, JobBook
from cloudstack_simulator.tags import Tag
from cloudstack_simulator.templates import Template
from cloudstack_simulator.topology import RegionSpec
from cloudstack_simulator.vms import Account, VirtualMachine

FIRST_INSTANCE_NUMBER = 100


class RegionState:
    """The model of one region: infrastructure, VMs, templates, tags, jobs and background load.

    Ids are drawn from ``rng`` in a fixed order, so the same seed gives the same ids.

    :param spec: the region's topology entry (``spec.faults`` is read live).
    :param rng: the region's seeded random generator.
    :param clock: the time source (epoch seconds).
    """

    def __init__(self, spec: RegionSpec, rng: random.Random, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.rng = rng
        self.clock = clock
        now = clock()
        self.account = Account(new_uuid(rng), new_uuid(rng), new_uuid(rng))
        self.owner = self.account.owner()
        self.jobs = JobBook(self.account.account_id, self.account.user_id)
        zones = [Zone.create(z, i, spec.id, rng, now) for i, z in enumerate(spec.zones)]
        self.zones: dict[str, Zone] = {z.id: z for z in zones}
        categories = {c: new_uuid(rng) for c, _ in spec.os_types}
        os_types = [OsType(new_uuid(rng), d, categories[c], c) for c, d in spec.os_types]
        self.os_types: dict[str, OsType] = {o.id: o for o in os_types}
        self.offerings: dict[str, Offering] = {}
        for offering in spec.offerings:
            made = Offering(new_uuid(rng), offering, now)
            self.offerings[made.id] = made
        by_description = {o.description: o for o in os_types}
        self.templates: dict[str, Template] = {}
        for t in spec.templates:
            os_type = by_description[t.os_type]
            template = Template(
                id=new_uuid(rng),
                name=t.name,
                display_text=t.display_text,
                os_type_id=os_type.id,
                os_type_name=os_type.description,
                format=t.format,
                hypervisor=t.hypervisor,
                url=t.url,
                created=now,
                zones=list(zones),
                virtual_size=int(t.virtual_size_gib * GIB),
                physical_size=int(t.physical_size_mib * MIB),
                featured=t.featured,
                public=t.public,
            )
            self.templates[template.id] = template
        self.vms: dict[str, VirtualMachine] = {}
        #: Every VM a deploy ever created, in order, expunged ones included (see :meth:`deployed_vms`).
        self.deployed: list[dict[str, Any]] = []
        self.tags: dict[str, list[Tag]] = {}
        self.downloads: dict[str, asyncio.Task[None]] = {}
        self.next_instance_number = FIRST_INSTANCE_NUMBER
        self.endpoint = f"http://127.0.0.1:{spec.port}/client/"
        self.background = (
            None
            if spec.background_load is None
            else BackgroundLoad(spec.background_load, f"{spec.seed}:{spec.name}:background")
        )

    def ceiling(self) -> tuple[float, float]:
        """The (CPU, memory) ``cluster.*.allocated.capacity.disablethreshold`` values, read live."""
        settings = self.spec.configurations
        return settings.threshold(CPU_DISABLE), settings.threshold(MEMORY_DISABLE)

    def tags_of(self, resource_id: str) -> list[dict[str, Any]]:
        """The tags of a resource in API shape."""
        return [t.as_dict(self.owner) for t in self.tags.get(resource_id, [])]

    def vm_dict(self, vm: VirtualMachine) -> dict[str, Any]:
        """A VM in API shape."""
        return vm.as_dict(self.account, self.tags_of(vm.id))

    def duration(self, seconds: float) -> float:
        """A job duration from the topology, stretched by the live ``job_slowdown`` fault."""
        return seconds * self.spec.faults.job_slowdown

    def submit(
        self,
        cmd: str,
        seconds: float,
        finish: Callable[[AsyncJob], dict[str, Any]],
        instance: tuple[str, str] | None = None,
        after: float = 0.0,
    ) -> AsyncJob:
        """Start an async job.

        :param cmd: the Java command class name.
        :param seconds: its topology duration (before ``job_slowdown``).
        :param finish: applies its effect when due, given the job; returns ``jobresult``.
        :param instance: (``jobinstancetype``, ``jobinstanceid``), if any.
        :param after: it cannot start before this time (a VM's earlier job still runs).
        """
        now = self.clock()
        job = AsyncJob(
            id=new_uuid(self.rng),
            cmd=cmd,
            created=now,
            due=max(now, after) + self.duration(seconds),
            finish=finish,
            instance_type=instance[0] if instance else None,
            instance_id=instance[1] if instance else None,
        )
        return self.jobs.submit(job)

    def forget_resource(self, resource_id: str) -> None:
        """Drop the tags of a resource that no longer exists."""
        self.tags.pop(resource_id, None)
