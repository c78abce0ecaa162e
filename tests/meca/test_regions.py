"""The region registry, read through real Airflow lookups of env-var Variables and Connections."""

from __future__ import annotations

import json
from typing import Any

import pytest

from meca.regions import InvalidRegionConnection, Region, distance_km, get_region, region_conn_ids


def _set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict[str, Any]) -> None:
    conn = {"conn_type": "cloudstack", "host": "https://cloud.example.org/client/api", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


TURIN = {
    "region_name": "MECA-PolITO",
    "region_id": 1,
    "display_name": "Politecnico di Torino",
    "location": {"city": "Turin", "country": "IT", "lat": 45.0625, "lon": 7.6625},
    "colour": "#1f77b4",
}


def test_region_conn_ids_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_MECA_REGIONS", json.dumps(["cloudstack_a", "cloudstack_b"]))
    assert region_conn_ids() == ["cloudstack_a", "cloudstack_b"]
    monkeypatch.setenv("AIRFLOW_VAR_MECA_REGIONS", json.dumps(["cloudstack_c"]))
    assert region_conn_ids() == ["cloudstack_c"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set"),
        ("not json", "is not JSON"),
        ('{"a": 1}', "must be a JSON list of connection ids"),
        ('["a", ""]', "must be a JSON list of connection ids"),
        ('["a", "a"]', "lists a connection id twice"),
    ],
)
def test_region_conn_ids_refuses_bad_variable(
    monkeypatch: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    if value is None:
        monkeypatch.delenv("AIRFLOW_VAR_MECA_REGIONS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_MECA_REGIONS", value)
    with pytest.raises(ValueError, match=problem):
        region_conn_ids()


def test_get_region_reads_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(monkeypatch, "cloudstack_meca_polito", TURIN)
    assert get_region("cloudstack_meca_polito") == Region(
        conn_id="cloudstack_meca_polito",
        name="MECA-PolITO",
        region_id=1,
        display_name="Politecnico di Torino",
        city="Turin",
        country="IT",
        lat=45.0625,
        lon=7.6625,
        colour="#1f77b4",
    )


def test_get_region_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(
        monkeypatch, "cloudstack_x", {"region_name": "X", "region_id": 9, "location": {"lat": 0, "lon": 0}}
    )
    region = get_region("cloudstack_x")
    assert (region.display_name, region.city, region.country, region.colour) == ("X", "", "", "#6c757d")


def test_get_region_names_the_connection_on_bad_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_connection(monkeypatch, "cloudstack_bad", {**TURIN, "location": "Turin"})
    with pytest.raises(
        InvalidRegionConnection, match=r"^connection 'cloudstack_bad': extra needs 'location'"
    ):
        get_region("cloudstack_bad")


def _at(lat: float, lon: float) -> Region:
    return Region("c", "n", 1, "n", "", "", lat, lon, "#000")


def test_distance_km() -> None:
    turin, budapest = _at(45.0625, 7.6625), _at(47.4979, 19.0402)
    # Reference figure: great-circle Turin-Budapest ~ 915 km.
    assert distance_km(turin, budapest) == pytest.approx(915, abs=10)
    assert distance_km(turin, budapest) == pytest.approx(distance_km(budapest, turin))
    assert distance_km(turin, turin) == 0.0
    # A quarter of the equator.
    assert distance_km(_at(0, 0), _at(0, 90)) == pytest.approx(10007.5, abs=1)
    assert distance_km(_at(90, 0), _at(-90, 0)) == pytest.approx(20015.1, abs=1)
