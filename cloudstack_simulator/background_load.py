"""Background load: memory and CPU that other tenants use, following a smooth day curve.

A region with a ``background_load`` entry in its topology has, on every host, a share of memory
and CPU held by tenants the simulator does not model as VMs: it shows in ``listCapacity``
(MEMORY, CPU, CPU_CORE), ``listZones showcapacities=true`` and ``listHosts``, and the placement of
real VMs must fit beside it. It is *not* listed by ``listVirtualMachines`` (so counts of VMs, and
reapers that delete VMs, only see the VMs clients made).

The share of host ``h`` at time ``t`` is ``curve(slot) + jitter(h, slot)``, where
``slot = floor(t / step_s) * step_s`` (the load changes only at step boundaries, as if synthetic
VMs arrived and left then), ``curve`` is a cosine between ``min_fraction`` (at the trough) and
``max_fraction`` (at ``peak_hour``) with period ``period_s``, and ``jitter`` is drawn uniformly
from ``[-jitter_fraction, +jitter_fraction]`` by a generator seeded with the topology seed, the
region, the host and the slot. Memory and CPU have their own jitter. The result depends only on
the seed and the clock: two simulators with the same topology show the same load at the same time.
The share is clamped to ``[0, 1]`` and never takes more than the real VMs leave free under the
region's allocation thresholds (``configurations.py``), as other tenants' VMs would be refused
past them too.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

#: (CPU MHz, memory bytes, cores): what is used on a host, or what it has.
Usage = tuple[int, int, int]
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class BackgroundLoadSpec:
    """The ``background_load`` topology entry of a region.

    :param min_fraction: share of each host's memory and CPU in use at the trough (0..1).
    :param max_fraction: share in use at the peak (``min_fraction``..1).
    :param peak_hour: hour of the period (UTC hour of the day when ``period_s`` is 86400) at which
        the load peaks; may be fractional.
    :param period_s: length of one load cycle in seconds.
    :param step_s: the load changes only every ``step_s`` seconds (aligned on the epoch).
    :param jitter_fraction: half-width of the per-host, per-step random deviation from the curve.
    """

    min_fraction: float = 0.1
    max_fraction: float = 0.7
    peak_hour: float = 11.0
    period_s: float = 86400.0
    step_s: float = 300.0
    jitter_fraction: float = 0.03

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_fraction <= self.max_fraction <= 1.0:
            raise ValueError(
                "need 0 <= min_fraction <= max_fraction <= 1, "
                f"got min_fraction={self.min_fraction}, max_fraction={self.max_fraction}"
            )
        if self.period_s <= 0 or self.step_s <= 0:
            raise ValueError(f"period_s and step_s must be > 0, got {self.period_s} and {self.step_s}")
        if not 0.0 <= self.peak_hour * SECONDS_PER_HOUR < self.period_s:
            raise ValueError(f"peak_hour {self.peak_hour} is not within the period of {self.period_s} s")
        if not 0.0 <= self.jitter_fraction <= 0.5:
            raise ValueError(f"jitter_fraction must be within 0..0.5, got {self.jitter_fraction}")


class BackgroundLoad:
    """The background load of one region.

    :param spec: the region's ``background_load`` entry.
    :param salt: what seeds the jitter besides host and slot (the topology seed and region name).
    """

    def __init__(self, spec: BackgroundLoadSpec, salt: str) -> None:
        self.spec = spec
        self.salt = salt

    def slot(self, now: float) -> float:
        """The start of the step that ``now`` falls in (epoch seconds)."""
        return math.floor(now / self.spec.step_s) * self.spec.step_s

    def curve(self, now: float) -> float:
        """The day curve's share at the start of ``now``'s step, before jitter."""
        spec = self.spec
        phase = (self.slot(now) - spec.peak_hour * SECONDS_PER_HOUR) / spec.period_s
        return (
            spec.min_fraction
            + (spec.max_fraction - spec.min_fraction) * (1 + math.cos(2 * math.pi * phase)) / 2
        )

    def fractions(self, host: str, now: float) -> tuple[float, float]:
        """(CPU share, memory share) of ``host`` at ``now``, jitter included, within ``[0, 1]``.

        :param host: the host's id (unique, and the same for the same seed).
        :param now: epoch seconds.
        """
        slot = self.slot(now)
        rng = random.Random(f"{self.salt}:{host}:{slot:.0f}")
        width = self.spec.jitter_fraction
        base = self.curve(now)
        cpu, memory = (min(1.0, max(0.0, base + rng.uniform(-width, width))) for _ in range(2))
        return cpu, memory

    def share(
        self,
        host: str,
        capacity: Usage,
        used: Usage,
        now: float,
        ceiling: tuple[float, float] = (1.0, 1.0),
    ) -> Usage:
        """What the background holds on a host: its fractions of ``capacity``, within what is free.

        Its tenants' VMs were placed by the same planner as the real ones, so they stay under the
        region's allocation thresholds too: the background never takes more than ``ceiling`` of the
        host minus what real VMs hold.

        :param host: the host's id (unique, and the same for the same seed).
        :param capacity: the host's (MHz, memory bytes, cores).
        :param used: what real VMs hold on it.
        :param now: epoch seconds.
        :param ceiling: (CPU share, memory share) of the host that allocations may reach: the
            region's ``cluster.*.allocated.capacity.disablethreshold`` values.
        """
        cpu, memory = self.fractions(host, now)
        wanted = (int(cpu * capacity[0]), int(memory * capacity[1]), round(cpu * capacity[2]))
        limit = (
            int(ceiling[0] * capacity[0]),
            int(ceiling[1] * capacity[1]),
            round(ceiling[0] * capacity[2]),
        )
        return (
            min(wanted[0], max(0, limit[0] - used[0])),
            min(wanted[1], max(0, limit[1] - used[1])),
            min(wanted[2], max(0, limit[2] - used[2])),
        )
