"""The recipes of ``docs/operations.md`` and the compose set-up, run for real where no Docker is needed.

- the bare-metal PostgreSQL and the SQLite backup/restore blocks, taken from the guide as written
  (only the database names are made unique), against the local PostgreSQL and a SQLite file;
- ``deploy/postgres/10-meca-data-database.sh`` (the compose postgres init script) with real ``psql``;
- the ``airflow-init`` steps of ``docker-compose.yaml``, taken from the file, against PostgreSQL with
  the FAB auth manager: twice, since every upgrade runs them again.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, make_url, text

from meca.store.migrate import alembic_config, current_revision, upgrade
from tests.test_compose import COMPOSE_FILE, _env_example, _interpolate

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "operations.md"
INIT_SCRIPT = REPO / "deploy" / "postgres" / "10-meca-data-database.sh"
RESTORE_OPTIONS = ("--no-owner", "--single-transaction", "--exit-on-error")


def _code_blocks(markdown: str) -> list[str]:
    """The fenced ``bash`` blocks of a Markdown text, dedented (blocks inside list items are indented)."""
    return [
        textwrap.dedent(block)
        for block in re.findall(r"^[ \t]*```bash\n(.*?)^[ \t]*```", markdown, re.M | re.S)
    ]


def _block(containing: str, *also: str) -> str:
    """The one fenced bash block of the guide that contains every given text."""
    found = [
        block for block in _code_blocks(GUIDE.read_text()) if all(t in block for t in (containing, *also))
    ]
    assert len(found) == 1, f"{len(found)} blocks of docs/operations.md contain {(containing, *also)!r}"
    return found[0]


def _bash(
    script: str, cwd: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``script`` in ``bash`` stopping at the first failing command, as an operator stops at an error."""
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, sorted: two databases with the same snapshot hold the same data."""
    with engine.connect() as connection:
        return {
            table: sorted(
                tuple(map(str, row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))
            )
            for table in sorted(inspect(connection).get_table_names())
        }


def _fill(engine: Engine, regions: int) -> None:
    """A few regions and alerts: enough to tell two states of a database apart."""
    now = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    with engine.begin() as connection:
        for number in range(1, regions + 1):
            connection.execute(
                text(
                    "INSERT INTO regions (id, name, conn_id, display_name, updated_at) "
                    "VALUES (:id, :name, :conn_id, :name, :now)"
                ),
                {"id": number, "name": f"MECA-{number}", "conn_id": f"cloudstack_meca_{number}", "now": now},
            )
            connection.execute(
                text(
                    "INSERT INTO alerts (rule, region_id, severity, message, marks_full, opened_at, "
                    "last_seen_at) VALUES ('memory', :id, 'warning', 'memory above 70 %', false, :now, :now)"
                ),
                {"id": number, "now": now},
            )


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config(create_engine("sqlite://"))).get_current_head()


def test_the_guide_s_restores_are_all_or_nothing_and_its_dumps_custom_format():
    guide = GUIDE.read_text()
    restores = [line for line in guide.splitlines() if "pg_restore " in line and "--list" not in line]
    dumps = [line for line in guide.splitlines() if "pg_dump " in line]
    assert len(restores) == 2, restores
    assert len(dumps) == 3, dumps
    for line in restores:
        assert all(option in line for option in RESTORE_OPTIONS), line
    assert all("--format=custom" in line for line in dumps), dumps


# ------------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.fixture
def postgres_admin(postgres_server_url: str) -> Iterator[tuple[Engine, dict[str, str]]]:
    """An AUTOCOMMIT engine on the server's ``postgres`` database and the libpq environment to reach it."""
    url = make_url(postgres_server_url)
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    env = {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": url.username or "postgres",
    }
    if url.password:
        env["PGPASSWORD"] = url.password
    yield engine, env
    engine.dispose()


