"""Template commands: listTemplates, registerTemplate (a real background download), deleteTemplate."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlparse

from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.ids import new_uuid
from cloudstack_simulator.infrastructure import Zone
from cloudstack_simulator.jobs import AsyncJob
from cloudstack_simulator.params import indexed_maps, list_answer, lookup, parse_bool, require
from cloudstack_simulator.state import RegionState
from cloudstack_simulator.templates import DOWNLOADING, Template, download, parse_checksum
from cloudstack_simulator.topology import FORMATS, HYPERVISORS

Params = dict[str, str]
FILTERS = (
    "featured",
    "self",
    "selfexecutable",
    "sharedexecutable",
    "executable",
    "community",
    "all",
    "system",
)


def _visible(template: Template, name: str) -> bool:
    """``templatefilter`` semantics for the admin account, which owns every user template here."""
    if name == "featured":
        return template.featured and template.ready
    if name in ("self", "all"):
        return True
    if name in ("selfexecutable", "executable"):
        return template.ready
    if name == "community":
        return template.public and not template.featured and template.ready
    return False  # sharedexecutable (nothing shared with admin) and system (no system VM templates)


def list_templates(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listTemplates``: one entry per template and zone; ``templatefilter`` is required.

    Other filters: id, name, zoneid, hypervisor, keyword.
    """
    name = require(command, params, "templatefilter").lower()
    if name not in FILTERS:
        raise ApiError(431, f"Invalid templatefilter {name}; valid values: {', '.join(FILTERS)}", 4350)
    only = lookup(command, params, "id", state.templates)
    zone = lookup(command, params, "zoneid", state.zones)
    keyword = params.get("keyword", "").lower()
    out = []
    for template in state.templates.values():
        if not _visible(template, name) or (only is not None and template is not only):
            continue
        if params.get("name") and params["name"] != template.name:
            continue
        if params.get("hypervisor") and params["hypervisor"].lower() != template.hypervisor.lower():
            continue
        if keyword and keyword not in template.name.lower():
            continue
        for entry in template.as_dicts(state.owner, state.tags_of(template.id)):
            if zone is None or entry["zoneid"] == zone.id:
                out.append(entry)
    return list_answer(command, params, "template", out)


def _zones(state: RegionState, command: str, params: Params) -> list[Zone]:
    single, many = params.get("zoneid", ""), params.get("zoneids", "")
    if single and many:
        raise ApiError(431, "Both zoneid and zoneids cannot be specified at the same time")
    if not single and not many:
        raise ApiError(431, "Either zoneid or zoneids is required. Got none.")
    wanted = [single] if single else [z for z in many.split(",") if z]
    if "-1" in wanted:
        return list(state.zones.values())
    return [lookup(command, {"zoneid": z}, "zoneid", state.zones) for z in wanted]


def _choice(command: str, name: str, value: str, allowed: tuple[str, ...]) -> str:
    match = {a.lower(): a for a in allowed}.get(value.lower())
    if match is None:
        raise ApiError(431, f"Invalid {name} {value}; supported: {', '.join(allowed)}", 4350)
    return match


def _details(params: Params) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in indexed_maps(params, "details"):
        if set(entry) == {"key", "value"}:
            out[entry["key"]] = entry["value"]
        else:
            out.update(entry)
    return out


def register_template(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``registerTemplate``: answers at once (not ready); a background task downloads ``url``.

    Required: name, format, hypervisor, url, zoneid or zoneids (``-1`` = all zones). ``checksum``
    is ``{ALGO}hex`` or plain hex (MD5); ``ostypeid`` defaults to "Other (64-bit)".
    """
    for name in ("name", "format", "hypervisor", "url"):
        require(command, params, name)
    fmt = _choice(command, "format", params["format"], FORMATS)
    hypervisor = _choice(command, "hypervisor", params["hypervisor"], HYPERVISORS)
    url = params["url"]
    if urlparse(url).scheme not in ("http", "https"):
        raise ApiError(431, f"Unsupported scheme for url: {url}", 4350)
    zones = _zones(state, command, params)
    os_type = lookup(command, params, "ostypeid", state.os_types) or next(
        o for o in state.os_types.values() if o.description == "Other (64-bit)"
    )
    checksum = None
    if params.get("checksum"):
        try:
            checksum = parse_checksum(params["checksum"])
        except ValueError as exc:
            raise ApiError(431, str(exc), 4350) from None
    template = Template(
        id=new_uuid(state.rng),
        name=params["name"],
        display_text=params.get("displaytext") or params["name"],
        os_type_id=os_type.id,
        os_type_name=os_type.description,
        format=fmt,
        hypervisor=hypervisor,
        url=url,
        created=state.clock(),
        zones=zones,
        state=DOWNLOADING,
        featured=parse_bool(params.get("isfeatured")),
        public=parse_bool(params.get("ispublic")),
        extractable=parse_bool(params.get("isextractable")),
        password_enabled=parse_bool(params.get("passwordenabled")),
        checksum=checksum[1] if checksum else None,
        details=_details(params),
    )
    state.templates[template.id] = template
    task = asyncio.get_running_loop().create_task(
        download(template, checksum, lambda: state.spec.faults.template_download_failure),
        name=f"download template {template.id}",
    )
    state.downloads[template.id] = task
    task.add_done_callback(lambda _t: state.downloads.pop(template.id, None))
    entries = template.as_dicts(state.owner, [])
    return {"count": len(entries), "template": entries}


def delete_template(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``deleteTemplate`` (async): from one zone (``zoneid``) or from all; gone when in none."""
    require(command, params, "id")
    template: Template = lookup(command, params, "id", state.templates)
    zone = lookup(command, params, "zoneid", state.zones)
    if zone is not None and zone not in template.zones:
        raise ApiError(431, f"Template {template.id} is not present in zone {zone.spec.name}", 4350)

    def finish(job: AsyncJob) -> dict[str, Any]:
        template.zones = [z for z in template.zones if zone is not None and z is not zone]
        if not template.zones:
            state.templates.pop(template.id, None)
            state.forget_resource(template.id)
            task = state.downloads.pop(template.id, None)
            if task is not None:
                task.cancel()
        return {"success": True}

    job = state.submit(
        "org.apache.cloudstack.api.command.user.template.DeleteTemplateCmd",
        state.spec.timings.template_delete_s,
        finish,
        ("Template", template.id),
    )
    return {"jobid": job.id}
