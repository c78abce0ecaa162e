"""The asyncio twin of :class:`~meca.cloudstack.hook.CloudStackHook`, for triggers and async tasks.

It reads its Connection with ``BaseHook.aget_connection`` (Airflow 3 task SDK): in the triggerer and
in workers that goes through the supervisor, with no database access from user code, and it
never blocks the event loop.
"""

from __future__ import annotations

import builtins
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import amask_secret
from cs import AIOCloudStack

from meca.cloudstack.connection import CloudStackSettings
from meca.cloudstack.error_mapping import TRANSLATED, translate
from meca.cloudstack.errors import CloudStackError
from meca.regions import InvalidRegionConnection, Region


class CloudStackAsyncHook(BaseHook):
    """Call one CloudStack region from a coroutine. Same verbs as the sync hook, awaited.

    Each verb opens its own HTTP session, so a hook may be kept across awaits and event loops.

    :param cloudstack_conn_id: the Connection id of the region.
    """

    conn_name_attr = "cloudstack_conn_id"
    default_conn_name = "cloudstack_default"

    def __init__(self, cloudstack_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.cloudstack_conn_id = cloudstack_conn_id
        self._settings: CloudStackSettings | None = None
        # One client per hook: building one loads the CA bundle (~50 ms of CPU), sessions stay per call.
        self._client: AIOCloudStack | None = None

    def __repr__(self) -> str:
        return f"<CloudStackAsyncHook {self.cloudstack_conn_id}>"

    async def get_settings(self) -> CloudStackSettings:
        """The validated Connection, read once; its secret key is registered with Airflow's masker."""
        if self._settings is None:
            conn = await self.aget_connection(self.cloudstack_conn_id)
            settings = CloudStackSettings.from_connection(conn)
            await amask_secret(settings.secret_key)
            self._settings = settings
        return self._settings

    async def get_region(self) -> Region:
        """The region this hook calls, from the Connection alone (no API call)."""
        return (await self.get_settings()).region

    async def call(self, command: str, **params: Any) -> dict[str, Any]:
        """Send one command and return the inner body of its ``<command>response``.

        :param command: the API command, e.g. ``listZones``.
        :param params: the command's parameters.
        :raises CloudStackError: a subclass saying what went wrong.
        """
        return await self._send(command, params)

    async def list(self, command: str, **params: Any) -> builtins.list[dict[str, Any]]:
        """Send a list command and return the items of every page (``[]`` for an empty list).

        :param command: a list command, e.g. ``listVirtualMachines``.
        :param params: the command's parameters; ``pagesize`` overrides the page size (default 500).
        :raises CloudStackError: a subclass saying what went wrong.
        """
        return await self._send(command, params, fetch_list=True)

    async def run_job(self, command: str, **params: Any) -> dict[str, Any]:
        """Send an asynchronous command, wait for its job, and return the job's ``jobresult``.

        :param command: an async command, e.g. ``deployVirtualMachine``.
        :param params: the command's parameters.
        :raises CloudStackJobError: when the job fails (``CloudStackCapacityError`` for lack of capacity).
        :raises CloudStackTimeoutError: when the job is not done within the Connection's ``job_timeout``.
        """
        return await self._send(command, params, fetch_result=True)

    async def test_connection(self) -> tuple[bool, str]:
        """Check the endpoint and the keys with ``listZones``.

        :return: ``(True, "Connected to region R: N zone(s)")`` or ``(False, why)``.
        """
        try:
            zones = await self.list("listZones")
            region = await self.get_region()
        except (CloudStackError, InvalidRegionConnection) as exc:
            return False, str(exc)
        return True, f"Connected to region {region.name}: {len(zones)} zone(s)"

    async def _send(self, command: str, params: dict[str, Any], **mode: bool) -> Any:
        settings = await self.get_settings()
        self.log.debug("region %s: %s", settings.region.name, command)
        if self._client is None:
            self._client = settings.client(AIOCloudStack)
        client = self._client
        try:
            return await getattr(client, command)(**params, **mode)
        except TRANSLATED as exc:
            raise translate(
                exc, region=settings.region.name, command=command, endpoint=settings.endpoint
            ) from None
