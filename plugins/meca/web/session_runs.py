"""The session DAG's runs as the api-server sees them: paused or not, a new run for a booking, its id.

These run inside Airflow's api-server process, which has the metadata database: a run is created
with Airflow's own :func:`airflow.api.common.trigger_dag.trigger_dag` (the function the REST API's
trigger uses), with a readable run id and the note "title · owner".
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from meca.security.roles import SESSION_DAG_ID
from meca.sessions.request import SessionRequest

#: Longest slug of the title in a run id (the id stays well under the session id limit).
SLUG_MAX = 40


class SessionDagUnavailable(RuntimeError):
    """The session DAG cannot take a run now (not parsed yet, or the run could not be created)."""


def session_dag_paused() -> bool | None:
    """Whether ``meca_classroom_session`` is paused; ``None`` when Airflow does not know the DAG yet."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        paused = session.scalar(select(DagModel.is_paused).where(DagModel.dag_id == SESSION_DAG_ID))
    return None if paused is None else bool(paused)


def slug(text: str) -> str:
    """``CAD session (TUS)`` → ``cad-session-tus``: ASCII letters and digits joined by dashes."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:SLUG_MAX].strip("-") or "session"


def new_session_id(request: SessionRequest) -> str:
    """A readable, unique session (run) id: ``2026-12-10_cad-session-tus_3f2a``."""
    return f"{request.start:%Y-%m-%d}_{slug(request.title)}_{secrets.token_hex(2)}"


def run_note(request: SessionRequest) -> str:
    """The note of the session's run in Airflow's grid: ``title · owner``."""
    return f"{request.title} · {request.owner}"


def trigger_session_run(session_id: str, conf: dict[str, Any], *, user: str, note: str) -> str:
    """Create the run of a booked session now (no logical date), as the REST API's trigger would.

    :param session_id: the run id (the booking's session id).
    :param conf: the session as conf (``reserve`` finds the booking and checks the conf describes it).
    :param user: who triggers it (shown in Airflow as the triggering user).
    :param note: the run's note.
    :returns: the run id.
    :raises SessionDagUnavailable: when Airflow does not know the DAG or refuses the run.
    """
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import AirflowException
    from airflow.utils.types import DagRunTriggeredByType

    try:
        run = trigger_dag(
            SESSION_DAG_ID,
            triggered_by=DagRunTriggeredByType.REST_API,
            triggering_user_name=user,
            run_id=session_id,
            conf=conf,
            logical_date=None,
            note=note,
        )
    except (AirflowException, ValueError) as exc:
        raise SessionDagUnavailable(f"Airflow did not create the session's run: {exc}") from None
    if run is None:
        raise SessionDagUnavailable(f"Airflow did not create the session's run {session_id}")
    return str(run.run_id)
