"""The whole simulator in one event loop: a :class:`RegionServer` per region, the admin API, housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from typing import Any

from aiohttp import web

from cloudstack_simulator.admin import build_admin_app
from cloudstack_simulator.cloud import RegionCloud
from cloudstack_simulator.region_server import SHUTDOWN_TIMEOUT_S, RegionServer
from cloudstack_simulator.topology import Topology

log = logging.getLogger(__name__)

#: Default seconds between two ``RegionCloud.housekeeping()`` rounds (evicting finished jobs and the like).
HOUSEKEEPING_INTERVAL_S = 5.0


class Simulator:
    """Every region of a topology, served from the running event loop.

    :param topology: the regions to serve.
    :param host: the address every listener binds.
    :param admin_port: the admin API's port; 0 picks a free one.
    :param housekeeping_interval_s: seconds between two housekeeping rounds.
    """

    def __init__(
        self,
        topology: Topology,
        *,
        host: str = "127.0.0.1",
        admin_port: int = 0,
        housekeeping_interval_s: float = HOUSEKEEPING_INTERVAL_S,
    ) -> None:
        self.topology = topology
        self.host = host
        self.admin_port = admin_port
        self.housekeeping_interval_s = housekeeping_interval_s
        self.regions: dict[str, RegionServer] = {}
        for spec in topology.regions:
            cloud = RegionCloud(spec, random.Random(f"{topology.seed}:{spec.name}"))
            error_rng = random.Random(f"{topology.seed}:{spec.name}:http-errors")
            self.regions[spec.name] = RegionServer(spec, cloud, error_rng, host)
        self._admin_runner = web.AppRunner(
            build_admin_app(self), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def admin_url(self) -> str:
        """The admin API's base URL."""
        return f"http://{self.host}:{self.admin_port}"

    async def start(self) -> None:
        """Open every region's port and the admin port, then start housekeeping.

        :raises OSError: when a port cannot be bound; whatever was opened is closed again.
        """
        try:
            for region in self.regions.values():
                await region.start()
                log.info(
                    "region %s (id %s) listening at %s%s",
                    region.spec.name,
                    region.spec.id,
                    region.endpoint,
                    " (down)" if region.faults.down else "",
                )
            await self._admin_runner.setup()
            site = web.TCPSite(self._admin_runner, self.host, self.admin_port)
            await site.start()
            self.admin_port = site.port
        except OSError:
            await self.stop()
            raise
        log.info("admin API at %s", self.admin_url)
        self._housekeeping = asyncio.create_task(self._housekeep_forever(), name="housekeeping")

    async def stop(self) -> None:
        """Stop housekeeping, close every port and release every region's cloud model."""
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await self._admin_runner.cleanup()
        for region in self.regions.values():
            await region.stop()
            await region.cloud.aclose()

    def endpoints(self, pid: int) -> dict[str, Any]:
        """The endpoints-file mapping (see ``docs/simulator.md``); it holds the regions' secret keys.

        :param pid: the serving process's id.
        """
        return {
            "pid": pid,
            "admin": self.admin_url,
            "seed": self.topology.seed,
            "regions": [
                {
                    "name": region.spec.name,
                    "id": region.spec.id,
                    "endpoint": region.endpoint,
                    "api_key": region.spec.api_key,
                    "secret_key": region.spec.secret_key,
                    "display_name": region.spec.display_name,
                    "location": region.spec.location,
                    "colour": region.spec.colour,
                    "zones": [zone.name for zone in region.spec.zones],
                }
                for region in self.regions.values()
            ],
        }

    async def _housekeep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.housekeeping_interval_s)
            for region in self.regions.values():
                housekeeping = getattr(region.cloud, "housekeeping", None)
                if housekeeping is None:
                    continue
                try:
                    outcome = housekeeping()
                    if inspect.isawaitable(outcome):
                        await outcome
                except Exception:
                    log.exception("region %s: housekeeping failed", region.spec.name)
