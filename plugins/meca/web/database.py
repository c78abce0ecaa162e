"""The MECA data database as the api-server process reaches it.

The dashboard runs inside Airflow's api-server, which is not a task, so it resolves the Connection
server side (:func:`meca.store.engine.get_server_engine`). The environment variable
``MECA_DATA_DB_URL`` (a SQLAlchemy URL) overrides the Connection.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from meca.store.engine import DEFAULT_CONN_ID, engine_for_url, get_server_engine

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

    try:
        return get_server_engine(DEFAULT_CONN_ID)
    except AirflowNotFoundException:
        raise DataDatabaseUnavailable(
            f"the MECA data database is not configured: define the Airflow Connection {DEFAULT_CONN_ID!r} "
            f"(type sqlite or postgres) or set {URL_ENV}"
        ) from None
    except ValueError as exc:
        raise DataDatabaseUnavailable(str(exc)) from None
