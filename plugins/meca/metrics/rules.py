"""Monitoring rules (``include/monitoring_rules.yaml``): declare them, validate them, evaluate them.

A rule watches one metric of every region it names, after each sweep::

    - name: memory-nearly-full        # unique
      metric: MEMORY.percent          # <capacity type name>.percent|used|free, or region_up
      condition: ">= 90"              # > >= < <= and a threshold (quoted: YAML reads > itself)
      for: 3                          # consecutive samples (sweeps) before the alert opens
      regions: all                    # or a list of region names
      severity: warning               # info | warning | critical
      actions: [alert, notify, mark_full]
      notifier:                       # optional, for notify: an Airflow notifier and its arguments
        class: meca.metrics.notifier.LogNotifier
        args: {}

``percent`` is the region's ``100 * used / total`` (zones summed); ``used`` and ``free`` are in the
type's unit and the threshold may carry a byte suffix (``"< 64 GiB"``) for byte types; ``region_up``
is 1 when the region answered the sweep, else 0. An alert opens when the condition held at the last
``for`` samples, and clears at the first sample where it does not; a sample without data (the region
failed that sweep) changes nothing. An alert whose rule or region is no longer evaluated is cleared.
The ``alert`` action is required: the open alert is the rule's state, which ``notify`` (on opening
and clearing) and ``mark_full`` (placement treats the region as full while it is open) rely on.
"""

from __future__ import annotations

import importlib
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from meca.cloudstack.capacity import CAPACITY_TYPES, CapacityType
from meca.metrics.alerts import AlertChange, clear_alert, open_alert, open_alerts
from meca.metrics.readings import Reading, RegionHistory, recent_history
from meca.store import models

REGION_UP = "region_up"
FIELDS = ("percent", "used", "free")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
SEVERITIES = ("info", "warning", "critical")
ACTIONS = ("alert", "notify", "mark_full")
DEFAULT_NOTIFIER = "meca.metrics.notifier.LogNotifier"
BYTE_SUFFIXES = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "PiB": 1024**5}
_KEYS = {"name", "metric", "condition", "for", "regions", "severity", "actions", "notifier"}
_CONDITION = re.compile(r"\s*(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*(%|[KMGTP]iB)?\s*")
_TYPES_BY_NAME = {c.name: c for c in CAPACITY_TYPES}


class InvalidRules(ValueError):
    """A rules file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Metric:
    """What a rule measures: a field of a capacity type's region total, or whether the region is up.

    :param text: the metric as written, e.g. ``MEMORY.percent``.
    :param capacity: the capacity type (``None`` for ``region_up``).
    :param field: ``percent``, ``used``, ``free`` or ``region_up``.
    """

    text: str
    capacity: CapacityType | None
    field: str

    def read(self, reading: Reading | None) -> float | None:
        """The metric's value at one reading; ``None`` when there is no data for it."""
        if reading is None:
            return None
        if self.capacity is None:
            return 1.0 if reading.up else 0.0
        if not reading.up or self.capacity.type not in reading.totals:
            return None
        used, total = reading.totals[self.capacity.type]
        if self.field == "used":
            return float(used)
        if self.field == "free":
            return float(total - used)
        return 100.0 * used / total if total else None

    def describe(self, value: float) -> str:
        """``value`` in the metric's unit, for messages."""
        if self.field == "percent":
            return f"{value:.1f} %"
        if self.capacity is not None and self.capacity.unit == "bytes":
            return f"{value / BYTE_SUFFIXES['GiB']:.1f} GiB"
        unit = f" {self.capacity.unit}" if self.capacity is not None and self.capacity.unit != "count" else ""
        return f"{value:g}{unit}"


