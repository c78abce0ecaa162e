"""The api-server finds the data DB through the ``meca_data`` Connection, or ``MECA_DATA_DB_URL``."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from tests.meca.web.conftest import Api, Federation


def connection_json(engine: Engine) -> str:
    """The ``AIRFLOW_CONN_MECA_DATA`` value (Airflow's JSON form) that names ``engine``'s database."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": url.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": url.host,
            "port": url.port,
            "login": url.username,
            "password": url.password,
            "schema": url.database,
        }
    )


def test_the_meca_data_connection_is_read_server_side(
    airflow_api: Api, federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MECA_DATA_DB_URL")
    monkeypatch.setenv("AIRFLOW_CONN_MECA_DATA", connection_json(federation.engine))

    body = airflow_api.get("/api/summary").json()

    assert [r["name"] for r in body["regions"]] == ["alpha", "beta", "gamma", "delta"]


def test_without_a_data_database_the_dashboard_says_what_to_configure(
    airflow_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MECA_DATA_DB_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MECA_DATA", raising=False)

    response = airflow_api.get("/api/summary")

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "'meca_data'" in detail
    assert "MECA_DATA_DB_URL" in detail


def test_an_unmigrated_data_database_is_reported(
    airflow_api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("MECA_DATA_DB_URL", f"sqlite:///{tmp_path / 'empty.db'}")

    response = airflow_api.get("/")

    assert response.status_code == 503
    assert "python -m meca.store.migrate" in response.json()["detail"]
    assert "no such table" in response.json()["detail"]
