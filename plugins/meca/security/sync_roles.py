"""Write the MECA roles into the FAB database: ``python -m meca.security.sync_roles``.

Run it with the environment (``AIRFLOW_HOME``, ``AIRFLOW__*``) of the Airflow it is for:

1. after ``airflow db migrate``. That command also creates FAB's tables (``ab_role``,
   ``ab_permission_view``...): the FAB provider declares its database manager, which Airflow finds
   among the installed providers whatever the auth manager is, so ``airflow fab-db migrate`` is not
   needed (checked with Airflow 3.3.2 and apache-airflow-providers-fab 3.10.2);
2. before the dag-processor starts: with the FAB auth manager the dag-processor writes each DAG's
   ``access_control`` into FAB's tables and refuses a DAG that names a role which does not exist.

What it does, with FAB's own security manager (``get_application_builder().sm``, as
``airflow roles`` does):

- creates the MECA resources and their actions (:data:`meca.security.roles.MECA_RESOURCES`) and the
  per-DAG permissions the DAGs' ``access_control`` (:data:`meca.security.roles.DAG_ACCESS`) grant;
- creates the roles Teacher, Analyst and Operator when missing and sets each one's permissions to
  exactly :func:`meca.security.roles.role_permissions` (FAB's ``Op`` permissions for Operator, as
  FAB defines them), removing any other permission, per-DAG ones included;
- adds the MECA permissions to FAB's Admin role (never removes anything from it).

Opening FAB's app builder also runs FAB's own role sync (``[fab] update_fab_perms``, on by default),
as every api-server start does: FAB's built-in roles (Admin, Op, User, Viewer, Public) exist
afterwards too, and Admin gets every permission that exists at that moment. That sync also gives
every custom role ``can_read`` on ``Website``, which the MECA roles have anyway, so it never undoes
this one.

It prints one line per role: its name, its number of permissions and what changed. Running it
again changes nothing and says so. With an auth manager other than FAB's it exits 2 with the reason
and changes nothing; on a database ``airflow db migrate`` has not prepared it exits 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meca.security.roles import (
    ADMIN,
    EXTENDS,
    MECA_PERMISSIONS,
    MECA_ROLES,
    Permission,
    role_permissions,
)

if TYPE_CHECKING:
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride,
    )

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
#: The tables ``airflow db migrate`` creates for FAB; without them nothing is written.
FAB_TABLES = ("ab_role", "ab_permission_view", "ab_permission_view_role")
#: Exit status: the configured auth manager is not FAB's.
EXIT_NOT_FAB = 2
#: Exit status: the database is not migrated.
EXIT_NOT_MIGRATED = 1


class NotFabAuthManager(RuntimeError):
    """The configured auth manager has no FAB roles to write."""


class DatabaseNotMigrated(RuntimeError):
    """FAB's tables are missing from the metadata database."""


@dataclass(frozen=True)
class RoleChange:
    """What a sync did to one role.

    :param role: the role name.
    :param permissions: how many permissions it has now.
    :param created: whether the role was created.
    :param added: the permissions added.
    :param removed: the permissions removed.
    """

    role: str
    permissions: int
    created: bool
    added: frozenset[Permission]
    removed: frozenset[Permission]

    def line(self) -> str:
        """One line: ``Teacher: 20 permissions, created (20 added)`` or ``...: no change``."""
        parts = [f"{len(self.added)} added"] if self.added else []
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        if self.created:
            what = f"created ({', '.join(parts)})" if parts else "created"
        else:
            what = ", ".join(parts) or "no change"
        return f"{self.role}: {self.permissions} permissions, {what}"


def check_fab_auth_manager() -> None:
    """Refuse anything but FAB's auth manager (or a subclass of it).

    :raises NotFabAuthManager: naming the configured auth manager and the setting to change.
    """
    from airflow.configuration import conf
    from airflow.exceptions import AirflowConfigException

    configured = conf.get("core", "auth_manager")
    try:
        from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager

        is_fab = issubclass(conf.getimport("core", "auth_manager"), FabAuthManager)
    except (ImportError, AirflowConfigException) as exc:
        raise NotFabAuthManager(
            f"the FAB provider or the configured auth manager {configured!r} cannot be imported: {exc}"
        ) from None
    if not is_fab:
        raise NotFabAuthManager(
            f"the configured auth manager is {configured!r}; MECA roles live in FAB's auth manager. "
            f"Set AIRFLOW__CORE__AUTH_MANAGER={FAB_AUTH_MANAGER} (or [core] auth_manager) first"
        )


