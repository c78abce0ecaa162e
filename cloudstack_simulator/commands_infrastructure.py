"""Read-only commands about the infrastructure: regions, zones, capacity, hosts, offerings, OS types."""

from __future__ import annotations

from typing import Any

from cloudstack_simulator.capacity import host_usage, zone_capacity
from cloudstack_simulator.clock import cs_time
from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.params import integer, list_answer, lookup, parse_bool
from cloudstack_simulator.state import RegionState

Params = dict[str, str]


def _matches_keyword(params: Params, *texts: str) -> bool:
    keyword = params.get("keyword", "").lower()
    return not keyword or any(keyword in t.lower() for t in texts)


def list_regions(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listRegions``: this region, with its integer id."""
    spec = state.spec
    wanted_id, name = integer(command, params, "id"), params.get("name")
    region = {
        "id": spec.id,
        "name": spec.name,
        "endpoint": state.endpoint,
        "gslbserviceenabled": True,
        "portableipserviceenabled": False,
    }
    keep = (wanted_id is None or wanted_id == spec.id) and (not name or name == spec.name)
    return list_answer(command, params, "region", [region] if keep else [])


def list_zones(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listZones`` with ``id``, ``name``, ``keyword`` and ``showcapacities``."""
    only = lookup(command, params, "id", state.zones)
    with_capacity = parse_bool(params.get("showcapacities"))
    out = []
    for zone in state.zones.values():
        if only is not None and zone is not only:
            continue
        if params.get("name") and params["name"] != zone.spec.name:
            continue
        if not _matches_keyword(params, zone.spec.name):
            continue
        entry = zone.as_dict()
        if with_capacity:
            entry["capacity"] = zone_capacity(
                zone,
                state.vms.values(),
                state.templates.values(),
                state.background,
                state.clock(),
                state.ceiling(),
            )
        out.append(entry)
    return list_answer(command, params, "zone", out)


def list_capacity(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listCapacity`` (admin): every type per zone, sorted by zone name then type.

    Filters ``zoneid`` and ``type``; ``sortby=usage`` sorts by ``percentused`` descending.
    """
    only = lookup(command, params, "zoneid", state.zones)
    kind = integer(command, params, "type")
    rows = []
    now, ceiling = state.clock(), state.ceiling()
    for zone in state.zones.values():
        if only is None or zone is only:
            rows.extend(
                zone_capacity(
                    zone, state.vms.values(), state.templates.values(), state.background, now, ceiling
                )
            )
    if kind is not None:
        rows = [r for r in rows if r["type"] == kind]
    rows.sort(key=lambda r: (r["zonename"], r["type"]))
    sort_by = params.get("sortby", "")
    if sort_by == "usage":
        rows.sort(key=lambda r: -float(r["percentused"]))
    elif sort_by:
        raise ApiError(431, f"Unsupported value for sortby: {sort_by}; only 'usage' is supported")
    return list_answer(command, params, "capacity", rows)


def _percent(used: int, total: int) -> str:
    return f"{(100.0 * used / total) if total else 0.0:.2f}%"


def list_hosts(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listHosts`` (routing hosts only) with ``id``, ``zoneid``, ``name``, ``type``, ``keyword``."""
    hosts = {h.id: (zone, h) for zone in state.zones.values() for h in zone.hosts}
    only = lookup(command, params, "id", hosts)
    zone_only = lookup(command, params, "zoneid", state.zones)
    if params.get("type") and params["type"].lower() != "routing":
        return {}
    out = []
    for zone, host in hosts.values():
        if (only is not None and only[1] is not host) or (zone_only is not None and zone is not zone_only):
            continue
        if (params.get("name") and params["name"] != host.spec.name) or not _matches_keyword(
            params, host.spec.name
        ):
            continue
        mhz, memory, _cores = host_usage(
            host, state.vms.values(), state.background, state.clock(), state.ceiling()
        )
        out.append(
            {
                "id": host.id,
                "name": host.spec.name,
                "state": "Up",
                "type": "Routing",
                "ipaddress": host.ip,
                "zoneid": zone.id,
                "zonename": zone.spec.name,
                "podid": zone.pod_id,
                "podname": f"{zone.spec.name}-Pod1",
                "hypervisor": host.spec.hypervisor,
                "cpusockets": 1,
                "cpunumber": host.spec.cpu_cores,
                "cpuspeed": host.spec.cpu_mhz,
                "cpuallocated": _percent(mhz, host.cpu_mhz_total),
                "cpuused": _percent(mhz, host.cpu_mhz_total),
                "memorytotal": host.memory_bytes,
                "memoryallocated": memory,
                "memoryused": memory,
                "resourcestate": "Enabled",
                "created": cs_time(host.created),
                "version": "4.19.1.0",
                "islocalstorageactive": False,
                "hahost": False,
            }
        )
    return list_answer(command, params, "host", out)


def list_service_offerings(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listServiceOfferings`` with ``id``, ``name``, ``keyword``."""
    only = lookup(command, params, "id", state.offerings)
    out = [
        o.as_dict()
        for o in state.offerings.values()
        if (only is None or o is only)
        and (not params.get("name") or params["name"] == o.spec.name)
        and _matches_keyword(params, o.spec.name, o.spec.display_text)
    ]
    return list_answer(command, params, "serviceoffering", out)


def list_os_types(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listOsTypes`` with ``id``, ``oscategoryid`` and ``description`` (a case-insensitive LIKE)."""
    only = lookup(command, params, "id", state.os_types)
    description = params.get("description", "").lower()
    category = params.get("oscategoryid")
    out = [
        o.as_dict()
        for o in state.os_types.values()
        if (only is None or o is only)
        and description in o.description.lower()
        and (not category or category == o.category_id)
        and _matches_keyword(params, o.description)
    ]
    return list_answer(command, params, "ostype", out)


def empty_list(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """An empty list (``listPublicIpAddresses`` and the forwarding rules Libcloud asks for)."""
    return list_answer(command, params, "unused", [])