@pytest.fixture
def meca_owner(postgres_admin: tuple[Engine, dict[str, str]]) -> Iterator[str]:
    """A unique name for the MECA role and database; everything named after it is dropped at the end."""
    admin, _ = postgres_admin
    name = f"meca_ops_{uuid.uuid4().hex[:10]}"
    yield name
    with admin.connect() as connection:
        for database in (name, f"{name}_restore", f"{name}_before_restore"):
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


def _process_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "AIRFLOW"))}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env


def _run_init_script(
    env: dict[str, str], role: str, password: str | None
) -> subprocess.CompletedProcess[str]:
    extra = {"POSTGRES_USER": env["PGUSER"], "POSTGRES_DB": "postgres", "MECA_DATA_DB_USER": role}
    extra["MECA_DATA_DB_NAME"] = role
    if password is not None:
        extra["MECA_DATA_DB_PASSWORD"] = password
    return subprocess.run(
        ["bash", str(INIT_SCRIPT)],
        env=_process_env(**env, **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_the_postgres_init_script_creates_the_meca_database_and_can_run_again(postgres_admin, meca_owner):
    admin, env = postgres_admin
    hashes = []
    for password in (secrets.token_urlsafe(16), secrets.token_urlsafe(16)):
        # On the first start of the volume, then by hand with a new password (docs/operations.md).
        result = _run_init_script(env, meca_owner, password)
        assert result.returncode == 0, result.stderr
        assert password not in result.stdout + result.stderr
        with admin.connect() as connection:
            hashes.append(
                connection.execute(
                    text("SELECT rolpassword FROM pg_authid WHERE rolname = :n"), {"n": meca_owner}
                ).scalar()
            )
    assert hashes[0] != hashes[1], "running it again sets the new password"
    with admin.connect() as connection:
        owner = connection.execute(
            text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"), {"n": meca_owner}
        ).scalar()
        stored = connection.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :n AND rolcanlogin"), {"n": meca_owner}
        ).scalar()
    assert owner == meca_owner
    assert stored.startswith("SCRAM-SHA-256$")
    # The role can migrate its database: the tables are its own.
    url = make_url(
        f"postgresql+psycopg2://{meca_owner}:{password}@{env['PGHOST']}:{env['PGPORT']}/{meca_owner}"
    )
    engine = create_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            owners = set(
                connection.execute(
                    text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
    finally:
        engine.dispose()
    assert owners == {meca_owner}


@pytest.mark.postgres
def test_the_postgres_init_script_without_password_creates_nothing(postgres_admin, meca_owner):
    admin, env = postgres_admin
    result = _run_init_script(env, meca_owner, None)
    assert result.returncode == 1
    assert "MECA_DATA_DB_PASSWORD is not set; nothing was created" in result.stderr
    with admin.connect() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM pg_roles WHERE rolname = :n"), {"n": meca_owner}
            ).scalar()
            == 0
        )
        assert (
            connection.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": meca_owner}
            ).scalar()
            == 0
        )


def _for_database(block: str, name: str) -> str:
    """A guide block with ``meca`` (role and database) renamed, and its example server settings dropped."""
    lines = [line for line in block.splitlines() if not line.startswith("export PGHOST=")]
    return re.sub(
        r"\bmeca(_restore|_before_restore)?\b", lambda m: name + (m.group(1) or ""), "\n".join(lines)
    )


def _owned_database(admin: Engine, env: dict[str, str], name: str) -> str:
    """Create the login role ``name`` and its own database ``name``; return the server's URL (no database)."""
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
    return f"postgresql+psycopg2://{env['PGUSER']}@{env['PGHOST']}:{env['PGPORT']}"


