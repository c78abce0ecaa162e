"""Open the MECA data database named by an Airflow Connection.

The Connection (default id ``meca_data``) is of type ``sqlite`` (``host`` is the database file) or
``postgres`` (host, port, login, password, and the database name in ``schema``). Engines are cached
per URL within a process.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_CONN_ID = "meca_data"


class InvalidDataConnection(ValueError):
    """The MECA data Connection cannot be turned into a database URL; the message names it."""


def url_from_connection(conn: Connection) -> URL:
    """The SQLAlchemy URL of a ``sqlite`` or ``postgres`` Connection.

    :raises InvalidDataConnection: for another type or a missing field.
    """
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        if not conn.host:
            raise InvalidDataConnection(f"connection {conn.conn_id}: sqlite needs the database file in host")
        return make_url(f"sqlite:///{conn.host}")
    if conn_type in {"postgres", "postgresql"}:
        if not conn.host or not conn.schema:
            raise InvalidDataConnection(
                f"connection {conn.conn_id}: postgres needs host and the database name in schema"
            )
        return URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host,
            port=conn.port or None,
            database=conn.schema,
        )
    raise InvalidDataConnection(
        f"connection {conn.conn_id}: type {conn.conn_type!r} is not supported (use sqlite or postgres)"
    )


def connection_fields(url: URL) -> dict[str, Any]:
    """The Airflow Connection (its JSON form) naming the database at ``url``.

    The inverse of :func:`url_from_connection`, for ``AIRFLOW_CONN_MECA_DATA`` or
    ``airflow connections import``.
    """
    if url.get_backend_name() == "sqlite":
        return {"conn_type": "sqlite", "host": url.database}
    fields = {"conn_type": "postgres", "host": url.host, "port": url.port, "schema": url.database}
    fields.update(login=url.username, password=url.password)
    return {key: value for key, value in fields.items() if value is not None}


def _enable_sqlite_foreign_keys(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@functools.cache
def engine_for_url(url: str) -> Engine:
    """A pooled engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def get_engine(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The engine of the MECA data database named by Connection ``conn_id``, from inside a task."""
    from airflow.sdk import BaseHook

    url = url_from_connection(BaseHook.get_connection(conn_id))
    return engine_for_url(url.render_as_string(hide_password=False))


def get_server_engine(conn_id: str = DEFAULT_CONN_ID) -> Engine:
    """The same engine from a process that is not a task (the api-server, a deployment command).

    Airflow resolves the Connection server side: secrets backends, then ``AIRFLOW_CONN_<ID>``, then
    the metadata database.

    :raises airflow.exceptions.AirflowNotFoundException: when the Connection is not defined.
    """
    from airflow.models.connection import Connection

    url = url_from_connection(Connection.get_connection_from_secrets(conn_id))
    return engine_for_url(url.render_as_string(hide_password=False))


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
