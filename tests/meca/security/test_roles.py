"""The MECA role specification is consistent with FAB, and means what the roles promise.

The first tests compare the names in :mod:`meca.security.roles` with FAB's own constants. The others
give a user the spec's permissions (FAB's ``User``, ``Role`` and ``Permission`` objects, not stored)
and ask FAB's own auth manager what that user may do.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.api_fastapi.auth.managers.models.resource_details import (
    AccessView,
    DagAccessEntity,
    DagDetails,
)
from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager
from airflow.providers.fab.auth_manager.models import Action, Permission, Resource, Role, User
from airflow.providers.fab.auth_manager.security_manager.override import (
    FabAirflowSecurityManagerOverride,
)
from airflow.providers.fab.www.security import permissions as fab
from airflow.providers.fab.www.utils import get_fab_action_from_method_map

from meca.security import roles
from meca.security.roles import (
    ALL_SESSIONS,
    ANALYST,
    CALENDAR,
    DASHBOARD,
    DATA,
    OPERATOR,
    SESSION_DAG_ID,
    TEACHER,
    TEMPLATES,
)
from meca.sessions.control import SESSION_DAG_ID as CONTROL_SESSION_DAG_ID

REPO = Path(__file__).resolve().parents[3]
DAG_IDS = sorted(path.stem for path in (REPO / "dags").glob("*.py"))
SWEEP = "meca_metrics_sweep"
FAB_RESOURCES = {
    value for name, value in vars(fab).items() if name.startswith("RESOURCE_") and isinstance(value, str)
}
FAB_ACTIONS = {value for name, value in vars(fab).items() if name.startswith("ACTION_")}
BUILTIN = {config["role"]: config["perms"] for config in FabAirflowSecurityManagerOverride.ROLE_CONFIGS}
#: FAB's resources a Teacher and an Analyst must not touch at all.
ADMINISTRATIVE = {
    fab.RESOURCE_CONNECTION,
    fab.RESOURCE_VARIABLE,
    fab.RESOURCE_POOL,
    fab.RESOURCE_CONFIG,
    fab.RESOURCE_USER,
    fab.RESOURCE_ROLE,
    fab.RESOURCE_PASSWORD,
    fab.RESOURCE_AUDIT_LOG,
    fab.RESOURCE_PROVIDER,
    fab.RESOURCE_ADMIN_MENU,
}


def spec(role: str) -> frozenset[tuple[str, str]]:
    return roles.role_permissions(role, BUILTIN)


def user_with(role: str) -> User:
    """An unsaved FAB user whose one role has exactly the spec's permissions of ``role``."""
    actions: dict[str, Action] = {}
    resources: dict[str, Resource] = {}
    granted = []
    for action, resource in sorted(spec(role)):
        permission = Permission()
        permission.action = actions.setdefault(action, Action(name=action))
        permission.resource = resources.setdefault(resource, Resource(name=resource))
        granted.append(permission)
    return User(
        username=f"{role.lower()}1",
        email=f"{role.lower()}1@example.org",
        roles=[Role(name=role, permissions=granted)],
    )


@pytest.fixture(scope="module")
def fab_auth() -> FabAuthManager:
    return FabAuthManager()


def test_the_names_are_the_agreed_ones() -> None:
    assert (roles.TEACHER, roles.ANALYST, roles.OPERATOR, roles.ADMIN) == (
        "Teacher",
        "Analyst",
        "Operator",
        "Admin",
    )
    assert roles.MECA_RESOURCES.keys() == {
        "MECA Dashboard",
        "MECA Data",
        "MECA Templates",
        "MECA Calendar",
        "MECA Sessions",
    }
    assert set(roles.MECA_RESOURCES).isdisjoint(FAB_RESOURCES)
    assert SESSION_DAG_ID == CONTROL_SESSION_DAG_ID
    assert sorted(roles.DAG_ACCESS) == DAG_IDS