@dataclass(frozen=True)
class NotifierSpec:
    """An Airflow notifier class (dotted path) and the keyword arguments to build it with."""

    class_path: str = DEFAULT_NOTIFIER
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """One monitoring rule (see the module documentation for the file format).

    :param name: unique name, stored in each alert.
    :param metric: what is measured.
    :param op: ``>``, ``>=``, ``<`` or ``<=``.
    :param threshold: the threshold, in the metric's unit.
    :param condition: the condition as written.
    :param for_samples: consecutive samples the condition must hold before the alert opens.
    :param regions: the region names it watches, ``None`` for all.
    :param severity: ``info``, ``warning`` or ``critical``.
    :param actions: a subset of ``alert``, ``notify``, ``mark_full`` (always with ``alert``).
    :param notifier: the notifier used by ``notify`` (``None`` without ``notify``).
    """

    name: str
    metric: Metric
    op: str
    threshold: float
    condition: str
    for_samples: int
    regions: frozenset[str] | None
    severity: str
    actions: frozenset[str]
    notifier: NotifierSpec | None

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition."""
        return OPERATORS[self.op](value, self.threshold)

    def watches(self, region: str) -> bool:
        """Whether the rule applies to region ``region``."""
        return self.regions is None or region in self.regions


def load_rules(path: Path | str) -> list[Rule]:
    """Read and validate a rules file.

    :raises InvalidRules: naming the file and the rule, when the file cannot be used.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidRules(f"monitoring rules {path}: cannot be read: {exc}") from exc
    return parse_rules(document, str(path))


