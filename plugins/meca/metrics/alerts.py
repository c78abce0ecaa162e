"""Alerts opened and cleared by the monitoring rules (the ``alerts`` table)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from meca.store import models

OPENED = "opened"
CLEARED = "cleared"


@dataclass(frozen=True)
class AlertChange:
    """An alert that a rule opened or cleared at one evaluation.

    :param change: ``opened`` or ``cleared``.
    :param rule: the rule's name.
    :param region: the region's name.
    :param severity: the rule's severity.
    :param message: what happened, for people.
    :param value: the metric's latest value (``None`` when the region has no data).
    :param marks_full: whether the alert marks the region full for placement while open.
    :param at: the sample time of the evaluation.
    """

    change: str
    rule: str
    region: str
    severity: str
    message: str
    value: float | None
    marks_full: bool
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (for XCom, logs and notifier templates)."""
        return {**asdict(self), "at": self.at.isoformat()}


def open_alerts(session: Session) -> dict[tuple[str, str], models.Alert]:
    """The open alerts, by ``(rule, region name)``."""
    rows = session.execute(
        select(models.Alert, models.Region.name)
        .join(models.Region, models.Region.id == models.Alert.region_id)
        .where(models.Alert.cleared_at.is_(None))
    )
    return {(alert.rule, region): alert for alert, region in rows}


def open_alert(
    session: Session,
    *,
    rule: str,
    region_id: int,
    region: str,
    severity: str,
    message: str,
    value: float | None,
    marks_full: bool,
    at: datetime,
) -> AlertChange:
    """Insert an open alert and return the change."""
    session.add(
        models.Alert(
            rule=rule,
            region_id=region_id,
            severity=severity,
            message=message,
            value=value,
            marks_full=marks_full,
            opened_at=at,
            last_seen_at=at,
        )
    )
    return AlertChange(OPENED, rule, region, severity, message, value, marks_full, at)


def clear_alert(
    alert: models.Alert, region: str, message: str, value: float | None, at: datetime
) -> AlertChange:
    """Set ``cleared_at`` of an open alert and return the change (the stored message is kept)."""
    alert.cleared_at = at
    return AlertChange(CLEARED, alert.rule, region, alert.severity, message, value, alert.marks_full, at)


def regions_marked_full(engine: Engine) -> set[str]:
    """The names of the regions that an open ``mark_full`` alert marks full (placement skips them)."""
    with Session(engine) as session:
        return set(
            session.scalars(
                select(models.Region.name)
                .join(models.Alert, models.Alert.region_id == models.Region.id)
                .where(models.Alert.cleared_at.is_(None), models.Alert.marks_full.is_(True))
            )
        )
