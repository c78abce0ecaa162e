"""Tag commands: createTags and deleteTags (async), listTags."""

from __future__ import annotations

from typing import Any

from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.jobs import AsyncJob
from cloudstack_simulator.params import indexed_maps, list_answer, require
from cloudstack_simulator.state import RegionState
from cloudstack_simulator.tags import RESOURCE_TYPES, Tag

Params = dict[str, str]
_TAG_CMD = "org.apache.cloudstack.api.command.user.tag."


def _resources(state: RegionState, command: str, params: Params) -> tuple[str, list[str]]:
    ids = [i for i in require(command, params, "resourceids").split(",") if i]
    kind = require(command, params, "resourcetype")
    canonical = {t.lower(): t for t in RESOURCE_TYPES}.get(kind.lower())
    if canonical is None:
        raise ApiError(431, f"Invalid resource type: {kind}; supported: {', '.join(RESOURCE_TYPES)}", 4350)
    table = state.vms if canonical == "UserVm" else state.templates
    for resource_id in ids:
        if resource_id not in table:
            raise ApiError(431, f"Unable to find resource by id {resource_id} and type {canonical}", 4350)
    return canonical, ids


def create_tags(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``createTags``: ``resourceids``, ``resourcetype`` and ``tags[n].key/value``; the job applies them."""
    kind, ids = _resources(state, command, params)
    pairs = [(t.get("key", ""), t.get("value", "")) for t in indexed_maps(params, "tags")]
    if not pairs:
        require(command, params, "tags")
    for key, value in pairs:
        if not key or not value:
            raise ApiError(431, "Tag key and value cannot be empty", 4350)
    for resource_id in ids:
        held = {t.key for t in state.tags.get(resource_id, [])}
        for key, _ in pairs:
            if key in held:
                raise ApiError(431, f"Tag {key} already exists on {kind} with id {resource_id}", 4350)

    def finish(job: AsyncJob) -> dict[str, Any]:
        for resource_id in ids:
            held = state.tags.setdefault(resource_id, [])
            for key, value in pairs:
                held[:] = [t for t in held if t.key != key]
                held.append(Tag(key, value, kind, resource_id))
        return {"success": True}

    job = state.submit(_TAG_CMD + "CreateTagsCmd", state.spec.timings.tags_s, finish)
    return {"jobid": job.id}


def delete_tags(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``deleteTags``: removes the given keys (with a value: only that pair), or every tag."""
    _kind, ids = _resources(state, command, params)
    wanted = indexed_maps(params, "tags")

    def doomed(tag: Tag) -> bool:
        if not wanted:
            return True
        return any(w.get("key") == tag.key and w.get("value", tag.value) == tag.value for w in wanted)

    def finish(job: AsyncJob) -> dict[str, Any]:
        for resource_id in ids:
            if resource_id in state.tags:
                state.tags[resource_id] = [t for t in state.tags[resource_id] if not doomed(t)]
        return {"success": True}

    job = state.submit(_TAG_CMD + "DeleteTagsCmd", state.spec.timings.tags_s, finish)
    return {"jobid": job.id}


def list_tags(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listTags`` with ``resourcetype``, ``resourceid``, ``key`` and ``value`` filters."""
    out = []
    for resource_id, tags in state.tags.items():
        for tag in tags:
            checks = (
                ("resourcetype", tag.resource_type.lower(), True),
                ("resourceid", resource_id, False),
                ("key", tag.key, False),
                ("value", tag.value, False),
            )
            if all(
                not params.get(name) or (params[name].lower() if fold else params[name]) == have
                for name, have, fold in checks
            ):
                out.append(tag.as_dict(state.owner))
    return list_answer(command, params, "tag", out)
