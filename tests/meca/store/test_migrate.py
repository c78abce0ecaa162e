from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select

from meca.cloudstack.capacity import CAPACITY_TYPES
from meca.store import models
from meca.store.migrate import alembic_config, current_revision, downgrade, main, upgrade


def test_migrations_create_exactly_the_models(data_engine: Engine) -> None:
    with data_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, models.Base.metadata)
    assert differences == []
    assert current_revision(data_engine) is not None


def test_capacity_types_seeded_as_in_code(data_engine: Engine) -> None:
    with data_engine.connect() as connection:
        rows = connection.execute(select(models.CapacityType.__table__)).all()
    assert {(r.type, r.name, r.label, r.unit) for r in rows} == {
        (c.type, c.name, c.label, c.unit) for c in CAPACITY_TYPES
    }


def test_downgrade_to_base_and_up_again(data_engine: Engine) -> None:
    downgrade(data_engine, "base")
    assert current_revision(data_engine) is None
    assert "capacity_samples" not in inspect(data_engine).get_table_names()
    upgrade(data_engine)
    assert "capacity_samples" in inspect(data_engine).get_table_names()


def test_command_line_upgrade_and_current(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["--url", url, "current"]) == 0
    assert capsys.readouterr().out.strip() == "not migrated"
    assert main(["--url", url, "upgrade"]) == 0
    assert main(["--url", url, "current"]) == 0
    head = ScriptDirectory.from_config(alembic_config(create_engine(url))).get_current_head()
    assert capsys.readouterr().out.strip().endswith(head)
