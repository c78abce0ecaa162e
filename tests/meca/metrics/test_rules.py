from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from meca.metrics.alerts import AlertChange, regions_marked_full
from meca.metrics.notifier import NotificationError, notify_changes
from meca.metrics.rules import InvalidRules, Rule, evaluate_rules, load_rules, parse_rules
from meca.store import models
from tests.meca.metrics.sweep_fixtures import RecordingNotifier, Sweeps

REPO = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
MEMORY, PRIVATE_IP = 0, 5
GIB = 1024**3
RECORDER = "tests.meca.metrics.sweep_fixtures.RecordingNotifier"


def _rules(*entries: dict[str, Any]) -> list[Rule]:
    return parse_rules({"rules": list(entries)}, "test")


MEMORY_HIGH = {
    "name": "memory-high",
    "metric": "MEMORY.percent",
    "condition": ">= 90",
    "for": 3,
    "regions": ["alpha", "beta"],
    "severity": "warning",
    "actions": ["alert", "mark_full"],
}
REGION_DOWN = {
    "name": "region-down",
    "metric": "region_up",
    "condition": "< 1",
    "for": 2,
    "severity": "critical",
    "actions": ["alert"],
}


def _memory(percent: int) -> dict[int, list[tuple[int, int]]]:
    """Two zones of 100 GiB each, ``percent`` used overall."""
    return {MEMORY: [(percent * GIB, 100 * GIB), (percent * GIB, 100 * GIB)], PRIVATE_IP: [(3, 10)]}


def _sweep(sweeps: Sweeps, at: datetime, **regions: int | str) -> None:
    """One sweep: a region given a number is up with that memory percent, a string is its error."""
    for name, state in regions.items():
        if isinstance(state, str):
            sweeps.error(name, at, state)
        else:
            sweeps.ok(name, at, _memory(state))


def _summary(changes: list[AlertChange]) -> list[tuple[str, str, str]]:
    return [(c.change, c.rule, c.region) for c in changes]


def test_the_shipped_rules_file_is_valid() -> None:
    rules = load_rules(REPO / "include" / "monitoring_rules.yaml")
    by_name = {rule.name: rule for rule in rules}
    assert by_name["region-down"].metric.field == "region_up"
    assert by_name["memory-nearly-full"].threshold == 90
    assert "mark_full" in by_name["memory-nearly-full"].actions
    assert all(rule.notifier is not None for rule in rules if "notify" in rule.actions)


