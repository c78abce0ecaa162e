"""The teachers' calendar in headless Chromium, in a real multi-process Airflow with the seed federation.

A teacher (the cluster's admin, logged in through Airflow's login page, browser in Budapest time)
sees a session booked earlier over the REST API in its region's colour, is told everything wrong
with a bad request by **Reserve slot** (and nothing is created: no run, no booking), books a good one
(``POST api/bookings`` decides, books and creates the run itself, with a readable run id; the page
says "Booked in <region>: session <id>."; the session appears on the calendar), opens the session
page once it is ``running`` with its VMs Running, and stops them all with one click. At the end every
session that still holds its seats is cancelled and its run tears everything down.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests
from cs import CloudStack
from sqlalchemy import Engine, select

from cloudstack_simulator.testing import SimulatorHandle
from meca.sessions.states import HOLDING, RUNNING
from meca.sessions.tags import vm_name
from meca.store.models import SessionBooking
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

DAG_ID = "meca_classroom_session"
CALENDAR = "/meca/calendar/"
ZONE = ZoneInfo("Europe/Budapest")
TEMPLATE, OFFERING = "Ubuntu-22.04-Server", "Small"
EXISTING_REGION, NEW_REGION = "MECA-PolITO", "MECA-BME"
INSTANCES = 2
READABLE_ID = re.compile(r"\d{4}-\d{2}-\d{2}_[a-z0-9-]+_[0-9a-f]{4}")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def until(what: str, probe: Callable[[], Any], limit_s: float = 180.0) -> Any:
    """Call ``probe`` every half second until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + limit_s
    while not (result := probe()):
        assert time.monotonic() < deadline, f"never happened within {limit_s:.0f} s: {what}"
        time.sleep(0.5)
    return result


def reserve_state(cluster: AirflowCluster, run_id: str) -> str | None:
    tis = {ti["task_id"]: ti["state"] for ti in cluster.task_instances(DAG_ID, run_id)}
    return tis.get("reserve")


def runs(cluster: AirflowCluster) -> dict[str, dict[str, Any]]:
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {run["dag_run_id"]: run for run in response.json()["dag_runs"]}


def booking_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(SessionBooking.session_id)))


def session_api(session_id: str, action: str = "") -> str:
    return f"/meca/sessions/api/sessions/{quote(session_id, safe='')}" + (f"/{action}" if action else "")


def rgb(colour: str) -> str:
    """``#1f77b4`` as the computed style ``rgb(31, 119, 180)``."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def local_input(moment: datetime) -> str:
    """The value a teacher in Budapest types into a ``datetime-local`` field."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def session_states(handle: SimulatorHandle, region: str, session_id: str) -> dict[str, str]:
    """``{VM name: state}`` of the session's VMs, read with a plain ``cs`` client."""
    info = handle.region(region)
    api = CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])
    prefix = vm_name(session_id, 1)[:-2]
    vms = api.listVirtualMachines(listall=True, fetch_list=True)
    return {vm["name"]: vm["state"] for vm in vms if vm["name"].startswith(prefix)}


def show_week_of(page: Any, moment: datetime) -> None:
    """Show the week of ``moment``: this week or the next (the calendar's weeks start on Monday)."""
    today = page.locator(".fc-today-button")
    if today.is_enabled():
        today.click()
    if moment.astimezone(ZONE).date().isocalendar()[:2] != datetime.now(ZONE).date().isocalendar()[:2]:
        page.locator(".fc-next-button").click()


