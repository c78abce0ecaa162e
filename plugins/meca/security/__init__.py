"""Who may do what: the MECA roles (Teacher, Analyst, Operator) for Airflow's FAB auth manager.

:mod:`meca.security.roles` holds the specification (no Airflow import), :mod:`meca.security.sync_roles`
writes it into the FAB database (``python -m meca.security.sync_roles``).
"""

from __future__ import annotations
