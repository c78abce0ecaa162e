"""The ``template_status`` table: where each catalog template stands in each region.

Written by the replication DAG (a failing task writes its own error, ``record`` writes the rest);
read by its ``plan`` task (what is already done) and by the template status page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meca.regions import Region
from meca.store import models
from meca.store.registry import ensure_region

READY, PENDING, ERROR = "Ready", "Pending", "Error"
STATES = (READY, PENDING, ERROR)
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class StatusRow:
    """One template in one region.

    :param template_path: the MGTR path of the template (the catalog entry).
    :param region: the region name.
    :param version: the version replicated last (or being replicated).
    :param checksum: the image's SHA-256 (hex), when known.
    :param state: ``Ready``, ``Pending`` or ``Error``.
    :param cloudstack_id: the template's uuid in the region, when registered.
    :param last_verified_at: when the region last showed it Ready with this checksum.
    :param last_error: the last failure, cleared when it becomes Ready.
    :param updated_at: when the row was last written.
    """

    template_path: str
    region: str
    version: str
    checksum: str | None
    state: str
    cloudstack_id: str | None
    last_verified_at: datetime | None
    last_error: str | None
    updated_at: datetime


def record(
    engine: Engine,
    region: Region,
    template_path: str,
    version: str,
    state: str,
    now: datetime,
    *,
    checksum: str | None = None,
    cloudstack_id: str | None = None,
    error: str | None = None,
) -> None:
    """Insert or update the row of (template, region).

    ``Ready`` sets ``last_verified_at`` to ``now`` and clears the error; ``Error`` keeps the last
    verification time (it tells when the template was last known good); a value left ``None`` keeps
    what the row had when the version is unchanged.

    :param engine: the MECA data database.
    :param region: the region.
    :param template_path: the template's MGTR path.
    :param version: the version concerned.
    :param state: one of :data:`STATES`.
    :param now: the time of the observation (UTC).
    :param checksum: the image's SHA-256, when known.
    :param cloudstack_id: the template's uuid in the region, when known.
    :param error: why it failed (``Error`` only).
    :raises ValueError: on an unknown state.
    """
    if state not in STATES:
        raise ValueError(f"unknown template state {state!r}; known: {', '.join(STATES)}")
    with Session(engine) as session, session.begin():
        region_id = ensure_region(session, region)
        row = session.get(models.TemplateStatus, (template_path, region_id))
        if row is None:
            row = models.TemplateStatus(template_path=template_path, region_id=region_id)
            session.add(row)
        elif row.version != version:
            row.checksum = row.cloudstack_id = None
        row.version = version
        row.state = state
        row.checksum = checksum or row.checksum
        row.cloudstack_id = cloudstack_id or row.cloudstack_id
        row.updated_at = now
        if state == READY:
            row.last_verified_at, row.last_error = now, None
        elif state == ERROR:
            row.last_error = (error or "unknown error")[:MAX_ERROR_CHARS]


def status_rows(engine: Engine, template_path: str | None = None) -> list[StatusRow]:
    """Every row (or those of one template), ordered by template then region name.

    :param engine: the MECA data database.
    :param template_path: only this template, when given.
    """
    query = (
        select(models.TemplateStatus, models.Region.name)
        .join(models.Region, models.Region.id == models.TemplateStatus.region_id)
        .order_by(models.TemplateStatus.template_path, models.Region.name)
    )
    if template_path is not None:
        query = query.where(models.TemplateStatus.template_path == template_path)
    with Session(engine) as session:
        return [
            StatusRow(
                template_path=row.template_path,
                region=name,
                version=row.version,
                checksum=row.checksum,
                state=row.state,
                cloudstack_id=row.cloudstack_id,
                last_verified_at=row.last_verified_at,
                last_error=row.last_error,
                updated_at=row.updated_at,
            )
            for row, name in session.execute(query)
        ]
