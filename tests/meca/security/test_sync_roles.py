"""``python -m meca.security.sync_roles`` against a real FAB database, as an operator runs it.

One module-scoped Airflow home with a SQLite metadata database, migrated by ``airflow db migrate``
with the FAB auth manager configured through environment variables (nothing inherited from the test
session). The sync runs twice in subprocesses; the roles are read back with FAB's own
``airflow roles list`` and, for the authorization checks, loaded with FAB's models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
from airflow.providers.fab.auth_manager.models import Role, User
from airflow.providers.fab.auth_manager.security_manager.override import (
    FabAirflowSecurityManagerOverride,
)
from sqlalchemy import Engine, MetaData, create_engine, select
from sqlalchemy.orm import Session

from meca.security.roles import ADMIN, MECA_PERMISSIONS, MECA_ROLES, SESSION_DAG_ID, TEACHER, role_permissions
from meca.security.sync_roles import FAB_AUTH_MANAGER

BIN = Path(sys.executable).parent
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
BUILTIN = {config["role"]: config["perms"] for config in FabAirflowSecurityManagerOverride.ROLE_CONFIGS}
TEACHER_SIZE = len(role_permissions(TEACHER, BUILTIN))


def airflow_env(home: Path, database: Path, auth_manager: str = FAB_AUTH_MANAGER) -> dict[str, str]:
    """This process's environment without any ``AIRFLOW*`` variable, then a private Airflow's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__AUTH_MANAGER": auth_manager,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        }
    )
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def sync_roles(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "python"), "-m", "meca.security.sync_roles"], env)


def report(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The report lines (``<role>: <n> permissions, ...``) of a sync's standard output."""
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if " permissions, " in line]


@dataclass
class FabHome:
    """The migrated Airflow home, its database and the outputs of the two syncs."""

    env: dict[str, str]
    database: Path
    engine: Engine
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def fab_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FabHome]:
    home = tmp_path_factory.mktemp("fab-home")
    (home / "dags").mkdir()
    database = home / "airflow.db"
    env = airflow_env(home, database)
    migrated = run([str(BIN / "airflow"), "db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    first = sync_roles(env)
    second = sync_roles(env)
    engine = create_engine(f"sqlite:///{database}")
    yield FabHome(env, database, engine, first, second)
    engine.dispose()


def stored_roles(fab_home: FabHome) -> dict[str, set[tuple[str, str]]]:
    """Every role's permissions as FAB's ``airflow roles list -p -o json`` reports them."""
    listed = run([str(BIN / "airflow"), "roles", "list", "-p", "-o", "json"], fab_home.env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = json.loads(next(line for line in listed.stdout.splitlines() if line.startswith("[")))
    permissions: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in rows:
        permissions[row["name"]].update((action, row["resource"]) for action in row["action"].split(","))
    return permissions


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every FAB table (``ab_*``)."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as connection:
        return {
            name: sorted(connection.execute(select(table)).tuples(), key=repr)
            for name, table in metadata.tables.items()
            if name.startswith("ab_")
        }


def test_the_first_sync_creates_the_roles_and_the_second_changes_nothing(fab_home: FabHome) -> None:
    sizes = {role: len(role_permissions(role, BUILTIN)) for role in MECA_ROLES}
    first = report(fab_home.first)
    assert first[:3] == [
        f"{role}: {sizes[role]} permissions, created ({sizes[role]} added)" for role in MECA_ROLES
    ]
    assert first[3].startswith(f"{ADMIN}: ")
    assert first[3].endswith(f"permissions, {len(MECA_PERMISSIONS)} added")
    second = report(fab_home.second)
    assert [line.split(", ", 1)[1] for line in second] == ["no change"] * 4
    assert [line.split(":")[0] for line in second] == [*MECA_ROLES, ADMIN]


def test_the_stored_roles_are_the_specification(fab_home: FabHome) -> None:
    stored = stored_roles(fab_home)

    for role in MECA_ROLES:
        assert stored[role] == role_permissions(role, BUILTIN), role
    assert stored[ADMIN] >= MECA_PERMISSIONS
    assert stored["Op"] == set(BUILTIN["Op"])  # FAB's own role is left as FAB made it


def test_a_permission_added_by_hand_is_removed(fab_home: FabHome) -> None:
    metadata = MetaData()
    metadata.reflect(fab_home.engine)
    role, view, action, resource, grant = (
        metadata.tables[name]
        for name in (
            "ab_role",
            "ab_permission_view",
            "ab_permission",
            "ab_view_menu",
            "ab_permission_view_role",
        )
    )
    with fab_home.engine.begin() as connection:
        teacher_id = connection.scalar(select(role.c.id).where(role.c.name == TEACHER))
        read_connections = connection.scalar(
            select(view.c.id)
            .join(action, view.c.permission_id == action.c.id)
            .join(resource, view.c.view_menu_id == resource.c.id)
            .where(action.c.name == "can_read", resource.c.name == "Connections")
        )
        connection.execute(grant.insert().values(role_id=teacher_id, permission_view_id=read_connections))

    lines = report(sync_roles(fab_home.env))

    assert lines[0] == f"{TEACHER}: {TEACHER_SIZE} permissions, 1 removed"
    assert [line.split(", ", 1)[1] for line in lines[1:]] == ["no change"] * 3
    with fab_home.engine.connect() as connection:
        rows = connection.execute(
            select(grant.c.id).where(
                grant.c.role_id == teacher_id, grant.c.permission_view_id == read_connections
            )
        ).all()
    assert rows == []


def test_the_stored_teacher_role_lets_fab_trigger_sessions_only(fab_home: FabHome) -> None:
    with Session(fab_home.engine) as session:
        teacher_role = session.scalars(select(Role).where(Role.name == TEACHER)).unique().one()
        session.expunge_all()  # permissions, actions and resources are loaded eagerly
    teacher = User(username="ann", email="ann@example.org", roles=[teacher_role])
    fab = FabAuthManager()

    def may(method: str, dag_id: str) -> bool:
        details = DagDetails(id=dag_id)
        return fab.is_authorized_dag(
            method=method, access_entity=DagAccessEntity.RUN, details=details, user=teacher
        )

    assert len(teacher.perms) == TEACHER_SIZE
    assert may("POST", SESSION_DAG_ID)
    assert not may("PUT", SESSION_DAG_ID)
    assert not may("GET", "meca_metrics_sweep")
    assert not fab.is_authorized_connection(method="GET", user=teacher)


def test_another_auth_manager_exits_2_and_changes_nothing(fab_home: FabHome) -> None:
    before = snapshot(fab_home.engine)
    env = airflow_env(Path(fab_home.env["AIRFLOW_HOME"]), fab_home.database, SIMPLE_AUTH_MANAGER)

    result = sync_roles(env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"sync_roles: the configured auth manager is '{SIMPLE_AUTH_MANAGER}'; MECA roles live in FAB's auth "
        f"manager. Set AIRFLOW__CORE__AUTH_MANAGER={FAB_AUTH_MANAGER} (or [core] auth_manager) first; "
        "nothing was changed"
    ) in result.stderr
    assert " permissions, " not in result.stdout
    assert snapshot(fab_home.engine) == before


def test_a_database_airflow_has_not_migrated_exits_1_and_gets_no_table(tmp_path: Path) -> None:
    database = tmp_path / "empty.db"

    result = sync_roles(airflow_env(tmp_path, database))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "run `airflow db migrate` first; nothing was changed" in result.stderr
    engine = create_engine(f"sqlite:///{database}")
    assert snapshot(engine) == {}
    engine.dispose()
