"""The simulator's admin API: health, region listing and run-time fault changes (JSON over HTTP).

``GET /health``, ``GET /regions``, ``GET /regions/{name}``, ``GET /regions/{name}/deployed-vms``
(read-only: every VM ever deployed in the region, expunged ones included; ``?name_prefix=`` filters)
``PATCH /regions/{name}/faults`` with a JSON object of :class:`~cloudstack_simulator.faults.Faults`
fields and ``PATCH /regions/{name}/configurations`` with a JSON object of setting names to values
(:mod:`cloudstack_simulator.configurations`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from cloudstack_simulator.region_server import RegionServer
    from cloudstack_simulator.server import Simulator

SIMULATOR_KEY = web.AppKey["Simulator"]("simulator")


def build_admin_app(simulator: Simulator) -> web.Application:
    """The admin application bound to a running simulator.

    :param simulator: whose regions the API shows and changes.
    """
    app = web.Application()
    app[SIMULATOR_KEY] = simulator
    app.router.add_get("/health", _health)
    app.router.add_get("/regions", _regions)
    app.router.add_get("/regions/{name}", _region)
    app.router.add_get("/regions/{name}/deployed-vms", _deployed_vms)
    app.router.add_patch("/regions/{name}/faults", _patch_faults)
    app.router.add_patch("/regions/{name}/configurations", _patch_configurations)
    return app


def region_view(region: RegionServer) -> dict[str, Any]:
    """What the admin API tells about a region: never its keys.

    ``requests`` counts the API requests the region received since the simulator started:
    ``{"total": N, "by_command": {"listcapacity": n, ...}}``.

    :param region: the served region.
    """
    view: dict[str, Any] = {
        "name": region.spec.name,
        "id": region.spec.id,
        "endpoint": region.endpoint,
        "listening": region.listening,
        "faults": region.faults.as_dict(),
        "configurations": region.spec.configurations.as_dict(),
        "requests": {
            "total": sum(region.requests.values()),
            "by_command": dict(sorted(region.requests.items())),
        },
    }
    stats = getattr(region.cloud, "stats", None)
    if stats is not None:
        view["stats"] = stats()
    return view


async def _health(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR_KEY]
    return web.json_response({"status": "ok", "regions": len(simulator.regions)})


async def _regions(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR_KEY]
    return web.json_response({"regions": [region_view(region) for region in simulator.regions.values()]})


async def _region(request: web.Request) -> web.Response:
    return web.json_response(region_view(_find_region(request)))


async def _deployed_vms(request: web.Request) -> web.Response:
    region = _find_region(request)
    deployed = getattr(region.cloud, "deployed_vms", None)
    if deployed is None:
        raise _json_error(web.HTTPNotFound, f"region {region.spec.name} keeps no log of deployed VMs")
    prefix = request.query.get("name_prefix", "")
    return web.json_response({"region": region.spec.name, "vms": deployed(prefix)})


async def _patch_faults(request: web.Request) -> web.Response:
    region = _find_region(request)
    try:
        changes = await request.json()
    except json.JSONDecodeError as error:
        raise _json_error(web.HTTPBadRequest, f"the body is not JSON: {error}") from None
    if not isinstance(changes, dict):
        raise _json_error(web.HTTPBadRequest, "the body must be a JSON object of fault names to values")
    trial = replace(region.faults)
    try:
        trial.update(changes)
    except ValueError as error:
        raise _json_error(web.HTTPBadRequest, str(error)) from None
    try:
        await region.set_down(trial.down)
    except OSError as error:
        raise _json_error(
            web.HTTPConflict, f"cannot reopen region {region.spec.name} on port {region.port}: {error}"
        ) from None
    region.faults.update(changes)
    return web.json_response(region_view(region))


async def _patch_configurations(request: web.Request) -> web.Response:
    region = _find_region(request)
    try:
        changes = await request.json()
    except json.JSONDecodeError as error:
        raise _json_error(web.HTTPBadRequest, f"the body is not JSON: {error}") from None
    if not isinstance(changes, dict):
        raise _json_error(web.HTTPBadRequest, "the body must be a JSON object of setting names to values")
    try:
        region.spec.configurations.update(changes)
    except ValueError as error:
        raise _json_error(web.HTTPBadRequest, str(error)) from None
    return web.json_response(region_view(region))


def _find_region(request: web.Request) -> RegionServer:
    simulator = request.app[SIMULATOR_KEY]
    name = request.match_info["name"]
    region = simulator.regions.get(name)
    if region is None:
        raise _json_error(web.HTTPNotFound, f"no region {name!r}; known: {sorted(simulator.regions)}")
    return region


def _json_error(kind: type[web.HTTPError], message: str) -> web.HTTPError:
    return kind(text=json.dumps({"error": message}), content_type="application/json")
