"""The region registry: which CloudStack regions exist, where they are, and how far apart.

A region is one Airflow Connection of type ``cloudstack`` (see :mod:`meca.cloudstack.connection`);
the Airflow Variable ``meca_regions`` lists their connection ids. Both are read when called, never at
import time, so a DAG file may import this module freely.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseHook, Variable

REGIONS_VARIABLE = "meca_regions"
DEFAULT_COLOUR = "#6c757d"
EARTH_RADIUS_KM = 6371.0088
_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


class InvalidRegionConnection(ValueError):
    """A region Connection whose ``extra`` does not describe a region; the message names the connection."""


@dataclass(frozen=True)
class Region:
    """One CloudStack region of the federation, as described by its Connection (no secret in here).

    :param conn_id: the Airflow Connection id.
    :param name: the CloudStack region name, e.g. ``MECA-PolITO``.
    :param region_id: the CloudStack region id (an integer, as ``listRegions`` returns it).
    :param display_name: the name shown to people.
    :param city: the city of the data centre.
    :param country: the country of the data centre.
    :param lat: latitude in degrees.
    :param lon: longitude in degrees.
    :param colour: the CSS colour used for the region in charts and maps.
    """

    conn_id: str
    name: str
    region_id: int
    display_name: str
    city: str
    country: str
    lat: float
    lon: float
    colour: str

    @classmethod
    def from_extra(cls, conn_id: str, extra: dict[str, Any]) -> Region:
        """Build a region from a Connection's ``extra`` mapping, validating every field.

        :param conn_id: the Connection id, used in error messages.
        :param extra: the decoded ``extra`` JSON of the Connection.
        :raises InvalidRegionConnection: when a required key is missing or a value has the wrong type.
        """

        def fail(problem: str) -> InvalidRegionConnection:
            return InvalidRegionConnection(f"connection {conn_id!r}: extra {problem}")

        name = extra.get("region_name")
        if not isinstance(name, str) or not name.strip():
            raise fail("needs 'region_name', a non-empty string")
        region_id = extra.get("region_id")
        if isinstance(region_id, bool) or not isinstance(region_id, int):
            raise fail(f"needs 'region_id', an integer (got {region_id!r})")
        location = extra.get("location")
        if not isinstance(location, dict):
            raise fail("needs 'location', an object with 'lat' and 'lon' (and optionally 'city', 'country')")
        lat = _coordinate(location.get("lat"), 90.0)
        lon = _coordinate(location.get("lon"), 180.0)
        if lat is None or lon is None:
            raise fail(
                f"'location' needs 'lat' in [-90, 90] and 'lon' in [-180, 180] "
                f"(got lat={location.get('lat')!r}, lon={location.get('lon')!r})"
            )
        colour = extra.get("colour", DEFAULT_COLOUR)
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            raise fail(f"'colour' must be a #rgb or #rrggbb string (got {colour!r})")
        texts = {
            "display_name": extra.get("display_name", name),
            "city": location.get("city", ""),
            "country": location.get("country", ""),
        }
        for key, value in texts.items():
            if not isinstance(value, str):
                raise fail(f"'{key}' must be a string (got {value!r})")
        return cls(
            conn_id=conn_id,
            name=name,
            region_id=region_id,
            display_name=texts["display_name"],
            city=texts["city"],
            country=texts["country"],
            lat=lat,
            lon=lon,
            colour=colour,
        )


def _coordinate(value: Any, limit: float) -> float | None:
    """A latitude or longitude as a float, or ``None`` when it is not a number within ``±limit``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if -limit <= value <= limit else None


def region_conn_ids() -> list[str]:
    """The connection ids of every region, read from the Airflow Variable ``meca_regions`` now.

    :raises ValueError: when the Variable is not set, or not a JSON list of non-empty, distinct strings.
    """
    raw = Variable.get(REGIONS_VARIABLE, default=None)
    if raw is None:
        raise ValueError(f"Variable {REGIONS_VARIABLE!r} is not set; it must list the region connection ids")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"Variable {REGIONS_VARIABLE!r} is not JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"Variable {REGIONS_VARIABLE!r} must be a JSON list of connection ids, got {raw!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"Variable {REGIONS_VARIABLE!r} lists a connection id twice: {raw!r}")
    return value


def get_region(conn_id: str) -> Region:
    """The region described by a Connection, read from Airflow now (no CloudStack call).

    :param conn_id: the Connection id, e.g. ``cloudstack_meca_polito``.
    :raises InvalidRegionConnection: when the Connection's ``extra`` does not describe a region.
    """
    return Region.from_extra(conn_id, BaseHook.get_connection(conn_id).extra_dejson)


def distance_km(a: Region, b: Region) -> float:
    """The great-circle distance between two regions, in kilometres (haversine formula).

    :param a: one region.
    :param b: another region.
    """
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))
