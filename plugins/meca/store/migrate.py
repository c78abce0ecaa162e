"""Apply the MECA data database's Alembic migrations (run by the deployment, never at DAG parse time).

``python -m meca.store.migrate [--conn-id meca_data | --url URL] [upgrade|current|downgrade REV]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine

from meca.store.engine import DEFAULT_CONN_ID, get_server_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration for our migrations, bound to ``engine`` (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` up to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database of ``engine`` down to ``revision``."""
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database of ``engine`` is at, ``None`` when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m meca.store.migrate", description=__doc__)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--conn-id", default=DEFAULT_CONN_ID, help="Airflow Connection of the database")
    target.add_argument("--url", help="SQLAlchemy URL instead of a Connection")
    parser.add_argument("action", nargs="?", default="upgrade", choices=["upgrade", "current", "downgrade"])
    parser.add_argument("revision", nargs="?", help="target revision (default head; required to downgrade)")
    args = parser.parse_args(argv)
    engine = create_engine(args.url) if args.url else get_server_engine(args.conn_id)
    if args.action == "current":
        print(current_revision(engine) or "not migrated")
    elif args.action == "upgrade":
        upgrade(engine, args.revision or "head")
        print(f"MECA data database at {current_revision(engine)}")
    else:
        if not args.revision:
            parser.error("downgrade needs a revision (e.g. base)")
        downgrade(engine, args.revision)
        print(f"MECA data database at {current_revision(engine) or 'base'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
