from __future__ import annotations

import contextlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from meca.metrics.rollups import rebuild_rollups
from meca.metrics.rules import evaluate_rules, parse_rules
from tests.meca.metrics.sweep_fixtures import Sweeps

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-model.md"
BLOCK = re.compile(r"```(sql|python)\n(.*?)```", re.DOTALL)
START = datetime(2026, 6, 29, tzinfo=UTC)
STEP = timedelta(hours=2)
SAMPLES = 30  # 2.5 days, across the end of June
GIB = 1024**3


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def _fill(sweeps: Sweeps) -> None:
    """Two regions; beta fails the last sweep (stale), alpha's memory is high (an open alert)."""
    for i in range(SAMPLES):
        at = START + i * STEP
        for number, region in enumerate(("alpha", "beta"), start=1):
            if region == "beta" and i == SAMPLES - 1:
                sweeps.error(region, at, "region beta: listCapacity: HTTP 503")
                continue
            sweeps.ok(
                region,
                at,
                {
                    0: [((40 + i + number) * GIB, 64 * GIB), (10 * GIB, 64 * GIB)],
                    1: [(1000 * i, 64_000)],
                    2: [(i * GIB, 1000 * GIB)],
                    5: [(3, 10)],
                },
                vms={"Running": i, "Stopped": 1},
            )
    last = START + (SAMPLES - 1) * STEP
    rebuild_rollups(sweeps.engine, START, last + STEP)
    rules = parse_rules({"rules": [{"name": "memory", "metric": "MEMORY.percent", "condition": "> 50"}]}, "t")
    assert evaluate_rules(sweeps.engine, rules, last)


def test_the_doc_has_the_examples_it_promises() -> None:
    assert len(_blocks("sql")) >= 3
    assert len(_blocks("python")) >= 2


@pytest.fixture
def filled(sweeps: Sweeps) -> Engine:
    _fill(sweeps)
    return sweeps.engine


def test_every_sql_example_runs_and_returns_rows(filled: Engine) -> None:
    with filled.connect() as connection:
        for sql in _blocks("sql"):
            rows = connection.execute(text(sql)).all()
            assert rows, f"no row from the example:\n{sql}"


def test_the_stale_region_example_names_the_failed_region(filled: Engine) -> None:
    stale = next(sql for sql in _blocks("sql") if "h.status <> 'ok'" in sql)
    with filled.connect() as connection:
        rows = connection.execute(text(stale)).mappings().all()
    assert [(r["region"], r["status"]) for r in rows] == [("beta", "error")]
    assert rows[0]["error"] == "region beta: listCapacity: HTTP 503"


def test_every_pandas_example_runs(filled: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MECA_DATA_DB_URL", filled.url.render_as_string(hide_password=False))
    for code in _blocks("python"):
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(code, str(DOC), "exec"), {})
        assert output.getvalue().strip(), f"the example printed nothing:\n{code}"