@pytest.mark.postgres
def test_the_postgresql_backup_and_restore_recipe(postgres_admin, meca_owner, tmp_path):
    admin, env = postgres_admin
    server = _owned_database(admin, env, meca_owner)
    source = create_engine(f"{server}/{meca_owner}")
    upgrade(source)
    _fill(source, regions=3)
    backed_up = _snapshot(source)
    source.dispose()

    backup = _for_database(_block("pg_dump --format=custom --file="), meca_owner)
    result = _bash(backup + '\nprintf %s "$BACKUP" > backup-name', tmp_path, _process_env(**env))
    assert result.returncode == 0, result.stderr
    dump = tmp_path / (tmp_path / "backup-name").read_text()
    assert dump.stat().st_size > 0

    changed = create_engine(f"{server}/{meca_owner}")
    with changed.begin() as connection:  # what happens after the backup, and is lost by the restore
        connection.execute(text("DELETE FROM alerts"))
    changed.dispose()
    restore = _for_database(_block("pg_restore --dbname=meca_restore"), meca_owner)
    result = _bash(restore, tmp_path, _process_env(**env, BACKUP=dump.name))
    assert result.returncode == 0, result.stderr

    restored = create_engine(f"{server}/{meca_owner}")
    before = create_engine(f"{server}/{meca_owner}_before_restore")
    try:
        assert _snapshot(restored) == backed_up
        assert len(backed_up["alerts"]) == 3
        assert _snapshot(before)["alerts"] == [], "the database as it was is kept under another name"
        assert current_revision(restored) == _head()
        with restored.connect() as connection:
            owners = set(
                connection.execute(
                    text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
        assert owners == {meca_owner}, "--role makes the restored tables the MECA role's"
    finally:
        restored.dispose()
        before.dispose()


@pytest.mark.postgres
def test_a_failed_restore_changes_nothing(postgres_admin, meca_owner, tmp_path):
    admin, env = postgres_admin
    server = _owned_database(admin, env, meca_owner)
    live = create_engine(f"{server}/{meca_owner}")
    upgrade(live)
    _fill(live, regions=20)
    state = _snapshot(live)
    live.dispose()
    # A backup cut short (a full disk, a copy interrupted): its table of contents (at the start) is
    # whole, so pg_restore creates every table before it reaches the missing end of the data.
    full = tmp_path / "full.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={full}", meca_owner],
        env=_process_env(**env),
        check=True,
        timeout=60,
    )
    data = full.read_bytes()
    (tmp_path / "cut.dump").write_bytes(data[:-200])

    restore = _for_database(_block("pg_restore --dbname=meca_restore"), meca_owner)
    result = _bash(restore, tmp_path, _process_env(**env, BACKUP="cut.dump"))

    assert result.returncode != 0
    assert "pg_restore" in result.stderr
    live = create_engine(f"{server}/{meca_owner}")
    half = create_engine(f"{server}/{meca_owner}_restore")
    try:
        assert _snapshot(live) == state, "the live database is untouched and keeps its name"
        assert _snapshot(half) == {}, "the failed restore left its new database empty"
    finally:
        live.dispose()
        half.dispose()


# ------------------------------------------------------------------------------------------------
# SQLite (the demo)


def test_the_sqlite_backup_and_restore_recipe(tmp_path):
    demo = tmp_path / ".run" / "demo"
    demo.mkdir(parents=True)
    database = demo / "meca-data.db"
    from meca.store.engine import engine_for_url

    live = engine_for_url(f"sqlite:///{database}")  # WAL, as the DAGs open it
    upgrade(live)
    _fill(live, regions=2)
    backed_up = _snapshot(live)

    backup = _block("sqlite3.connect(sys.argv[1]).backup(dst)")
    result = _bash(backup, tmp_path, _process_env())  # while the database is open (the demo runs)
    assert result.returncode == 0, result.stderr
    [copy] = tmp_path.glob("meca-data-*.db")

    with live.begin() as connection:
        connection.execute(text("DELETE FROM alerts"))
    assert _snapshot(live)["alerts"] == []
    wal = demo / "meca-data.db-wal"
    unflushed = wal.read_bytes()  # the DELETE, still in the write-ahead log
    live.dispose()  # the demo is stopped (scripts/demo --stop)
    wal.write_bytes(unflushed)  # as a demo killed with SIGKILL leaves it

    restore = "\n".join(
        line
        for line in _block('cp "$BACKUP" .run/demo/meca-data.db').splitlines()
        if not line.startswith(("scripts/demo", "BACKUP="))
    )
    result = _bash(restore, tmp_path, _process_env(BACKUP=copy.name))
    assert result.returncode == 0, result.stderr

    restored = create_engine(f"sqlite:///{database}")
    try:
        assert _snapshot(restored) == backed_up
        assert current_revision(restored) == _head()
    finally:
        restored.dispose()


