"""The CloudStack hook: every API verb of one region, over the signed HTTP API, built on ``cs``.

The hook does not retry (Airflow task retries own that); it turns every failure into a typed
:class:`~meca.cloudstack.errors.CloudStackError` naming the region and the command.
"""

from __future__ import annotations

import builtins
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret
from cs import CloudStack

from meca.cloudstack.connection import CONN_TYPE, CloudStackSettings
from meca.cloudstack.error_mapping import TRANSLATED, translate
from meca.cloudstack.errors import CloudStackError
from meca.cloudstack.thresholds import KEYWORD, CapacityThresholds
from meca.regions import InvalidRegionConnection, Region


class CloudStackHook(BaseHook):
    """Call one CloudStack region described by a ``cloudstack`` Connection.

    :param cloudstack_conn_id: the Connection id of the region.
    """

    conn_name_attr = "cloudstack_conn_id"
    default_conn_name = "cloudstack_default"
    conn_type = CONN_TYPE
    hook_name = "Apache CloudStack"

    def __init__(self, cloudstack_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.cloudstack_conn_id = cloudstack_conn_id

    def __repr__(self) -> str:
        return f"<CloudStackHook {self.cloudstack_conn_id}>"

    @cached_property
    def settings(self) -> CloudStackSettings:
        """The validated Connection, read once; its secret key is registered with Airflow's masker."""
        settings = CloudStackSettings.from_connection(self.get_connection(self.cloudstack_conn_id))
        mask_secret(settings.secret_key)
        return settings

    @property
    def region(self) -> Region:
        """The region this hook calls, from the Connection alone (no API call)."""
        return self.settings.region

    @cached_property
    def _client(self) -> CloudStack:
        return self.settings.client(CloudStack)

    def get_conn(self) -> CloudStack:
        """The underlying ``cs`` client (signed requests, no error translation)."""
        return self._client

    def call(self, command: str, **params: Any) -> dict[str, Any]:
        """Send one command and return the inner body of its ``<command>response``.

        :param command: the API command, e.g. ``listZones``.
        :param params: the command's parameters; lists and dicts are encoded the CloudStack way
            (``tags=[{"key": "k", "value": "v"}]`` becomes ``tags[0].key=k&tags[0].value=v``).
        :raises CloudStackError: a subclass saying what went wrong.
        """
        return self._send(command, params)

    def list(self, command: str, **params: Any) -> builtins.list[dict[str, Any]]:
        """Send a list command and return the items of every page (``[]`` for an empty list).

        :param command: a list command, e.g. ``listVirtualMachines``.
        :param params: the command's parameters; ``pagesize`` overrides the page size (default 500).
        :raises CloudStackError: a subclass saying what went wrong.
        """
        return self._send(command, params, fetch_list=True)

    def run_job(self, command: str, **params: Any) -> dict[str, Any]:
        """Send an asynchronous command, wait for its job, and return the job's ``jobresult``.

        :param command: an async command, e.g. ``deployVirtualMachine``.
        :param params: the command's parameters.
        :raises CloudStackJobError: when the job fails (``CloudStackCapacityError`` for lack of capacity).
        :raises CloudStackTimeoutError: when the job is not done within the Connection's ``job_timeout``.
        """
        self.log.info("region %s: %s: waiting for the async job", self.region.name, command)
        return self._send(command, params, fetch_result=True)

    def capacity_thresholds(self) -> CapacityThresholds:
        """The region's CPU and memory allocation disable thresholds, in one ``listConfigurations`` call.

        :raises CloudStackError: a subclass saying what went wrong.
        """
        return CapacityThresholds.from_api(self.list("listConfigurations", keyword=KEYWORD))

    def test_connection(self) -> tuple[bool, str]:
        """Check the endpoint and the keys with ``listZones``; used by the Connections page.

        :return: ``(True, "Connected to region R: N zone(s)")`` or ``(False, why)``.
        """
        try:
            zones = self.list("listZones")
        except (CloudStackError, InvalidRegionConnection) as exc:
            return False, str(exc)
        return True, f"Connected to region {self.region.name}: {len(zones)} zone(s)"

    def _send(self, command: str, params: dict[str, Any], **mode: bool) -> Any:
        settings = self.settings
        self.log.debug("region %s: %s", settings.region.name, command)
        try:
            return getattr(self._client, command)(**params, **mode)
        except TRANSLATED as exc:
            raise translate(
                exc, region=settings.region.name, command=command, endpoint=settings.endpoint
            ) from None
