"""The ``cloudstack`` connection type is known to Airflow, and its "Test" runs the hook for real.

Needs the project installed in the venv (``uv pip install -e . --no-deps -p .venv/bin/python``),
which registers the ``apache_airflow_provider`` entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from meca.cloudstack.hook import CloudStackHook

AIRFLOW = Path(sys.executable).with_name("airflow")


def test_providers_manager_knows_cloudstack() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    info = ProvidersManagerTaskRuntime().hooks["cloudstack"]
    assert info is not None
    assert info.hook_class_name == "meca.cloudstack.hook.CloudStackHook"
    assert info.connection_id_attribute_name == "cloudstack_conn_id"
    assert info.package_name == "meca-mclouds-pipelines"
    assert info.connection_testable
    behaviour = ProvidersManager().field_behaviours["cloudstack"]
    assert behaviour["relabeling"]["password"] == "Secret key"
    assert "extra" in behaviour["placeholders"]


def test_connection_test_through_airflow_models(connect, monkeypatch) -> None:
    """What POST /api/v2/connections/test does: a Connection from the form, its URI in the env, test."""
    from airflow.models.connection import Connection
    from airflow.sdk.definitions.connection import Connection as SdkConnection

    stored = SdkConnection.get(connect("busy"))
    form = Connection(
        conn_id="transient_cloudstack_test",
        conn_type=stored.conn_type,
        host=stored.host,
        login=stored.login,
        password=stored.password,
        extra=stored.extra,
    )
    monkeypatch.setenv("AIRFLOW_CONN_TRANSIENT_CLOUDSTACK_TEST", form.get_uri())
    assert isinstance(form.get_hook(), CloudStackHook)
    assert form.test_connection() == (True, "Connected to region busy: 1 zone(s)")

    form.password = "wrong-secret-key"
    monkeypatch.setenv("AIRFLOW_CONN_TRANSIENT_CLOUDSTACK_TEST", form.get_uri())
    ok, message = form.test_connection()
    assert not ok
    assert "HTTP 401" in message


def test_airflow_connections_test_cli(connect) -> None:
    conn_id = connect("busy")
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    done = subprocess.run(
        [str(AIRFLOW), "connections", "test", conn_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Connection success!" in done.stdout