def test_alerts_open_after_n_consecutive_samples_and_clear_when_the_condition_clears(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    rules = _rules(MEMORY_HIGH, REGION_DOWN)
    timeline = [
        {"alpha": 95, "beta": 95, "gamma": 50},
        {"alpha": 95, "beta": "region beta: listCapacity: HTTP 503", "gamma": "region gamma: timed out"},
        {"alpha": 96, "beta": 95, "gamma": "region gamma: timed out"},
        {"alpha": 50, "beta": 95, "gamma": 40},
        {"alpha": 50, "beta": 97, "gamma": 40},
        {"alpha": 50, "beta": "region beta: HTTP 401", "gamma": 40},
    ]
    changes = []
    for i, regions in enumerate(timeline):
        _sweep(sweeps, T0 + i * STEP, **regions)
        changes.append(_summary(evaluate_rules(data_engine, rules, T0 + i * STEP)))
        if i == 2:
            assert regions_marked_full(data_engine) == {"alpha"}

    assert changes == [
        [],
        [],  # a single failed sweep is not enough for region-down (for: 2)
        [("opened", "memory-high", "alpha"), ("opened", "region-down", "gamma")],
        [("cleared", "memory-high", "alpha"), ("cleared", "region-down", "gamma")],
        [("opened", "memory-high", "beta")],  # the failed sweep of beta broke its run until now
        [],  # beta failed: no data, its memory alert stays open; one failure is not region-down
    ]
    assert regions_marked_full(data_engine) == {"beta"}
    with Session(data_engine) as session:
        alerts = {(a.rule, a.opened_at): a for a in session.scalars(select(models.Alert))}
    gamma_down = alerts["region-down", T0 + 2 * STEP]
    assert gamma_down.cleared_at == T0 + 3 * STEP
    assert gamma_down.severity == "critical"
    assert "last error: region gamma: timed out" in gamma_down.message
    beta_memory = alerts["memory-high", T0 + 4 * STEP]
    assert (beta_memory.cleared_at, beta_memory.last_seen_at) == (None, T0 + 4 * STEP)
    assert beta_memory.value == pytest.approx(97.0)
    assert beta_memory.marks_full is True
    assert "MEMORY.percent >= 90 for 3 consecutive sample(s): now 97.0 %" in beta_memory.message


def test_evaluating_the_same_sample_again_changes_nothing(sweeps: Sweeps, data_engine: Engine) -> None:
    rules = _rules({**MEMORY_HIGH, "for": 1})
    _sweep(sweeps, T0, alpha=91)
    assert _summary(evaluate_rules(data_engine, rules, T0)) == [("opened", "memory-high", "alpha")]
    assert evaluate_rules(data_engine, rules, T0) == []
    with Session(data_engine) as session:
        assert session.scalar(select(func.count()).select_from(models.Alert)) == 1


def test_free_and_used_thresholds_in_bytes_and_regions_not_watched(
    sweeps: Sweeps, data_engine: Engine
) -> None:
    rules = _rules(
        {"name": "memory-free-low", "metric": "MEMORY.free", "condition": "< 20 GiB", "regions": ["beta"]},
        {"name": "ips", "metric": "PRIVATE_IP.used", "condition": ">= 3", "regions": "all"},
    )
    _sweep(sweeps, T0, alpha=95, beta=95)  # 10 GiB free of 200 GiB
    changes = evaluate_rules(data_engine, rules, T0)
    assert _summary(changes) == [
        ("opened", "memory-free-low", "beta"),
        ("opened", "ips", "alpha"),
        ("opened", "ips", "beta"),
    ]
    assert changes[0].value == 10 * GIB
    assert "now 10.0 GiB" in changes[0].message


def test_alerts_of_rules_no_longer_declared_are_cleared(sweeps: Sweeps, data_engine: Engine) -> None:
    _sweep(sweeps, T0, alpha=95)
    evaluate_rules(data_engine, _rules({**MEMORY_HIGH, "for": 1}), T0)
    _sweep(sweeps, T0 + STEP, alpha=95)
    changes = evaluate_rules(data_engine, [], T0 + STEP)
    assert _summary(changes) == [("cleared", "memory-high", "alpha")]
    assert "no longer watches" in changes[0].message
    assert regions_marked_full(data_engine) == set()


def test_notify_calls_the_rules_airflow_notifier_with_the_alert(
    sweeps: Sweeps, data_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    RecordingNotifier.sent.clear()
    rules = _rules(
        {
            **MEMORY_HIGH,
            "for": 1,
            "actions": ["alert", "notify"],
            "notifier": {
                "class": RECORDER,
                "args": {"text": "{{ meca_alert.change }} {{ meca_alert.rule }} {{ meca_alert.region }}"},
            },
        },
        {**REGION_DOWN, "for": 1, "actions": ["alert", "notify"]},
    )
    _sweep(sweeps, T0, alpha=95, beta="region beta: connection refused")
    changes = evaluate_rules(data_engine, rules, T0)
    capsys.readouterr()
    assert notify_changes(changes, rules, {"run_id": "test"}) == 2
    assert RecordingNotifier.sent == ["opened memory-high alpha"]
    logged = capsys.readouterr().out  # the task log, as Airflow's structlog writes it
    assert "MECA alert opened: [critical] region-down on region beta: region_up < 1" in logged
    assert "last error: region beta: connection refused" in logged


def test_a_failing_notifier_does_not_stop_the_others(sweeps: Sweeps, data_engine: Engine) -> None:
    RecordingNotifier.sent.clear()
    broken = {"class": RECORDER, "args": {"txt": "typo"}}
    working = {"class": RECORDER, "args": {"text": "{{ meca_alert.region }}"}}
    rules = _rules(
        {**MEMORY_HIGH, "name": "broken", "for": 1, "actions": ["alert", "notify"], "notifier": broken},
        {**MEMORY_HIGH, "name": "working", "for": 1, "actions": ["alert", "notify"], "notifier": working},
    )
    _sweep(sweeps, T0, alpha=95)
    changes = evaluate_rules(data_engine, rules, T0)
    with pytest.raises(NotificationError, match=r"rule 'broken', region alpha: TypeError"):
        notify_changes(changes, rules, {})
    assert RecordingNotifier.sent == ["alpha"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "MEMRY.percent"}, "unknown capacity type 'MEMRY'"),
        ({"metric": "MEMORY.avg"}, "the field must be one of"),
        ({"metric": 3}, "'metric' must be region_up or"),
        ({"condition": 90}, "'condition' must be a quoted string"),
        ({"condition": "== 90"}, "'condition' must be a quoted string"),
        ({"condition": ">= 90 GiB"}, "GiB only applies to .used or .free of a byte type"),
        ({"metric": "MEMORY.used", "condition": "> 5 %"}, "'%' only applies to a .percent metric"),
        ({"metric": "CPU.free", "condition": "< 5 GiB"}, "GiB only applies to .used or .free of a byte type"),
        ({"for": 0}, "'for' must be a whole number of samples >= 1"),
        ({"fro": 3}, "unknown keys ['fro']"),
        ({"severity": "urgent"}, "'severity' must be one of"),
        ({"actions": ["notify"]}, "'actions' must include 'alert'"),
        ({"actions": ["alert", "page"]}, "'actions' must be a list of"),
        ({"regions": "alpha"}, "'regions' must be 'all' or a non-empty list"),
        ({"notifier": {"class": RECORDER}}, "'notifier' is given but 'actions' has no 'notify'"),
        (
            {"actions": ["alert", "notify"], "notifier": {"class": "meca.nowhere.Notifier"}},
            "notifier class 'meca.nowhere.Notifier' cannot be imported",
        ),
        (
            {"actions": ["alert", "notify"], "notifier": {"class": "meca.metrics.rules.Rule"}},
            "is not an Airflow BaseNotifier",
        ),
    ],
)
def test_invalid_rules_are_refused_naming_the_rule(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRules) as caught:
        _rules({**MEMORY_HIGH, **change})
    assert "monitoring rules test: rule 'memory-high': " in str(caught.value)
    assert message in str(caught.value)


def test_file_level_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [MEMORY_HIGH, MEMORY_HIGH]}))
    with pytest.raises(InvalidRules, match=r"rule 'memory-high': the name is used by another rule"):
        load_rules(path)
    path.write_text("rules:\n  - name: x\n    condition: > 90\n")
    with pytest.raises(InvalidRules, match=rf"monitoring rules {path}: cannot be read"):
        load_rules(path)
    path.write_text("- just a list")
    with pytest.raises(InvalidRules, match="expected a mapping with a 'rules' list"):
        load_rules(path)
    with pytest.raises(InvalidRules, match="rule #1: needs 'name'"):
        parse_rules({"rules": [{"metric": "region_up"}]}, "test")
