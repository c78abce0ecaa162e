"""The MECA data database as the api-server process reaches it.

The dashboard runs inside Airflow's api-server, which is not a task: the Task SDK's
``BaseHook.get_connection`` is for workers. Server side, Airflow 3.3 resolves a Connection with
:meth:`airflow.models.connection.Connection.get_connection_from_secrets`, which reads the configured
secrets backends, then ``AIRFLOW_CONN_<ID>`` environment variables, then the metadata database.
The environment variable ``MECA_DATA_DB_URL`` (a SQLAlchemy URL) overrides the Connection.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from meca.store.engine import DEFAULT_CONN_ID, engine_for_url, url_from_connection

URL_ENV = "MECA_DATA_DB_URL"


class DataDatabaseUnavailable(RuntimeError):
    """The dashboard cannot reach the MECA data database; the message says what to configure."""


def data_engine() -> Engine:
    """The engine of the MECA data database: ``MECA_DATA_DB_URL`` if set, else Connection ``meca_data``.

    :raises DataDatabaseUnavailable: when neither is defined or the Connection is unusable.
    """
    url = os.environ.get(URL_ENV)
    if url:
        return engine_for_url(url)
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        connection = Connection.get_connection_from_secrets(DEFAULT_CONN_ID)
        return engine_for_url(url_from_connection(connection).render_as_string(hide_password=False))
    except AirflowNotFoundException:
        raise DataDatabaseUnavailable(
            f"the MECA data database is not configured: define the Airflow Connection {DEFAULT_CONN_ID!r} "
            f"(type sqlite or postgres) or set {URL_ENV}"
        ) from None
    except ValueError as exc:
        raise DataDatabaseUnavailable(str(exc)) from None
