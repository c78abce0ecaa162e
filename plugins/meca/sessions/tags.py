"""Which CloudStack VMs belong to a classroom session: the ``meca-session`` tag and the VM names.

A session's id is its DAG run id (e.g. ``manual__2026-03-04T09:00:00+00:00``), which is not a valid
host name, so VMs are named ``meca-<token>-<NN>`` where the token is a short hash of the session
id, and tagged ``meca-session=<session id>``. The name is given at ``deployVirtualMachine`` time and
the tag a moment later (``createTags``), so a worker killed in between leaves a VM that its name
still ties to its session: provisioning, teardown and the reaper all read both.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from meca.cloudstack.async_hook import CloudStackAsyncHook

TAG_KEY = "meca-session"
TOKEN_LENGTH = 12
GONE_STATES = frozenset({"Expunging"})
BROKEN_STATES = frozenset({"Error", "Destroyed", "Expunging"})
_VM_NAME = re.compile(rf"^meca-(?P<token>[0-9a-f]{{{TOKEN_LENGTH}}})-(?P<index>\d{{2,3}})$")


def session_token(session_id: str) -> str:
    """The short, host-name-safe hash of a session id used in its VM names.

    :raises ValueError: for an empty session id.
    """
    if not session_id:
        raise ValueError("the session id is empty")
    return hashlib.sha256(session_id.encode()).hexdigest()[:TOKEN_LENGTH]


def vm_name(session_id: str, index: int) -> str:
    """The host name of the ``index``-th VM (from 1) of a session, e.g. ``meca-1f0c2a9d8e7b-07``.

    :raises ValueError: when the index is not in 1..999.
    """
    if not 1 <= index <= 999:
        raise ValueError(f"VM index {index} is not in 1..999")
    return f"meca-{session_token(session_id)}-{index:02d}"


def session_tags(session_id: str) -> list[dict[str, str]]:
    """The ``tags`` parameter of ``createTags`` for a session's VMs."""
    return [{"key": TAG_KEY, "value": session_id}]


def tagged_session(vm: dict[str, Any]) -> str | None:
    """The session id in the VM's ``meca-session`` tag, or ``None`` when it has none."""
    for tag in vm.get("tags") or []:
        if tag.get("key") == TAG_KEY and tag.get("value"):
            return str(tag["value"])
    return None


def vm_token(vm: dict[str, Any]) -> str | None:
    """The session token of a ``listVirtualMachines`` item: from its tag, else its name, else ``None``."""
    session_id = tagged_session(vm)
    if session_id is not None:
        return session_token(session_id)
    match = _VM_NAME.match(vm.get("name") or "")
    return match["token"] if match else None


def vm_record(vm: dict[str, Any]) -> dict[str, Any]:
    """What a session keeps of a VM: id, name, state, address, template and zone."""
    nics = vm.get("nic") or []
    return {
        "id": vm["id"],
        "name": vm.get("name"),
        "state": vm.get("state"),
        "address": nics[0].get("ipaddress") if nics else None,
        "template": vm.get("templatename"),
        "zone": vm.get("zonename"),
    }


async def session_vms(hook: CloudStackAsyncHook, session_id: str | None = None) -> list[dict[str, Any]]:
    """The VMs of one session (of every session when ``session_id`` is ``None``) in the hook's region.

    Lists every VM of the account (one paged call) and keeps those the tag or the name ties to a
    session, so an untagged VM left by a killed worker is found too. Expunging VMs are left out.

    :param hook: the region.
    :param session_id: the session, or ``None`` for all.
    """
    wanted = None if session_id is None else session_token(session_id)
    vms = await hook.list("listVirtualMachines", listall=True)
    return [
        vm
        for vm in vms
        if vm.get("state") not in GONE_STATES
        and (token := vm_token(vm)) is not None
        and (wanted is None or token == wanted)
    ]
