"""One simulated region on the wire: its listening socket at ``/client/api``, authentication and faults."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from cloudstack_simulator import signing
from cloudstack_simulator.cloud import RegionCloud
from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.faults import Faults
from cloudstack_simulator.rendering import render, render_error, response_key
from cloudstack_simulator.topology import RegionSpec

log = logging.getLogger(__name__)

API_PATH = "/client/api"
#: Parameters the protocol layer consumes; the cloud model never sees them.
PROTOCOL_PARAMS = frozenset({"command", "apikey", "signature", "signatureversion", "expires", "response"})
AUTH_FAILURE_TEXT = "unable to verify user credentials and/or request signature"
INTERNAL_ERROR_TEXT = "Internal error executing command, please contact your system administrator"
#: ``CSExceptionErrorCode`` of a ``CloudRuntimeException``.
CLOUD_RUNTIME_CSERRORCODE = 4250
#: Seconds a stopping simulator waits for requests in flight before dropping them.
SHUTDOWN_TIMEOUT_S = 1.0


class RegionServer:
    """Serves one region's API on its own port; closes and reopens that port as ``faults.down`` changes.

    Every request that reaches the API path is counted in :attr:`requests` by command name as sent
    (lower-cased; ``(none)`` when absent), whatever its outcome (401s and injected 5xx included).

    :param spec: the region as the topology describes it (``spec.faults`` is live and shared).
    :param cloud: the region's cloud model.
    :param error_rng: the seeded random stream that decides which requests ``error_rate`` fails.
    :param host: the address to listen on.
    """

    def __init__(self, spec: RegionSpec, cloud: RegionCloud, error_rng: random.Random, host: str) -> None:
        self.spec = spec
        self.cloud = cloud
        self.host = host
        self.port = spec.port
        self._error_rng = error_rng
        self.requests: Counter[str] = Counter()
        app = web.Application()
        app.router.add_route("GET", API_PATH, self._handle)
        app.router.add_route("POST", API_PATH, self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S
        )
        self._site: web.TCPSite | None = None

    @property
    def faults(self) -> Faults:
        """The region's live faults."""
        return self.spec.faults

    @property
    def endpoint(self) -> str:
        """The API URL clients use."""
        return f"http://{self.host}:{self.port}{API_PATH}"

    @property
    def listening(self) -> bool:
        """Whether the port currently accepts connections."""
        return self._site is not None

    async def start(self) -> None:
        """Bind the port (a free one when the topology says 0), then close it again if the region starts down.

        :raises OSError: when the port cannot be bound (e.g. already in use).
        """
        await self._runner.setup()
        await self._open()
        self.cloud.endpoint = f"http://{self.host}:{self.port}/client/"
        if self.faults.down:
            await self._close_listener()

    async def set_down(self, down: bool) -> None:
        """Close the listener (and drop open connections) or reopen it on the same port.

        :raises OSError: when the port cannot be bound again; the region then stays down.
        """
        if down and self.listening:
            await self._close_listener()
        elif not down and not self.listening:
            await self._open()

    async def stop(self) -> None:
        """Close the listener and every connection for good."""
        await self._runner.cleanup()
        self._site = None

    async def _open(self) -> None:
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self._site = site
        self.port = site.port

    async def _close_listener(self) -> None:
        assert self._site is not None
        await self._site.stop()
        self._site = None
        server = self._runner.server
        assert server is not None
        for connection in server.connections:
            connection.force_close()

    async def _handle(self, request: web.Request) -> web.Response:
        params = _merged_params(request.query, await request.post())
        by_lower = {name.lower(): value for name, value in params.items()}
        command = by_lower.get("command")
        self.requests[command.lower() if command else "(none)"] += 1
        known = command is not None and command.lower() in self.cloud.commands
        as_xml = by_lower.get("response", "").lower() != "json"
        if self.faults.latency_s > 0:
            await asyncio.sleep(self.faults.latency_s)
        try:
            if command is None or not known:
                raise self._unauthenticated(command, f"unknown command {command!r}")
            body = await self._execute(command, params, by_lower)
        except ApiError as error:
            return render_error(command if known else None, error, as_xml=as_xml)
        return render(response_key(command), body, as_xml=as_xml)

    async def _execute(
        self, command: str, params: dict[str, str], by_lower: dict[str, str]
    ) -> dict[str, Any]:
        """Authenticate, apply ``error_rate``, then run the command in the model.

        :raises ApiError: 401 when not authenticated, 530 for an injected or unexpected failure,
            or whatever the model raises.
        """
        reason = self._authentication_failure(params, by_lower)
        if reason is not None:
            raise self._unauthenticated(command, reason)
        if self.faults.error_rate > 0 and self._error_rng.random() < self.faults.error_rate:
            raise ApiError(530, INTERNAL_ERROR_TEXT, cserrorcode=CLOUD_RUNTIME_CSERRORCODE)
        model_params = {
            name.lower(): value for name, value in params.items() if name.lower() not in PROTOCOL_PARAMS
        }
        try:
            return await self.cloud.handle(command, model_params)
        except ApiError:
            raise
        except Exception as exc:
            log.exception("region %s: %s failed unexpectedly", self.spec.name, command)
            raise ApiError(530, INTERNAL_ERROR_TEXT, cserrorcode=CLOUD_RUNTIME_CSERRORCODE) from exc

    def _unauthenticated(self, command: str | None, reason: str) -> ApiError:
        log.info("region %s: 401 for %s: %s", self.spec.name, command, reason)
        return ApiError(401, AUTH_FAILURE_TEXT, cserrorcode=None)

    def _authentication_failure(self, params: dict[str, str], by_lower: dict[str, str]) -> str | None:
        """Why the request is not authenticated, or ``None`` when it is."""
        api_key = by_lower.get("apikey")
        if not api_key:
            return "missing apiKey"
        if api_key.lower() != self.spec.api_key.lower():
            return "unknown apiKey"
        try:
            signing.verify(params, self.spec.secret_key, datetime.now(UTC))
        except signing.SignatureError as error:
            return str(error)
        return None


def _merged_params(query: MultiMapping[str], form: MultiMapping[Any]) -> dict[str, str]:
    """Query and form parameters merged like the servlet's parameter map: the first value of a name wins."""
    merged: dict[str, str] = {}
    for source in (query, form):
        for name, value in source.items():
            if isinstance(value, str):
                merged.setdefault(name, value)
    return merged
