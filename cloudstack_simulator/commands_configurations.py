"""Global settings commands: ``listConfigurations`` and ``updateConfiguration``."""

from __future__ import annotations

from typing import Any

from cloudstack_simulator.configurations import KEYS
from cloudstack_simulator.errors import ApiError
from cloudstack_simulator.params import list_answer, require
from cloudstack_simulator.state import RegionState

Params = dict[str, str]


def list_configurations(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``listConfigurations`` (admin), sorted by name, with paging.

    ``name`` is matched as CloudStack's ``LIKE %name%``, ``keyword`` likewise over name,
    description, category, component and value, ``category`` exactly (ignoring case).
    """
    settings = state.spec.configurations
    name = params.get("name", "").lower()
    keyword = params.get("keyword", "").lower()
    category = params.get("category", "").lower()
    out = []
    for key_name in sorted(KEYS):
        item = settings.response(key_name)
        if name and name not in key_name.lower():
            continue
        if category and category != item["category"].lower():
            continue
        searched = (key_name, item["description"], item["category"], item["component"], item["value"])
        if keyword and not any(keyword in str(text).lower() for text in searched):
            continue
        out.append(item)
    return list_answer(command, params, "configuration", out)


def update_configuration(state: RegionState, command: str, params: Params) -> dict[str, Any]:
    """``updateConfiguration`` (admin, synchronous): ``{"configuration": {...}}`` with the new value.

    :raises ApiError: 431 for an unknown name or a value CloudStack refuses (thresholds: 0..1).
    """
    name = require(command, params, "name")
    if name not in KEYS:
        raise ApiError(431, f"Config parameter with name {name} doesn't exist", 4350)
    value = require(command, params, "value")
    try:
        state.spec.configurations.update({name: value})
    except ValueError as error:
        raise ApiError(431, str(error), 4350) from None
    return {"configuration": state.spec.configurations.response(name)}