def check_migrated() -> None:
    """Refuse a metadata database without FAB's tables (``airflow db migrate`` creates them).

    :raises DatabaseNotMigrated: naming the missing tables.
    """
    from airflow import settings
    from sqlalchemy import inspect

    if settings.engine is None:
        settings.configure_orm()
    tables = set(inspect(settings.engine).get_table_names())
    missing = [table for table in FAB_TABLES if table not in tables]
    if missing:
        raise DatabaseNotMigrated(
            f"the Airflow metadata database has no table {', '.join(missing)}: run `airflow db migrate` first"
        )


def _builtin_permissions(sm: FabAirflowSecurityManagerOverride) -> dict[str, frozenset[Permission]]:
    """FAB's built-in roles as FAB defines them (``ROLE_CONFIGS``), by role name."""
    return {config["role"]: frozenset(config["perms"]) for config in sm.ROLE_CONFIGS}


def _permission(sm: FabAirflowSecurityManagerOverride, action: str, resource: str) -> Any:
    """The FAB permission ``(action, resource)``, created (with its action and resource) when missing."""
    permission = sm.get_permission(action, resource) or sm.create_permission(action, resource)
    if permission is None:
        raise RuntimeError(f"FAB could not create the permission {action} on {resource}")
    return permission


def _names(permissions: Iterable[Any]) -> frozenset[Permission]:
    return frozenset((p.action.name, p.resource.name) for p in permissions if p.action and p.resource)


def wanted_permissions(sm: FabAirflowSecurityManagerOverride) -> dict[str, frozenset[Permission]]:
    """Each MECA role's permissions, FAB's built-in ones resolved.

    :param sm: FAB's security manager.
    """
    builtin = _builtin_permissions(sm)
    missing = {base for base in EXTENDS.values() if base not in builtin}
    if missing:
        raise RuntimeError(f"this FAB version defines no built-in role {', '.join(sorted(missing))}")
    return {role: role_permissions(role, builtin) for role in MECA_ROLES}


def sync(sm: FabAirflowSecurityManagerOverride) -> list[RoleChange]:
    """Create the MECA resources and roles, and set the roles' permissions to the specification.

    :param sm: FAB's security manager (``appbuilder.sm``).
    :returns: what changed, one entry per MECA role, then Admin.
    """
    wanted = wanted_permissions(sm)
    every = set(MECA_PERMISSIONS).union(*wanted.values())
    # Each create commits on its own; the roles below are changed in one transaction.
    permissions = {pair: _permission(sm, *pair) for pair in sorted(every)}

    changes: list[RoleChange] = []
    try:
        for name in MECA_ROLES:
            role = sm.find_role(name)
            created = role is None
            if role is None:
                role = sm.role_model()
                role.name = name
                role.permissions = []
                sm.session.add(role)
            current = _names(role.permissions)
            target = wanted[name]
            if current != target:
                kept = [p for p in role.permissions if (p.action.name, p.resource.name) in target]
                role.permissions = kept + [permissions[pair] for pair in sorted(target - current)]
            changes.append(RoleChange(name, len(target), created, target - current, current - target))

        admin = sm.find_role(sm.auth_role_admin or ADMIN)
        if admin is None:
            raise RuntimeError(f"FAB's admin role {sm.auth_role_admin or ADMIN!r} does not exist")
        current = _names(admin.permissions)
        missing = MECA_PERMISSIONS - current
        admin.permissions = list(admin.permissions) + [permissions[pair] for pair in sorted(missing)]
        changes.append(RoleChange(admin.name, len(current | missing), False, missing, frozenset()))
        sm.session.commit()
    except BaseException:
        sm.session.rollback()
        raise
    return changes


@contextmanager
def _quiet_fab() -> Iterator[None]:
    """FAB logs every permission it creates at INFO; the report lines say what matters."""
    loggers = [logging.getLogger(name) for name in ("flask_appbuilder", "airflow.providers.fab")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run() -> list[RoleChange]:
    """Check the configuration and the database, then :func:`sync` in the configured Airflow.

    :raises NotFabAuthManager: when the auth manager is not FAB's (nothing is changed).
    :raises DatabaseNotMigrated: when FAB's tables are missing (nothing is changed).
    """
    check_fab_auth_manager()
    check_migrated()
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with _quiet_fab(), get_application_builder() as appbuilder:
        return sync(appbuilder.sm)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m meca.security.sync_roles``; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m meca.security.sync_roles",
        description="Create or update the MECA roles (Teacher, Analyst, Operator) in Airflow's FAB database.",
    )
    parser.parse_args(argv)
    try:
        changes = run()
    except NotFabAuthManager as exc:
        print(f"sync_roles: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_NOT_FAB
    except DatabaseNotMigrated as exc:
        print(f"sync_roles: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_NOT_MIGRATED
    for change in changes:
        print(change.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