def parse_rules(document: Any, source: str) -> list[Rule]:
    """Validate the decoded rules document (a mapping with a ``rules`` list).

    :param document: the decoded YAML.
    :param source: where it came from, for error messages.
    :raises InvalidRules: naming the source and the rule.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise InvalidRules(f"monitoring rules {source}: expected a mapping with a 'rules' list")
    rules: list[Rule] = []
    for index, entry in enumerate(document["rules"], start=1):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        label = f"rule {name!r}" if isinstance(name, str) and name else f"rule #{index}"
        try:
            rule = _parse_rule(entry)
        except ValueError as exc:
            raise InvalidRules(f"monitoring rules {source}: {label}: {exc}") from exc
        if any(r.name == rule.name for r in rules):
            raise InvalidRules(f"monitoring rules {source}: {label}: the name is used by another rule")
        rules.append(rule)
    return rules


def _parse_rule(entry: Any) -> Rule:
    if not isinstance(entry, Mapping):
        raise ValueError(f"expected a mapping, got {entry!r}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} (allowed: {sorted(_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("needs 'name', a non-empty string")
    metric = _parse_metric(entry.get("metric"))
    op, threshold = _parse_condition(entry.get("condition"), metric)
    for_samples = entry.get("for", 1)
    if isinstance(for_samples, bool) or not isinstance(for_samples, int) or for_samples < 1:
        raise ValueError(f"'for' must be a whole number of samples >= 1 (got {for_samples!r})")
    severity = entry.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ValueError(f"'severity' must be one of {list(SEVERITIES)} (got {severity!r})")
    actions = entry.get("actions", ["alert"])
    if not isinstance(actions, list) or not actions or not set(actions) <= set(ACTIONS):
        raise ValueError(f"'actions' must be a list of {list(ACTIONS)} (got {actions!r})")
    if "alert" not in actions:
        raise ValueError("'actions' must include 'alert': notify and mark_full act on the open alert")
    return Rule(
        name=name.strip(),
        metric=metric,
        op=op,
        threshold=threshold,
        condition=str(entry["condition"]).strip(),
        for_samples=for_samples,
        regions=_parse_regions(entry.get("regions", "all")),
        severity=severity,
        actions=frozenset(actions),
        notifier=_parse_notifier(entry.get("notifier"), "notify" in actions),
    )


def _parse_metric(value: Any) -> Metric:
    if value == REGION_UP:
        return Metric(REGION_UP, None, REGION_UP)
    names = ", ".join(_TYPES_BY_NAME)
    if not isinstance(value, str) or value.count(".") != 1:
        raise ValueError(
            f"'metric' must be region_up or <capacity type>.<{'|'.join(FIELDS)}> (got {value!r})"
        )
    type_name, field_name = value.split(".")
    if type_name not in _TYPES_BY_NAME:
        raise ValueError(f"'metric' {value!r}: unknown capacity type {type_name!r} (known: {names})")
    if field_name not in FIELDS:
        raise ValueError(f"'metric' {value!r}: the field must be one of {list(FIELDS)}")
    return Metric(value, _TYPES_BY_NAME[type_name], field_name)


def _parse_condition(value: Any, metric: Metric) -> tuple[str, float]:
    match = _CONDITION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"'condition' must be a quoted string like \">= 90\" (one of {list(OPERATORS)} and a number), "
            f"got {value!r}"
        )
    op, number, suffix = match.groups()
    threshold = float(number)
    if suffix == "%":
        if metric.field != "percent":
            raise ValueError(f"'condition' {value!r}: '%' only applies to a .percent metric")
    elif suffix is not None:
        if metric.capacity is None or metric.capacity.unit != "bytes" or metric.field == "percent":
            raise ValueError(f"'condition' {value!r}: {suffix} only applies to .used or .free of a byte type")
        threshold *= BYTE_SUFFIXES[suffix]
    return op, threshold


def _parse_regions(value: Any) -> frozenset[str] | None:
    if value == "all":
        return None
    if not isinstance(value, list) or not value or not all(isinstance(r, str) and r for r in value):
        raise ValueError(f"'regions' must be 'all' or a non-empty list of region names (got {value!r})")
    return frozenset(value)


def _parse_notifier(value: Any, notifies: bool) -> NotifierSpec | None:
    if value is None:
        return NotifierSpec() if notifies else None
    if not notifies:
        raise ValueError("'notifier' is given but 'actions' has no 'notify'")
    if not isinstance(value, Mapping) or set(value) - {"class", "args"}:
        raise ValueError(f"'notifier' must be a mapping with 'class' and optional 'args' (got {value!r})")
    spec = NotifierSpec(value.get("class", DEFAULT_NOTIFIER), dict(value.get("args") or {}))
    notifier_class(spec)
    return spec


def notifier_class(spec: NotifierSpec) -> type:
    """Import the notifier class named by ``spec``.

    :raises ValueError: when it cannot be imported or is not an Airflow ``BaseNotifier``.
    """
    from airflow.sdk import BaseNotifier

    module_name, _, class_name = spec.class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"notifier class {spec.class_path!r} cannot be imported: {exc}") from exc
    if not isinstance(found, type) or not issubclass(found, BaseNotifier):
        raise ValueError(f"notifier class {spec.class_path!r} is not an Airflow BaseNotifier")
    return found


def evaluate_rules(engine: Engine, rules: list[Rule], sampled_at: datetime) -> list[AlertChange]:
    """Evaluate ``rules`` on the regions swept at ``sampled_at``; open and clear alerts.

    Run it after the sweep's rows are written (and ``mark_missing``); running it again for the same
    sample time changes nothing more.

    :param engine: the MECA data database.
    :param rules: the rules (all of them: open alerts of rules not in the list are cleared).
    :param sampled_at: the sweep's sample time.
    :return: the alerts opened and cleared, in rule order.
    """
    depth = max((rule.for_samples for rule in rules), default=1)
    types = {rule.metric.capacity.type for rule in rules if rule.metric.capacity is not None}
    changes: list[AlertChange] = []
    with Session(engine) as session, session.begin():
        histories = recent_history(session, sampled_at, depth, types)
        alerts = open_alerts(session)
        evaluated: set[tuple[str, str]] = set()
        for rule in rules:
            for history in histories:
                if rule.watches(history.region):
                    evaluated.add((rule.name, history.region))
                    change = _evaluate(session, rule, history, alerts.get((rule.name, history.region)))
                    if change is not None:
                        changes.append(change)
        for (rule_name, region), alert in sorted(alerts.items()):
            if (rule_name, region) not in evaluated:
                message = (
                    f"cleared: rule {rule_name!r} no longer watches region {region} (or it was not swept)"
                )
                changes.append(clear_alert(alert, region, message, None, sampled_at))
    return changes


def _evaluate(
    session: Session, rule: Rule, history: RegionHistory, alert: models.Alert | None
) -> AlertChange | None:
    values = [rule.metric.read(reading) for reading in history.window(rule.for_samples)]
    latest, at = values[0], history.latest.sampled_at
    if latest is None:
        return None
    if alert is not None:
        if rule.holds(latest):
            alert.last_seen_at = at
            alert.value = latest
            return None
        message = f"cleared: {rule.metric.text} is {rule.metric.describe(latest)}, no longer {rule.condition}"
        return clear_alert(alert, history.region, message, latest, at)
    if len(values) < rule.for_samples or not all(v is not None and rule.holds(v) for v in values):
        return None
    message = (
        f"{rule.metric.text} {rule.condition} for {rule.for_samples} consecutive sample(s): "
        f"now {rule.metric.describe(latest)}"
    )
    if rule.metric.capacity is None and history.latest.error:
        message += f"; last error: {history.latest.error}"
    return open_alert(
        session,
        rule=rule.name,
        region_id=history.region_id,
        region=history.region,
        severity=rule.severity,
        message=message,
        value=latest,
        marks_full="mark_full" in rule.actions,
        at=at,
    )