# ------------------------------------------------------------------------------------------------
# airflow-init


def _init_script() -> str:
    """airflow-init's command from docker-compose.yaml, to run outside a container.

    The chown of the volumes is left out (the paths exist only in the image); ``/entrypoint`` (which
    waits for the database, then runs the command) is dropped, and the image's paths become the
    repository's.
    """
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    script = compose["services"]["airflow-init"]["command"][1].replace("$$", "$")
    kept = [line for line in script.splitlines() if not line.startswith("chown ")]
    return "\n".join(kept).replace("/entrypoint ", "").replace("/opt/meca/", f"{REPO}/")


@pytest.mark.postgres
def test_the_airflow_init_steps_set_up_both_databases_and_can_run_again(postgres_admin, meca_owner, tmp_path):
    admin, env = postgres_admin
    password = secrets.token_urlsafe(16)
    assert _run_init_script(env, meca_owner, password).returncode == 0
    metadata = f"{meca_owner}_airflow"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{metadata}"'))
    host = f"{env['PGHOST']}:{env['PGPORT']}"
    example = {name: value or secrets.token_urlsafe(16) for name, value in _env_example().items()}
    example["AIRFLOW_FERNET_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    compose_env = _interpolate(
        yaml.safe_load(COMPOSE_FILE.read_text())["services"]["airflow-init"]["environment"], example
    )
    run_env = _process_env(**{name: str(value) for name, value in compose_env.items()})
    run_env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow-home"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://{env['PGUSER']}@{host}/{metadata}",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW_CONN_MECA_DATA=f"postgres://{meca_owner}:{password}@{host}/{meca_owner}",
    )
    try:
        first = _bash(_init_script(), tmp_path, run_env, timeout=900)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        again = _bash(_init_script(), tmp_path, run_env, timeout=900)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]

        for step in range(1, 6):
            assert f"airflow-init {step}/5" in first.stdout
        assert "already exists" in again.stdout, "the admin user is created once"
        assert "Teacher:" in again.stdout, "the roles are synced again"
        assert "no change" in again.stdout, "and nothing changes the second time"
        for output in (first, again):
            assert example["AIRFLOW_ADMIN_PASSWORD"] not in output.stdout + output.stderr
            assert password not in output.stdout + output.stderr

        airflow = create_engine(f"postgresql+psycopg2://{env['PGUSER']}@{host}/{metadata}")
        with airflow.connect() as connection:
            roles = set(connection.execute(text("SELECT name FROM ab_role")).scalars())
            admin_roles = set(
                connection.execute(
                    text(
                        "SELECT r.name FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id "
                        "JOIN ab_role r ON r.id = ur.role_id WHERE u.username = :u"
                    ),
                    {"u": example["AIRFLOW_ADMIN_USERNAME"]},
                ).scalars()
            )
            slots = connection.execute(
                text("SELECT slots FROM slot_pool WHERE pool = 'cloudstack_api'")
            ).scalar()
        airflow.dispose()
        assert {"Admin", "Teacher", "Analyst", "Operator"} <= roles
        assert admin_roles == {"Admin"}
        assert slots == 8
        data = create_engine(f"postgresql+psycopg2://{meca_owner}:{password}@{host}/{meca_owner}")
        assert current_revision(data) == _head()
        data.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{metadata}" WITH (FORCE)'))
