"""What a test cluster needs for Airflow's FAB auth manager: its setting, the admin, the roles, users.

Before any component starts, the admin is created with ``airflow users create`` (FAB's CLI) and the
MECA roles with ``python -m meca.security.sync_roles`` (when that module exists): the dag-processor
refuses a DAG whose ``access_control`` names a role that does not exist yet. Further users are
created over REST by the admin (``POST /auth/fab/v1/users``), without an extra CLI start-up each.
Passwords are never printed: an error names the admin's creation by :func:`admin_create_label`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SYNC_ROLES_MODULE = "meca.security.sync_roles"
SYNC_ROLES_FILE = REPO / "plugins" / "meca" / "security" / "sync_roles.py"
USERS_PATH = "/auth/fab/v1/users"
ADMIN_ROLE = "Admin"


def admin_create_args(username: str, password: str) -> list[str]:
    """The ``airflow`` arguments that create the FAB admin (they hold the password: never print them)."""
    return [
        "users", "create", "--username", username, "--password", password, "--role", ADMIN_ROLE,
        "--email", f"{username}@meca.example", "--firstname", "MECA", "--lastname", ADMIN_ROLE,
    ]  # fmt: skip


def admin_create_label(username: str) -> str:
    """How to name the admin's creation in an error message (without the password)."""
    return f"airflow users create --username {username} --role {ADMIN_ROLE}"


def sync_roles_argv() -> list[str] | None:
    """The command that creates the MECA roles, or ``None`` while ``meca.security.sync_roles`` is missing."""
    return [sys.executable, "-m", SYNC_ROLES_MODULE] if SYNC_ROLES_FILE.exists() else None


def user_body(username: str, role: str, email: str, password: str) -> dict[str, Any]:
    """The body of ``POST /auth/fab/v1/users`` for a user with one role."""
    return {
        "username": username,
        "email": email,
        "first_name": username,
        "last_name": role,
        "roles": [{"name": role}],
        "password": password,
    }
