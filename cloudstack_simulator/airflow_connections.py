"""Airflow Connections and the ``meca_regions`` Variable that point Airflow at a running simulator.

The simulator writes an endpoints file (``endpoints["regions"]`` is a list of regions with their
endpoint URL and keys); these helpers turn it into what the ``meca`` package reads: one
``cloudstack`` Connection per region and the ``meca_regions`` Variable listing their ids.
"""

from __future__ import annotations

import json
import re
from typing import Any

CONN_TYPE = "cloudstack"
CONN_ID_PREFIX = "cloudstack_"
REGIONS_VARIABLE = "meca_regions"
DEFAULT_TIMEOUT_S = 10.0


def conn_id_for(region_name: str) -> str:
    """The Connection id of a region: ``cloudstack_`` + its name, lower-cased, non-alphanumerics → ``_``.

    :param region_name: the region's name, e.g. ``"Marrakech-1"``.
    :return: e.g. ``"cloudstack_marrakech_1"``.
    :raises ValueError: when the name has no letter or digit at all.
    """
    slug = re.sub(r"[^a-z0-9]", "_", region_name.lower())
    if not slug.strip("_"):
        raise ValueError(f"region name {region_name!r} has no letter or digit to build a connection id from")
    return CONN_ID_PREFIX + slug


def connections_from_endpoints(
    endpoints: dict[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, dict[str, Any]]:
    """One Airflow Connection (as the JSON mapping Airflow accepts) per simulated region.

    :param endpoints: the simulator's endpoints mapping; only ``endpoints["regions"]`` is read.
    :param timeout_s: the HTTP timeout the hook uses for each API call.
    :return: ``{conn_id: {"conn_type", "host", "login", "password", "extra"}}`` in region order.
    :raises ValueError: when two regions map to the same connection id.
    """
    out: dict[str, dict[str, Any]] = {}
    for region in endpoints["regions"]:
        conn_id = conn_id_for(region["name"])
        if conn_id in out:
            raise ValueError(
                f"regions {out[conn_id]['extra']['region_name']!r} and {region['name']!r} "
                f"both map to connection id {conn_id!r}"
            )
        out[conn_id] = {
            "conn_type": CONN_TYPE,
            "host": region["endpoint"],
            "login": region["api_key"],
            "password": region["secret_key"],
            "extra": {
                "region_name": region["name"],
                "region_id": region["id"],
                "display_name": region["display_name"],
                "location": region["location"],
                "colour": region["colour"],
                "verify": True,
                "timeout": timeout_s,
            },
        }
    return out


def region_variable(endpoints: dict[str, Any]) -> list[str]:
    """The value of the ``meca_regions`` Variable: the connection ids of every region, in order.

    :param endpoints: the simulator's endpoints mapping.
    """
    return [conn_id_for(region["name"]) for region in endpoints["regions"]]


def airflow_env(endpoints: dict[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, str]:
    """Environment variables that define the Connections and the Variable for any Airflow process.

    :param endpoints: the simulator's endpoints mapping.
    :param timeout_s: the HTTP timeout the hook uses for each API call.
    :return: ``AIRFLOW_CONN_<ID>`` (JSON) for each region and ``AIRFLOW_VAR_MECA_REGIONS``.
    """
    env = {
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
        for conn_id, conn in connections_from_endpoints(endpoints, timeout_s=timeout_s).items()
    }
    env[f"AIRFLOW_VAR_{REGIONS_VARIABLE.upper()}"] = json.dumps(region_variable(endpoints))
    return env
