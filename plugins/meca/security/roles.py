"""The MECA roles, as data: FAB permissions ``(action, resource)`` per role and the DAGs' ``access_control``.

Nothing here imports Airflow or touches a database, so DAG files import the ``access_control``
dicts at parse time and :mod:`meca.security.sync_roles` writes the roles into FAB's tables.

Roles (real roles need Airflow's FAB auth manager; with the SimpleAuthManager of the demo and the
tests every user may read every MECA page, see :mod:`meca.web.auth`):

- **Teacher**: triggers and reads ``meca_classroom_session`` (its runs, task instances and task
  logs), reads the MECA dashboard, calendar and template status page, and looks at, cancels,
  extends, starts and stops the sessions they own. No other DAG, no Connections, Variables, Pools,
  Config or Users, no raw data. FAB lets a user trigger a DAG only with ``can_edit`` on that DAG
  (``is_authorized_dag`` checks ``PUT`` on the DAG for every change to a sub-entity), which would
  also let a Teacher pause it; :mod:`meca.web.session_dag_guard`, a root middleware of the
  api-server, refuses with 403 pausing or unpausing that DAG (and any bulk pause) and any trigger
  whose ``conf.owner`` is not the user's own name or e-mail, to everyone without ``can_edit`` on
  :data:`ALL_SESSIONS`. They may not edit, clear or delete its runs (no ``can_edit`` or
  ``can_delete`` on DAG runs or task instances). The template status page is read-only and tells
  a teacher which templates are Ready where, which booking needs, so Teachers may read it.
- **Analyst**: reads the dashboard, the data (``/metrics``) and the template status page. No DAG.
- **Operator**: FAB's own ``Op`` role (everything operational: every DAG, Connections, Variables,
  Pools...) and every MECA permission, including changing every session (:data:`ALL_SESSIONS`).
- **Admin**: FAB's own; ``sync_roles`` adds the MECA permissions to it (FAB itself grants Admin
  every non-DAG permission only when the api-server starts after they exist).

Every MECA role also gets :data:`BASE_PERMISSIONS`: the Airflow UI's home page (FAB adds it to every
custom role at each api-server start anyway), the user's own profile and password, and the plugin
list, which the UI reads to draw the MECA entries of the navigation bar.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

#: One FAB permission: ``(action name, resource name)``.
Permission = tuple[str, str]
#: A DAG's ``access_control``: role -> DAG resource (``"DAGs"`` or ``"DAG Runs"``) -> action names.
AccessControl = dict[str, dict[str, Collection[str]]]

TEACHER = "Teacher"
ANALYST = "Analyst"
OPERATOR = "Operator"
ADMIN = "Admin"
#: The roles ``sync_roles`` creates and owns (Admin stays FAB's own).
MECA_ROLES = (TEACHER, ANALYST, OPERATOR)
#: Every role the DAGs' ``access_control`` may name.
ROLES = (*MECA_ROLES, ADMIN)

# FAB's action names, and the HTTP methods the auth managers map them from.
CAN_READ = "can_read"
CAN_EDIT = "can_edit"
CAN_CREATE = "can_create"
CAN_DELETE = "can_delete"
MENU_ACCESS = "menu_access"
ACTIONS = (CAN_READ, CAN_EDIT, CAN_CREATE, CAN_DELETE, MENU_ACCESS)
#: The action FAB checks for each method of ``is_authorized_custom_view``.
METHOD_ACTIONS = {
    "GET": CAN_READ,
    "PUT": CAN_EDIT,
    "POST": CAN_CREATE,
    "DELETE": CAN_DELETE,
    "MENU": MENU_ACCESS,
}

# The MECA resources (custom views of the plugin), checked by :mod:`meca.web.auth`.
#: The dashboard pages and their JSON endpoints.
DASHBOARD = "MECA Dashboard"
#: Raw data for machines: the dashboard's ``/metrics`` (OpenMetrics).
DATA = "MECA Data"
#: The template status page and its JSON.
TEMPLATES = "MECA Templates"
#: The calendar page, its event feed and the booking dry run.
CALENDAR = "MECA Calendar"
#: Every session, not only one's own: ``GET`` to look at them, ``PUT`` to cancel, extend, start, stop.
ALL_SESSIONS = "MECA Sessions"
#: Each MECA resource and the actions it has.
MECA_RESOURCES: dict[str, tuple[str, ...]] = {
    DASHBOARD: (CAN_READ,),
    DATA: (CAN_READ,),
    TEMPLATES: (CAN_READ,),
    CALENDAR: (CAN_READ,),
    ALL_SESSIONS: (CAN_READ, CAN_EDIT),
}
#: Every MECA permission.
MECA_PERMISSIONS = frozenset(
    (action, resource) for resource, actions in MECA_RESOURCES.items() for action in actions
)

# FAB's own resource names used below (``airflow.providers.fab.www.security.permissions``).
WEBSITE = "Website"
MY_PROFILE = "My Profile"
MY_PASSWORD = "My Password"
PLUGINS = "Plugins"
DAGS = "DAGs"
DAG_RUNS = "DAG Runs"
TASK_INSTANCES = "Task Instances"
TASK_LOGS = "Task Logs"
DAG_CODE = "DAG Code"
DAG_VERSIONS = "DAG Versions"
DAG_WARNINGS = "DAG Warnings"
#: The per-DAG resources of ``access_control`` and the prefix of their FAB resource names.
DAG_RESOURCE_PREFIXES = {DAGS: "DAG:", DAG_RUNS: "DAG Run:"}

#: What every MECA role has: the UI's home page, one's own profile and password, the plugin list.
BASE_PERMISSIONS = frozenset(
    {
        (CAN_READ, WEBSITE),
        (CAN_READ, MY_PROFILE),
        (CAN_EDIT, MY_PROFILE),
        (CAN_READ, MY_PASSWORD),
        (CAN_EDIT, MY_PASSWORD),
        (CAN_READ, PLUGINS),
    }
)

#: DAG sub-entities a Teacher reads. FAB checks these together with ``can_read`` on the DAG itself,
#: and lists only the DAGs a user may read, so they reach no DAG but the session DAG.
TEACHER_DAG_READS = frozenset(
    {
        (CAN_READ, DAG_RUNS),
        (CAN_READ, TASK_INSTANCES),
        (CAN_READ, TASK_LOGS),
        (CAN_READ, DAG_CODE),
        (CAN_READ, DAG_VERSIONS),
        (CAN_READ, DAG_WARNINGS),
        (MENU_ACCESS, DAGS),
    }
)

#: The DAG whose runs are the sessions (also :data:`meca.sessions.control.SESSION_DAG_ID`).
SESSION_DAG_ID = "meca_classroom_session"
#: The other DAGs: operators' business.
OPERATIONS_DAG_IDS = (
    "meca_region_check",
    "meca_metrics_sweep",
    "meca_template_replication",
    "meca_session_reaper",
)

#: What an Operator is granted on each DAG (also granted through FAB's ``Op`` role, for every DAG).
_OPERATOR_DAG_ACTIONS: dict[str, set[str]] = {
    DAGS: {CAN_READ, CAN_EDIT, CAN_DELETE},
    DAG_RUNS: {CAN_READ, CAN_CREATE, CAN_DELETE},
}
#: ``access_control`` of ``meca_classroom_session``: Teachers read it and trigger runs (``can_edit``
#: on the DAG is what FAB asks for to trigger), Operators everything.
SESSION_DAG_ACCESS: AccessControl = {
    TEACHER: {DAGS: {CAN_READ, CAN_EDIT}, DAG_RUNS: {CAN_READ, CAN_CREATE}},
    OPERATOR: {resource: set(actions) for resource, actions in _OPERATOR_DAG_ACTIONS.items()},
}
#: ``access_control`` of every other DAG: Operators only.
OPERATIONS_DAG_ACCESS: AccessControl = {
    OPERATOR: {resource: set(actions) for resource, actions in _OPERATOR_DAG_ACTIONS.items()},
}
#: The ``access_control`` of each DAG of ``dags/``.
DAG_ACCESS: dict[str, AccessControl] = {
    SESSION_DAG_ID: SESSION_DAG_ACCESS,
    **dict.fromkeys(OPERATIONS_DAG_IDS, OPERATIONS_DAG_ACCESS),
}

#: Each MECA role's permissions besides the per-DAG ones of :data:`DAG_ACCESS`.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    TEACHER: BASE_PERMISSIONS
    | TEACHER_DAG_READS
    | {(CAN_READ, DASHBOARD), (CAN_READ, CALENDAR), (CAN_READ, TEMPLATES)},
    ANALYST: BASE_PERMISSIONS | {(CAN_READ, DASHBOARD), (CAN_READ, DATA), (CAN_READ, TEMPLATES)},
    OPERATOR: BASE_PERMISSIONS | MECA_PERMISSIONS,
}
#: The FAB built-in role whose permissions a MECA role also gets (read from FAB at sync time).
EXTENDS: dict[str, str] = {OPERATOR: "Op"}


def dag_resource_name(dag_id: str, resource: str) -> str:
    """The FAB resource of one DAG: ``DAG:<dag_id>`` or ``DAG Run:<dag_id>``.

    :param dag_id: the DAG.
    :param resource: ``"DAGs"`` or ``"DAG Runs"``.
    :raises ValueError: for another resource.
    """
    if resource not in DAG_RESOURCE_PREFIXES:
        raise ValueError(f"{resource!r} is no per-DAG resource; known: {', '.join(DAG_RESOURCE_PREFIXES)}")
    return DAG_RESOURCE_PREFIXES[resource] + dag_id


def dag_permissions(role: str, dag_access: Mapping[str, AccessControl] = DAG_ACCESS) -> frozenset[Permission]:
    """The per-DAG permissions the DAGs' ``access_control`` grant ``role``.

    :param role: a role name.
    :param dag_access: dag id -> its ``access_control``.
    """
    return frozenset(
        (action, dag_resource_name(dag_id, resource))
        for dag_id, access in dag_access.items()
        for resource, actions in access.get(role, {}).items()
        for action in actions
    )


def role_permissions(
    role: str, builtin: Mapping[str, Iterable[Permission]] | None = None
) -> frozenset[Permission]:
    """Every permission of a MECA role: its own, the per-DAG ones and those of the FAB role it extends.

    :param role: one of :data:`MECA_ROLES`.
    :param builtin: FAB role name -> its permissions; needed for a role of :data:`EXTENDS`.
    :raises KeyError: for an unknown role, or when the FAB role it extends is not in ``builtin``.
    """
    if role not in ROLE_PERMISSIONS:
        raise KeyError(f"{role!r} is no MECA role; known: {', '.join(MECA_ROLES)}")
    permissions = ROLE_PERMISSIONS[role] | dag_permissions(role)
    if role in EXTENDS:
        base = EXTENDS[role]
        if builtin is None or base not in builtin:
            raise KeyError(f"role {role} extends FAB's role {base}, whose permissions were not given")
        permissions |= frozenset(builtin[base])
    return permissions
