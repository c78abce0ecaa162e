"""Notify the alert changes of the monitoring rules through Airflow notifiers.

A rule with the ``notify`` action names a ``BaseNotifier`` class (default :class:`LogNotifier`) and
its keyword arguments. For each change the sweep's final task builds the notifier and calls it with
the task's context plus ``meca_alert`` (:meth:`AlertChange.to_dict`), so templated fields of any
notifier can use it, e.g. ``text: "{{ meca_alert.region }}: {{ meca_alert.message }}"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import BaseNotifier

from meca.metrics.alerts import AlertChange
from meca.metrics.rules import Rule, notifier_class

DEFAULT_MESSAGE = (
    "MECA alert {{ meca_alert.change }}: [{{ meca_alert.severity }}] {{ meca_alert.rule }} "
    "on region {{ meca_alert.region }}: {{ meca_alert.message }}"
)


class NotificationError(RuntimeError):
    """Some notifiers failed; the message names each rule, region and error."""


class LogNotifier(BaseNotifier):
    """Write the alert change to the task log, as a warning.

    :param message: a Jinja template rendered with the context (``meca_alert`` included).
    """

    template_fields = ("message",)

    def __init__(self, message: str = DEFAULT_MESSAGE) -> None:
        super().__init__()
        self.message = message

    def notify(self, context: Any) -> None:
        """Log the rendered message."""
        self.log.warning("%s", self.message)


def notify_changes(changes: Iterable[AlertChange], rules: Iterable[Rule], context: Mapping[str, Any]) -> int:
    """Call the notifier of each change whose rule has the ``notify`` action.

    Every notifier is tried even when one fails.

    :param changes: what :func:`meca.metrics.rules.evaluate_rules` returned.
    :param rules: the rules evaluated (changes of rules no longer declared are not notified).
    :param context: the Airflow task context.
    :return: how many notifications were sent.
    :raises NotificationError: after trying them all, when any notifier failed.
    """
    by_name = {rule.name: rule for rule in rules}
    sent = 0
    failures: list[str] = []
    for change in changes:
        rule = by_name.get(change.rule)
        if rule is None or rule.notifier is None:
            continue
        try:
            notifier = notifier_class(rule.notifier)(**rule.notifier.args)
            notifier({**context, "meca_alert": change.to_dict()})
        except Exception as exc:
            failures.append(f"rule {change.rule!r}, region {change.region}: {type(exc).__name__}: {exc}")
            continue
        sent += 1
    if failures:
        raise NotificationError(f"{len(failures)} notification(s) failed: " + "; ".join(failures))
    return sent
