"""The Connections and Variable derived from a simulator's endpoints, read back by real Airflow."""

from __future__ import annotations

from typing import Any

import pytest

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for, connections_from_endpoints


def endpoints(*names: str) -> dict[str, Any]:
    return {
        "regions": [
            {
                "name": name,
                "id": index,
                "endpoint": f"http://127.0.0.1:{9000 + index}/client/api",
                "api_key": f"key-{index}",
                "secret_key": f"secret-{index}",
                "display_name": f"{name} DC",
                "location": {"city": "Torino", "country": "IT", "lat": 45.07, "lon": 7.69},
                "colour": "#1f77b4",
                "zones": [f"{name}-z1"],
            }
            for index, name in enumerate(names, start=1)
        ]
    }


@pytest.mark.parametrize(
    ("name", "conn_id"),
    [
        ("alpha", "cloudstack_alpha"),
        ("MECA-PolITO", "cloudstack_meca_polito"),
        ("Rabat 2", "cloudstack_rabat_2"),
    ],
)
def test_conn_id_is_the_lowercased_name_with_underscores(name: str, conn_id: str) -> None:
    assert conn_id_for(name) == conn_id


def test_a_name_without_letters_or_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="no letter or digit"):
        conn_id_for("--")


def test_two_regions_with_the_same_conn_id_are_refused() -> None:
    with pytest.raises(ValueError, match="both map to connection id 'cloudstack_meca_a'"):
        connections_from_endpoints(endpoints("MECA-A", "meca a"))


def test_airflow_reads_the_regions_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from meca.cloudstack.hook import CloudStackHook
    from meca.regions import region_conn_ids

    for key, value in airflow_env(endpoints("MECA-PolITO", "Rabat"), timeout_s=7).items():
        monkeypatch.setenv(key, value)

    assert region_conn_ids() == ["cloudstack_meca_polito", "cloudstack_rabat"]
    settings = CloudStackHook(cloudstack_conn_id="cloudstack_rabat").settings
    assert settings.endpoint == "http://127.0.0.1:9002/client/api"
    assert settings.timeout == 7
    assert settings.region.name == "Rabat"
    assert settings.region.region_id == 2
    assert settings.region.display_name == "Rabat DC"
    assert (settings.region.city, settings.region.lat) == ("Torino", 45.07)
