"""The booking API of ``docs/sessions.md`` (section "4. The booking API"), run as documented.

In the real multi-process Airflow with the seed federation: the documented ``curl`` books a session
(decided, booked and its run created, 201). Once MECA-PolITO is full for that slot, the same command
for MECA-PolITO is refused with the reasons and the alternatives (nothing more created), and posting
an alternative's ``conf`` books it. Every session is cancelled at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.test_session_e2e import (
    DOC_END,
    DOC_HOST,
    DOC_INSTANCES,
    DOC_PASSWORD,
    DOC_START,
    REST,
    _replace_once,
    documented_commands,
)

pytestmark = pytest.mark.e2e

DAG_ID = "meca_classroom_session"
SECTION = "4. The booking API"
BOOKINGS = "/meca/calendar/api/bookings"
#: The most VMs one session may have (include/sessions.yaml).
MAX_VMS = 40


def run_block(
    cluster: AirflowCluster, start: datetime, instances: int, region: str = "any"
) -> tuple[int, Any]:
    """The documented booking command after the token commands of section 2; its status and JSON."""
    first = documented_commands(REST)[0]
    booking = documented_commands(SECTION)[0].replace(
        "curl -s -X POST", "curl -s -w '\\n%{http_code}' -X POST", 1
    )
    script = first.split('curl -s -X POST "$AIRFLOW/api/v2/', 1)[0] + booking
    replacements = {
        DOC_HOST: cluster.base_url,
        DOC_PASSWORD: cluster.password,
        DOC_START: start.isoformat(),
        DOC_END: (start + timedelta(hours=2)).isoformat(),
        DOC_INSTANCES: f'"instances": {instances}',
        '"region": "any"': f'"region": "{region}"',
    }
    for old, new in replacements.items():
        script = _replace_once(script, old, new)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"the documented commands failed:\n{script}\n{done.stderr}"
    body, status = done.stdout.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_the_documented_booking_call_books_refuses_with_alternatives_and_books_one(
    airflow_cluster: AirflowCluster,
) -> None:
    cluster = airflow_cluster
    cluster.wait_for_dag(DAG_ID)
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    booked: list[str] = []
    try:
        status, session = run_block(cluster, start, 2)
        assert status == 201, session
        booked.append(session["session_id"])
        assert session["state"] == "accepted"
        run = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{quote(session['run_id'], safe='')}").json()
        assert run["note"] == "Cloud computing lab 3 · ann@polito.it"

        # MECA-PolITO filled for the slot by operators' bookings, but for one VM.
        room = _room(cluster, start, "MECA-PolITO")
        while room > 1:
            blocker = cluster.http("POST", BOOKINGS, json=_conf(start, "MECA-PolITO", min(room - 1, MAX_VMS)))
            assert blocker.status_code == 201, blocker.text
            booked.append(blocker.json()["session_id"])
            room = _room(cluster, start, "MECA-PolITO")
        runs_before = _runs(cluster)
        status, refused = run_block(cluster, start, 2, region="MECA-PolITO")
        assert status == 422, refused
        assert any("MECA-PolITO has room for only 1 VM(s)" in line for line in refused["detail"]), refused
        assert refused["alternatives"], refused
        assert _runs(cluster) == runs_before  # nothing created

        alternative = refused["alternatives"][0]
        taken = cluster.http("POST", BOOKINGS, json=alternative["conf"])
        assert taken.status_code == 201, (alternative, taken.text)
        booked.append(taken.json()["session_id"])
    finally:
        for session_id in booked:
            cluster.http("POST", f"/meca/sessions/api/sessions/{quote(session_id, safe='')}/cancel", json={})


def _conf(start: datetime, region: str, instances: int) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat(),
        "title": "Blocker",
        "owner": "ann@polito.it",
        "region": region,
        "template": "Ubuntu-22.04-Server",
        "instances": instances,
        "offering": "Small",
    }


def _room(cluster: AirflowCluster, start: datetime, region: str) -> int:
    """How many Small VMs the region has room for in the slot, as the check says it."""
    answer = cluster.http("POST", "/meca/calendar/api/check", json=_conf(start, region, 1))
    if answer.status_code == 422:
        return 0
    assert answer.status_code == 200, answer.text
    found = re.search(r"room for (\d+) VM\(s\)", " ".join(answer.json()["reasons"]))
    assert found, answer.json()
    return int(found.group(1))


def _runs(cluster: AirflowCluster) -> int:
    return int(cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 1}).json()["total_entries"])