def test_method_actions_and_dag_resource_names_are_fabs() -> None:
    fab_map = get_fab_action_from_method_map()
    assert {method: fab_map[method] for method in roles.METHOD_ACTIONS} == roles.METHOD_ACTIONS
    assert set(roles.ACTIONS) <= FAB_ACTIONS
    for resource, prefix in roles.DAG_RESOURCE_PREFIXES.items():
        assert fab.RESOURCE_DETAILS_MAP[resource]["prefix"] == prefix
        assert roles.dag_resource_name(SWEEP, resource) == fab.resource_name(SWEEP, resource)
    with pytest.raises(ValueError, match="'Connections' is no per-DAG resource"):
        roles.dag_resource_name(SWEEP, fab.RESOURCE_CONNECTION)


@pytest.mark.parametrize("role", roles.MECA_ROLES)
def test_every_permission_names_a_known_action_and_resource(role: str) -> None:
    dag_resources = {
        roles.dag_resource_name(dag, res) for dag in DAG_IDS for res in roles.DAG_RESOURCE_PREFIXES
    }
    for action, resource in spec(role):
        assert action in FAB_ACTIONS, (action, resource)
        assert resource in FAB_RESOURCES | set(roles.MECA_RESOURCES) | dag_resources, (action, resource)
        if resource in roles.MECA_RESOURCES:
            assert action in roles.MECA_RESOURCES[resource], (action, resource)


def test_dag_access_uses_valid_resources_actions_and_roles() -> None:
    for dag_id, access in roles.DAG_ACCESS.items():
        assert set(access) <= set(roles.MECA_ROLES), dag_id
        for resource_actions in access.values():
            for resource, actions in resource_actions.items():
                assert actions <= fab.RESOURCE_DETAILS_MAP[resource]["actions"], (dag_id, resource)


def test_a_teacher_reaches_only_the_session_dag_and_no_administration() -> None:
    teacher = spec(TEACHER)
    resources = {resource for _, resource in teacher}
    assert not resources & ADMINISTRATIVE
    assert {res for res in resources if res.startswith(("DAG:", "DAG Run:"))} == {
        f"DAG:{SESSION_DAG_ID}",
        f"DAG Run:{SESSION_DAG_ID}",
    }
    # Nothing on every DAG at once, and no editing or deleting of runs and task instances.
    assert not {(fab.ACTION_CAN_READ, fab.RESOURCE_DAG), (fab.ACTION_CAN_EDIT, fab.RESOURCE_DAG)} & teacher
    changes = {fab.ACTION_CAN_EDIT, fab.ACTION_CAN_DELETE}
    assert not {
        (action, resource)
        for action, resource in teacher
        if action in changes
        and resource in {fab.RESOURCE_DAG_RUN, fab.RESOURCE_TASK_INSTANCE, f"DAG Run:{SESSION_DAG_ID}"}
    }
    meca = {pair for pair in teacher if pair[1] in roles.MECA_RESOURCES}
    assert meca == {("can_read", DASHBOARD), ("can_read", CALENDAR), ("can_read", TEMPLATES)}


def test_an_analyst_reads_dashboard_data_and_templates_and_no_dag() -> None:
    analyst = spec(ANALYST)
    resources = {resource for _, resource in analyst}
    assert not resources & ADMINISTRATIVE
    assert not {res for res in resources if res.startswith(("DAG", "Task"))}
    meca = {pair for pair in analyst if pair[1] in roles.MECA_RESOURCES}
    assert meca == {("can_read", DASHBOARD), ("can_read", DATA), ("can_read", TEMPLATES)}


def test_an_operator_is_fabs_op_with_every_meca_permission() -> None:
    operator = spec(OPERATOR)
    assert set(BUILTIN["Op"]) <= operator
    assert operator >= roles.MECA_PERMISSIONS
    assert ("can_edit", ALL_SESSIONS) in operator
    with pytest.raises(KeyError, match="extends FAB's role Op"):
        roles.role_permissions(OPERATOR)
    with pytest.raises(KeyError, match="'Student' is no MECA role"):
        roles.role_permissions("Student", BUILTIN)


