"""The template status page inside Airflow's api-server: the matrix and its JSON twin, authenticated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from meca.mgtr import status
from tests.meca.web.conftest import Api, region
from tests.meca.web.html_nodes import parse

PREFIX = "/meca/templates"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PATH_A, PATH_B = "/MGTR/linux/alpha", "/MGTR/linux/beta"


@pytest.fixture
def replicated(data_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """alpha Ready in alpha and beta; beta Ready in alpha, failed in beta after an earlier success."""
    monkeypatch.setenv("MECA_DATA_DB_URL", data_engine.url.render_as_string(hide_password=False))
    for name in ("alpha", "beta"):
        status.record(data_engine, region(name), PATH_A, "01.00", status.READY, NOW, checksum="a" * 64)
    status.record(data_engine, region("alpha"), PATH_B, "02.00", status.READY, NOW, checksum="b" * 64)
    status.record(data_engine, region("beta"), PATH_B, "01.00", status.READY, NOW - timedelta(days=1))
    status.record(
        data_engine,
        region("beta"),
        PATH_B,
        "02.00",
        status.ERROR,
        NOW,
        error="Failed post download script: I/O",
    )
    return data_engine


def test_matrix_shows_version_checksum_state_verification_and_error(airflow_api: Api, replicated) -> None:
    response = airflow_api.client.get(PREFIX + "/", headers=airflow_api.auth)

    assert response.status_code == 200
    page = parse(response.text)
    cells = {(c.attrs["data-template"], c.attrs["data-region"]): c for c in page.find_all(cls="cell")}
    assert {k: c.attrs["data-state"] for k, c in cells.items()} == {
        (PATH_A, "alpha"): "Ready",
        (PATH_A, "beta"): "Ready",
        (PATH_B, "alpha"): "Ready",
        (PATH_B, "beta"): "Error",
    }
    assert "version 02.00" in cells[(PATH_B, "alpha")].text
    assert "bbbbbbbbbbbb" in cells[(PATH_B, "alpha")].text
    failed = cells[(PATH_B, "beta")].text
    assert "version 02.00" in failed
    assert "Failed post download script: I/O" in failed
    assert "verified 2026-11-21 03:00 UTC" in failed


def test_json_rows_and_authentication(airflow_api: Api, replicated) -> None:
    rows = airflow_api.client.get(PREFIX + "/api/status", headers=airflow_api.auth).json()

    failed = next(r for r in rows if r["template_path"] == PATH_B and r["region"] == "beta")
    assert failed["state"] == "Error"
    assert failed["checksum"] is None
    assert failed["last_verified_at"] == (NOW - timedelta(days=1)).isoformat()
    assert len(rows) == 4
    assert airflow_api.client.get(PREFIX + "/api/status").status_code == 401
    assert airflow_api.client.get(PREFIX + "/").status_code == 303


def test_an_empty_table_says_so(
    airflow_api: Api, data_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MECA_DATA_DB_URL", data_engine.url.render_as_string(hide_password=False))

    page = parse(airflow_api.client.get(PREFIX + "/", headers=airflow_api.auth).text)

    assert "DAG fills this table" in page.one(id="empty").text