def test_a_teacher_books_sees_and_stops_a_session_in_chromium(
    airflow_cluster: AirflowCluster, seed_simulator: SimulatorHandle, e2e_data_engine: Engine, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    cluster = airflow_cluster
    colours = {region["name"]: region["colour"] for region in seed_simulator.endpoints["regions"]}
    cluster.wait_for_dag(DAG_ID)
    earlier = set(runs(cluster))  # other e2e tests may have run sessions in this cluster
    existing_start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
    existing = cluster.trigger(
        DAG_ID,
        {
            "start": existing_start.isoformat(),
            "end": (existing_start + timedelta(hours=1)).isoformat(),
            "title": "Packaging exercise",
            "owner": "teacher@polito.it",
            "region": EXISTING_REGION,
            "template": TEMPLATE,
            "instances": 1,
            "offering": OFFERING,
        },
    )
    until("the existing session to be booked", lambda: reserve_state(cluster, existing) == "success")
    booked: list[str] = [existing]
    started = time.monotonic()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(timezone_id=str(ZONE), viewport={"width": 1500, "height": 1100})
                page = context.new_page()
                page.goto(cluster.base_url + CALENDAR)
                page.wait_for_url("**/auth/login**")
                page.get_by_label("Username").fill(cluster.username)
                page.get_by_label("Password").fill(cluster.password)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(cluster.base_url + CALENDAR)
                expect(page.locator("#time-zone")).to_have_text("Europe/Budapest")

                show_week_of(page, existing_start)
                event = page.locator(f'.fc-event[data-session-id="{existing}"]')
                expect(event).to_be_visible()
                assert "Packaging exercise" in event.inner_text()
                assert event.evaluate("e => getComputedStyle(e).backgroundColor") == rgb(
                    colours[EXISTING_REGION]
                )
                legend = page.locator(f'.legend-region[data-region="{EXISTING_REGION}"] i')
                assert legend.evaluate("e => getComputedStyle(e).backgroundColor") == rgb(
                    colours[EXISTING_REGION]
                )

                form = page.locator("form#booking")
                yesterday = datetime.now(UTC) - timedelta(days=1)
                form.locator("[name=start]").fill(local_input(yesterday))
                form.locator("[name=end]").fill(local_input(yesterday - timedelta(hours=1)))
                form.locator("[name=instances]").fill("0")
                bookings_before = booking_ids(e2e_data_engine)
                form.get_by_role("button", name="Reserve slot").click()
                messages = page.locator("#outcome .messages.refused > ul:not(.alternatives) li")
                expect(messages).to_have_count(6)
                said = messages.all_inner_texts()
                assert any("must be after the start" in m for m in said), said
                assert any("is in the past" in m for m in said), said
                assert {"The title is missing.", "The owner is missing.", "The template is missing."} <= set(
                    said
                )
                assert "The number of instances must be at least 1 (got 0)." in said
                assert set(runs(cluster)) == earlier | {existing}
                assert booking_ids(e2e_data_engine) == bookings_before
                page.screenshot(path=str(tmp_path / "calendar-refused.png"), full_page=True)

                start = datetime.now(UTC) + timedelta(minutes=3)
                form.locator("[name=start]").fill(local_input(start))
                form.locator("[name=end]").fill(local_input(start + timedelta(minutes=30)))
                form.locator("[name=title]").fill("Budapest workspace session")
                form.locator("[name=owner]").fill("teacher@bme.hu")
                form.locator("[name=region]").select_option(NEW_REGION)
                form.locator("[name=template]").fill(TEMPLATE)
                form.locator("[name=instances]").fill(str(INSTANCES))
                form.locator("[name=comments]").fill("room 12")
                form.get_by_role("button", name="Reserve slot").click()
                accepted = page.locator("#outcome .messages.accepted")
                expect(accepted).to_be_visible(timeout=60_000)
                heading = accepted.locator("p").first.inner_text()
                said_booked = re.fullmatch(r"Booked in (\S+): session (\S+)\.", heading)
                assert said_booked, heading
                assert said_booked.group(1) == NEW_REGION
                new = said_booked.group(2)
                booked.append(new)
                assert READABLE_ID.fullmatch(new), new
                expect(accepted.get_by_role("link", name="Open the session")).to_be_visible()
                assert set(runs(cluster)) == earlier | {existing, new}
                assert new in booking_ids(e2e_data_engine)
                run = runs(cluster)[new]
                assert run["triggering_user_name"] == cluster.username
                assert run["note"] == "Budapest workspace session · teacher@bme.hu"
                assert run["conf"]["title"] == "Budapest workspace session"
                assert run["conf"]["region"] == NEW_REGION
                assert run["conf"]["instances"] == INSTANCES
                assert datetime.fromisoformat(run["conf"]["start"]) == start.replace(second=0, microsecond=0)
                show_week_of(page, start)
                new_event = page.locator(f'.fc-event[data-session-id="{new}"]')
                expect(new_event).to_be_visible()
                assert new_event.evaluate("e => getComputedStyle(e).backgroundColor") == rgb(
                    colours[NEW_REGION]
                )
                page.screenshot(path=str(tmp_path / "calendar-week.png"), full_page=True)
                page.locator(".fc-dayGridMonth-button").click()
                in_month = page.locator(f'.fc-event[data-session-id="{new}"]')
                expect(in_month).to_be_visible()
                assert in_month.evaluate("e => getComputedStyle(e).backgroundColor") == rgb(
                    colours[NEW_REGION]
                )
                page.screenshot(path=str(tmp_path / "calendar-month.png"), full_page=True)

                page.locator(f'.fc-event[data-session-id="{new}"]').click()
                page.wait_for_url(re.compile(re.escape(cluster.base_url + CALENDAR + "sessions/")))
                expect(page.locator("#session-id")).to_have_text(new)
                session_page = page.url
                running = page.locator('#vms tr.vm[data-state="Running"]')

                def all_running() -> bool:
                    # Stop all acts on a running session only: its run has seen every VM Running.
                    page.goto(session_page)
                    page.wait_for_load_state("networkidle")
                    return (
                        page.locator("#booking-state").inner_text() == RUNNING
                        and running.count() == INSTANCES
                    )

                until("the session to be running, its VMs Running on its page", all_running)
                names = sorted(
                    page.locator("#vms tr.vm").evaluate_all("rows => rows.map(r => r.dataset.name)")
                )
                assert names == [vm_name(new, i) for i in range(1, INSTANCES + 1)]
                page.screenshot(path=str(tmp_path / "session-running.png"), full_page=True)

                page.locator("#stop-all").click()
                expect(page.locator("#action-outcome")).to_contain_text(
                    f"{INSTANCES} VM(s) stopped", timeout=60_000
                )
                expect(page.locator('#vms tr.vm[data-state="Stopped"]')).to_have_count(INSTANCES)
                assert session_states(seed_simulator, NEW_REGION, new) == dict.fromkeys(names, "Stopped")
                page.screenshot(path=str(tmp_path / "session-stopped.png"), full_page=True)

                page.goto(cluster.base_url + "/")
                page.get_by_role("link", name="MECA calendar").click()
                page.wait_for_url("**/plugin/meca-calendar")
                embedded = page.frame_locator("iframe")
                expect(embedded.locator(".fc-timeGridWeek-view")).to_be_visible()
                expect(embedded.locator(".legend-region")).to_have_count(len(colours))
                page.screenshot(path=str(tmp_path / "airflow-ui.png"))
            finally:
                browser.close()
        print(f"browser part {time.monotonic() - started:.1f} s; screenshots in {tmp_path}", file=sys.stderr)
    finally:
        for session_id in booked:  # cancel only what still holds its seats
            shown = cluster.http("GET", session_api(session_id))
            assert shown.status_code == 200, shown.text
            if shown.json()["state"] not in HOLDING:
                continue
            response = requests.post(
                cluster.base_url + session_api(session_id, "cancel"),
                headers={"Authorization": f"Bearer {cluster.token()}"},
                json={},
                timeout=30,
            )
            assert response.status_code == 200, response.text
        for session_id in booked:
            cluster.wait_for_run(DAG_ID, session_id, timeout=240)
    assert session_states(seed_simulator, NEW_REGION, booked[-1]) == {}