def test_fab_lets_a_teacher_trigger_and_follow_sessions_and_nothing_else(fab_auth: FabAuthManager) -> None:
    teacher = user_with(TEACHER)
    session, sweep = DagDetails(id=SESSION_DAG_ID), DagDetails(id=SWEEP)

    def dag(method: str, entity: DagAccessEntity | None, details: DagDetails) -> bool:
        return fab_auth.is_authorized_dag(method=method, access_entity=entity, details=details, user=teacher)

    assert dag("GET", None, session)
    assert dag("POST", DagAccessEntity.RUN, session)  # trigger
    assert dag("GET", DagAccessEntity.RUN, session)
    assert dag("GET", DagAccessEntity.TASK_INSTANCE, session)
    assert dag("GET", DagAccessEntity.TASK_LOGS, session)
    assert dag("PUT", None, session)  # FAB allows pausing with it; meca.web.session_dag_guard refuses that
    assert not dag("DELETE", None, session)
    assert not dag("PUT", DagAccessEntity.RUN, session)  # mark a run failed or success, clear it
    assert not dag("DELETE", DagAccessEntity.RUN, session)
    assert not dag("PUT", DagAccessEntity.TASK_INSTANCE, session)
    for entity in (None, DagAccessEntity.RUN, DagAccessEntity.TASK_LOGS):
        assert not dag("GET", entity, sweep)
    assert not dag("POST", DagAccessEntity.RUN, sweep)
    for check in (
        fab_auth.is_authorized_connection,
        fab_auth.is_authorized_variable,
        fab_auth.is_authorized_pool,
        fab_auth.is_authorized_configuration,
    ):
        assert not check(method="GET", user=teacher), check.__name__
    assert fab_auth.is_authorized_view(access_view=AccessView.WEBSITE, user=teacher)
    assert fab_auth.is_authorized_view(access_view=AccessView.PLUGINS, user=teacher)
    readable = {
        r
        for r in roles.MECA_RESOURCES
        if fab_auth.is_authorized_custom_view(method="GET", resource_name=r, user=teacher)
    }
    assert readable == {DASHBOARD, CALENDAR, TEMPLATES}
    assert not fab_auth.is_authorized_custom_view(method="PUT", resource_name=ALL_SESSIONS, user=teacher)


def test_fab_lets_an_analyst_read_data_but_no_dag(fab_auth: FabAuthManager) -> None:
    analyst = user_with(ANALYST)
    assert not fab_auth.is_authorized_dag(method="GET", user=analyst)
    assert not fab_auth.is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=SESSION_DAG_ID), user=analyst
    )
    assert not fab_auth.is_authorized_connection(method="GET", user=analyst)
    readable = {
        r
        for r in roles.MECA_RESOURCES
        if fab_auth.is_authorized_custom_view(method="GET", resource_name=r, user=analyst)
    }
    assert readable == {DASHBOARD, DATA, TEMPLATES}


def test_fab_lets_an_operator_operate_everything(fab_auth: FabAuthManager) -> None:
    operator = user_with(OPERATOR)
    for dag_id in DAG_IDS:
        details = DagDetails(id=dag_id)
        assert fab_auth.is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=details, user=operator
        )
        assert fab_auth.is_authorized_dag(
            method="PUT", access_entity=DagAccessEntity.RUN, details=details, user=operator
        )
    assert fab_auth.is_authorized_connection(method="PUT", user=operator)
    assert fab_auth.is_authorized_variable(method="POST", user=operator)
    for resource, actions in roles.MECA_RESOURCES.items():
        methods = {"can_read": "GET", "can_edit": "PUT"}
        for action in actions:
            assert fab_auth.is_authorized_custom_view(
                method=methods[action], resource_name=resource, user=operator
            )
