"""The MECA data database: historical resource tables, reached through an Airflow Connection.

It is not Airflow's metadata database. :mod:`meca.store.models` declares the tables,
:mod:`meca.store.engine` opens the database named by a Connection, and
:mod:`meca.store.migrate` applies the Alembic migrations (run by the deployment, never by DAG parsing).
"""

from __future__ import annotations
