"""The README's two commands and CI's script: ``scripts/demo``, ``scripts/test``, ``.ci/run``.

The demo tests run the real script. Each uses its own run directory (``MECA_DEMO_RUN_DIR``),
and so its own process marker, so a developer's demo running beside them is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "scripts" / "demo"
VENV = os.environ.get("MECA_VENV", str(REPO / ".venv"))


def _run(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _marked_pids(run_dir: Path) -> list[int]:
    """PIDs whose environment carries the marker of the demo that uses ``run_dir``."""
    marker = f"MECA_DEMO_MARKER=meca-demo:{run_dir}".encode()
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_test_one_verbatim():
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", (REPO / "README.md").read_text(), re.MULTILINE | re.DOTALL)
    assert blocks, "README.md has no code block"
    assert blocks[0].splitlines() == ["scripts/demo", "scripts/test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r'^stage "[^"]*" scripts/test$', ci, re.MULTILINE), (
        ".ci/run never runs plain scripts/test"
    )


def test_demo_refuses_a_busy_port_and_starts_nothing(tmp_path, listening_port):
    result = _run(
        DEMO, "--detach", env={"MECA_DEMO_PORT": str(listening_port), "MECA_DEMO_RUN_DIR": str(tmp_path)}
    )
    assert result.returncode == 1
    assert f"port {listening_port} is busy" in result.stderr
    assert "MECA_DEMO_PORT=" in result.stderr  # says how to choose another one
    assert not (tmp_path / "simulator.pgid").exists()
    assert _marked_pids(tmp_path) == []


def test_demo_refuses_a_port_that_is_not_a_number(tmp_path):
    result = _run(DEMO, "--detach", env={"MECA_DEMO_PORT": "80a", "MECA_DEMO_RUN_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "MECA_DEMO_PORT='80a' is not a TCP port number" in result.stderr


def test_demo_status_and_stop_when_nothing_runs(tmp_path):
    status = _run(DEMO, "--status", env={"MECA_DEMO_RUN_DIR": str(tmp_path)})
    assert status.returncode == 3
    assert "simulator: not running" in status.stdout
    assert "airflow: not running" in status.stdout
    stop = _run(DEMO, "--stop", env={"MECA_DEMO_RUN_DIR": str(tmp_path)})
    assert stop.returncode == 0, stop.stderr
    assert "no demo process left" in stop.stdout


def test_demo_rejects_an_unknown_option():
    result = _run(DEMO, "--bogus")
    assert result.returncode == 1
    assert "unknown option '--bogus'" in result.stderr


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    """A copy of the repository's scripts and packaging with one test module of our own.

    ``scripts/test`` runs there against the real venv, and ``ruff check .`` sees only this copy.
    The venv must be up to date: a stale one would be re-synced with the copy installed in it.
    """
    check = _run(REPO / "scripts" / "bootstrap", "--check")
    if check.returncode != 0:
        pytest.fail(f"{check.stdout.strip()} (these tests must not re-sync .venv from a copy)")
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    for name in ("scripts/bootstrap", "scripts/test", "pyproject.toml", "requirements.txt"):
        shutil.copy2(REPO / name, copy / name)
    (copy / "tests").mkdir()
    (copy / "tests" / "test_sample.py").write_text(
        "from __future__ import annotations\n\n\ndef test_fails():\n    assert 1 == 2\n"
    )
    return copy


def test_scripts_test_treats_no_collected_test_as_success(small_repo):
    venv = {"MECA_VENV": VENV}
    result = _run(small_repo / "scripts" / "test", "-k", "no_test_has_this_name", env=venv, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pytest collected no test for this selection" in result.stdout


def test_scripts_test_passes_a_failing_status_through(small_repo):
    result = _run(small_repo / "scripts" / "test", env={"MECA_VENV": VENV}, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed" in result.stdout


def test_scripts_test_stops_at_the_first_ruff_finding(small_repo):
    (small_repo / "tests" / "test_sample.py").write_text("import os\n")  # unused, no __future__ import
    result = _run(small_repo / "scripts" / "test", env={"MECA_VENV": VENV}, timeout=300)
    assert result.returncode == 1
    assert "F401" in result.stdout
    assert "test: pytest" not in result.stdout


def test_bootstrap_check_reports_a_missing_venv(tmp_path):
    result = _run(REPO / "scripts" / "bootstrap", "--check", env={"MECA_VENV": str(tmp_path / "no-venv")})
    assert result.returncode == 1
    assert "is missing or older than requirements.txt" in result.stdout
    assert not (tmp_path / "no-venv").exists()


@pytest.mark.e2e
def test_demo_runs_the_region_check_and_the_sweep_serves_the_dashboard_and_stops_clean(tmp_path):
    run_dir = tmp_path / "demo"
    port = _free_port()
    env = {"MECA_DEMO_PORT": str(port), "MECA_DEMO_RUN_DIR": str(run_dir)}
    try:
        started = _run(DEMO, "--detach", env=env, timeout=600)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "first run of meca_region_check: success (10 of 10 region checks succeeded)" in started.stdout
        assert "first run of meca_metrics_sweep: success (10 of 10 regions swept)" in started.stdout
        password = (run_dir / "admin-password").read_text().strip()
        assert f"login admin / {password}" in started.stdout
        assert f"http://localhost:{port}" in started.stdout
        assert f"Dashboard:  http://localhost:{port}/meca/dashboard/" in started.stdout

        # The runs the demo reported, read back over REST with the printed login.
        demo = json.loads((run_dir / "demo.json").read_text())
        base = f"http://127.0.0.1:{port}"
        token = requests.post(
            f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=30
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        run = requests.get(
            f"{base}/api/v2/dags/meca_region_check/dagRuns/{demo['run_id']}", headers=auth, timeout=30
        )
        assert run.json()["state"] == "success"
        sweep = requests.get(
            f"{base}/api/v2/dags/meca_metrics_sweep/dagRuns/{demo['sweep_run_id']}", headers=auth, timeout=30
        )
        assert sweep.json()["state"] == "success"
        dag = requests.get(f"{base}/api/v2/dags/meca_metrics_sweep", headers=auth, timeout=30).json()
        assert dag["is_paused"] is False  # so the scheduler sweeps every 5 minutes
        dags = requests.get(f"{base}/api/v2/dags", headers=auth, params={"limit": 100}, timeout=30).json()
        paused = {d["dag_id"] for d in dags["dags"] if d["is_paused"]}
        assert paused == set(), paused  # a first booking must not wait on a paused session DAG
        calendar = requests.get(f"{base}/meca/calendar/", headers=auth, timeout=30)
        assert "Bookings are on hold" not in calendar.text

        # The dashboard's JSON answers the admin token (and nobody without one) with the swept regions;
        # memory is in use although no VM exists: the simulator's background load.
        summary_url = f"{base}/meca/dashboard/api/summary"
        assert requests.get(summary_url, timeout=30).status_code == 401
        summary = requests.get(summary_url, headers=auth, timeout=30)
        assert summary.status_code == 200, summary.text
        regions = summary.json()["regions"]
        assert len(regions) == 10
        assert [r["name"] for r in regions if r["stale"]] == []
        assert all(sum(r["vm_states"].values()) == 0 for r in regions)
        memory = {t["name"]: t for t in summary.json()["totals"]}["MEMORY"]
        assert 0 < memory["used"] < memory["total"]
        page = requests.get(f"{base}/meca/dashboard/", headers=auth, timeout=30)
        assert page.status_code == 200
        assert "MECA-eWorks" in page.text

        status = _run(DEMO, "--status", env=env)
        assert status.returncode == 0
        assert "scheduler healthy" in status.stdout
        assert f"dashboard at http://localhost:{port}/meca/dashboard/" in status.stdout
        assert _marked_pids(run_dir)
    finally:
        stopped = _run(DEMO, "--stop", env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "no demo process left" in stopped.stdout
    assert _marked_pids(run_dir) == []
