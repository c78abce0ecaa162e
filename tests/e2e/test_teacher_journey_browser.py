"""The Teacher journey in headless Chromium, logged in with a FAB Teacher, in the real multi-process Airflow.

The cluster is ``fab_airflow_cluster`` (LocalExecutor, FAB auth manager, the MECA roles) on the seed
federation. The teacher ``teacher@bme.hu`` (role Teacher, home region MECA-BME) logs in through
Airflow's own login page, browser in Budapest time:

1. MECA-BME is made full for the slot beforehand, through the ledger (all its room but one VM, a
   booking without a run, as an operator booking in advance would be). The teacher asks for 2 VMs
   there with **Reserve slot**: the page shows the refusal's reasons and the alternatives, and
   nothing was created (no run, no booking row).
2. One click on an alternative region books it: "Booked in …", the event is on the calendar, the run
   exists with its readable id, its note "title · owner" and the teacher as the triggering user.
3. The session (starting 80 s after the test's start) has its VMs Running before its start; its
   page shows them Running and the state ``running``.
4. The teacher extends it by 1 minute with the documented POST, sent with her browser login
   (``page.request``, JSON and ``X-Requested-With: meca``): 200 and the new end. (An extension is
   checked against the latest sweep's capacity, so an operator's sweep runs from the start.)
5. After the end the booking reads ``ended`` on the session page and in the calendar (``state-ended``).
6. Meanwhile a second session, booked for a named region whose every deploy job fails
   (``deploy_failure_rate: 1``), fails for good: it is ``failed`` (page, API, calendar) and its seats
   are free again: the same check, refused while it held them, is accepted once it failed.

It prints the wall time of each step to stderr.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from cloudstack_simulator.testing import SimulatorHandle
from meca.regions import Region
from meca.security.roles import TEACHER
from meca.sessions.capacity import OfferingSize, RegionCapacity, RegionChoiceInput
from meca.sessions.ledger import cancel, get_booking, reserve
from meca.sessions.request import SessionRequest
from meca.sessions.tags import vm_name
from meca.store.models import SessionBooking
from tests.e2e.airflow_cluster import AirflowCluster
from tests.e2e.session_watch import running_vms
from tests.e2e.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS
from tests.meca.sessions.session_cloud import raw_api, vms_of

DAG_ID = "meca_classroom_session"
SWEEP_ID = "meca_metrics_sweep"
CALENDAR = "/meca/calendar/"
ZONE = ZoneInfo("Europe/Budapest")
TEMPLATE, OFFERING = "Ubuntu-22.04-Server", "Small"
TEACHER_USER, TEACHER_EMAIL = "teacher-bme", "teacher@bme.hu"
FULL_REGION = "MECA-BME"
#: Regions for the session whose provisioning fails, the first one the alternative did not take.
FAILING_REGIONS = ("MECA-TUS", "MECA-UNED", "MECA-UPB-CETTI")
INSTANCES = 2
HEADERS = {"Content-Type": "application/json", "X-Requested-With": "meca"}
READABLE_ID = re.compile(r"\d{4}-\d{2}-\d{2}_[a-z0-9-]+_[0-9a-f]{4}")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def until(what: str, probe: Callable[[], Any], limit_s: float = 180.0, every_s: float = 0.5) -> Any:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not (result := probe()):
        assert time.monotonic() < deadline, f"never happened within {limit_s:.0f} s: {what}"
        time.sleep(every_s)
    return result


def local_input(moment: datetime) -> str:
    """What a teacher in Budapest types into a ``datetime-local`` field (to the second)."""
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def session_conf(start: datetime, end: datetime, region: str, instances: int, title: str) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "title": title,
        "owner": TEACHER_EMAIL,
        "region": region,
        "template": TEMPLATE,
        "instances": instances,
        "offering": OFFERING,
        "comments": "",
        "recurrence_weeks": 0,
    }


def check(cluster: AirflowCluster, conf: dict[str, Any]) -> Any:
    """``POST /meca/calendar/api/check`` as the teacher, with her token."""
    return cluster.http("POST", CALENDAR + "api/check", user=TEACHER_USER, json=conf)


def room(cluster: AirflowCluster, region: str, start: datetime, end: datetime) -> int:
    """How many VMs of the offering ``region`` has room for in the slot, as the check says."""
    answer = check(cluster, session_conf(start, end, region, 1, "How much room"))
    assert answer.status_code == 200, answer.text
    (reason,) = answer.json()["reasons"]
    found = re.search(r"room for (\d+) VM\(s\)", reason)
    assert found, reason
    return int(found.group(1))


def fill_region(engine: Engine, seed_simulator: SimulatorHandle, region: str, conf: dict[str, Any]) -> str:
    """Book ``conf`` in ``region`` through the ledger, as if that region had room for it; the session id."""
    info = next(r for r in seed_simulator.endpoints["regions"] if r["name"] == region)
    now = datetime.now(UTC)
    facts = RegionChoiceInput(
        Region(
            conn_id="unused",
            name=region,
            region_id=int(info["id"]),
            display_name=info["display_name"],
            city=info["location"]["city"],
            country=info["location"]["country"],
            lat=info["location"]["lat"],
            lon=info["location"]["lon"],
            colour=info["colour"],
        ),
        RegionCapacity(memory_bytes=10**15, cpu_mhz=10**9, measured_at=now, source="region"),
        OfferingSize.of(OFFERING, 1, 1000, 1024),
        template_ready=True,
        templates=(TEMPLATE,),
        offerings=(OFFERING,),
    )
    session_id = f"blocker-{region.lower()}"
    request = SessionRequest.from_conf(conf, now=now)
    reserve(engine, request, session_id=session_id, regions=[facts], now=now)
    return session_id


def booking_ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.scalars(select(SessionBooking.session_id)))


def booking_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(SessionBooking)) or 0)


def runs(cluster: AirflowCluster) -> dict[str, dict[str, Any]]:
    response = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 100})
    assert response.status_code == 200, response.text
    return {run["dag_run_id"]: run for run in response.json()["dag_runs"]}


def session_api(session_id: str, action: str = "") -> str:
    return f"/meca/sessions/api/sessions/{quote(session_id, safe='')}" + (f"/{action}" if action else "")


def state_of(cluster: AirflowCluster, session_id: str) -> str:
    answer = cluster.http("GET", session_api(session_id), user=TEACHER_USER)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["state"])


def show_week_of(page: Any, moment: datetime) -> None:
    """Show the week of ``moment``: this week or the next (the calendar's weeks start on Monday)."""
    today = page.locator(".fc-today-button")
    if today.is_enabled():
        today.click()
    if moment.astimezone(ZONE).date().isocalendar()[:2] != datetime.now(ZONE).date().isocalendar()[:2]:
        page.locator(".fc-next-button").click()


@pytest.fixture
def failing_deploys(seed_simulator: SimulatorHandle) -> Iterator[Callable[[str], None]]:
    """Make every deploy job of a region fail; every region touched is healed at the end."""
    touched: list[str] = []

    def fail(region: str) -> None:
        touched.append(region)
        seed_simulator.control.set_faults(region, deploy_failure_rate=1.0)

    yield fail
    for region in touched:
        seed_simulator.control.set_faults(region, deploy_failure_rate=0.0)


class Steps:
    """Wall time of each step, printed on one line at the end."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = self.started
        self.parts: list[str] = []

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.parts.append(f"{step} {now - self.last:.0f} s")
        self.last = now

    def line(self) -> str:
        return f"teacher journey: {time.monotonic() - self.started:.0f} s in all: " + "; ".join(self.parts)


def test_a_fab_teacher_is_refused_books_an_alternative_extends_it_and_sees_it_end_and_another_fail(
    fab_airflow_cluster: AirflowCluster,
    fab_data_engine: Engine,
    seed_simulator: SimulatorHandle,
    failing_deploys: Callable[[str], None],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    steps = Steps()
    cluster, engine = fab_airflow_cluster, fab_data_engine
    cluster.create_user(TEACHER_USER, TEACHER, email=TEACHER_EMAIL)
    cluster.wait_for_dag(DAG_ID)
    cluster.wait_for_dag(SWEEP_ID)  # an extension is checked against the latest swept capacity
    sweep = cluster.trigger(SWEEP_ID)
    start = (datetime.now(UTC) + timedelta(seconds=80)).replace(microsecond=0)
    end = start + timedelta(seconds=30)
    free = room(cluster, FULL_REGION, start, end)
    assert free >= INSTANCES, f"{FULL_REGION} has room for {free} VM(s) only, before the test fills it"
    blocker = fill_region(
        engine,
        seed_simulator,
        FULL_REGION,
        {**session_conf(start, end, FULL_REGION, free - 1, "Exam week"), "owner": "operator@meca.example"},
    )
    held: list[str] = [blocker]
    steps.done(f"cluster ready (startup {cluster.startup_s:.0f} s), {FULL_REGION} filled")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(timezone_id=str(ZONE), viewport={"width": 1500, "height": 1100})
                page = context.new_page()
                page.goto(cluster.base_url + CALENDAR)
                page.wait_for_url("**/auth/login/**")
                page.locator("input[name=username]").fill(TEACHER_USER)
                page.locator("input[name=password]").fill(cluster.passwords[TEACHER_USER])
                page.locator("input[type=submit]").click()
                page.wait_for_url(cluster.base_url + CALENDAR)
                expect(page.locator("#time-zone")).to_have_text("Europe/Budapest")

                # 1. Refused, with the reasons and the alternatives; nothing created.
                runs_before, bookings_before = set(runs(cluster)), booking_count(engine)
                form = page.locator("form#booking")
                form.locator("[name=start]").fill(local_input(start))
                form.locator("[name=end]").fill(local_input(end))
                form.locator("[name=title]").fill("Cloud lab 3")
                form.locator("[name=owner]").fill(TEACHER_EMAIL)
                form.locator("[name=region]").select_option(FULL_REGION)
                form.locator("[name=template]").fill(TEMPLATE)
                form.locator("[name=instances]").fill(str(INSTANCES))
                form.get_by_role("button", name="Reserve slot").click()
                refusal = page.locator("#outcome .messages.refused")
                expect(refusal.locator("ul.alternatives button").first).to_be_visible(timeout=60_000)
                reasons = refusal.locator(":scope > ul:not(.alternatives) li").all_inner_texts()
                assert any(
                    f"{FULL_REGION} has room for only 1 VM(s) of '{OFFERING}'" in reason for reason in reasons
                ), reasons
                buttons = refusal.locator("ul.alternatives button")
                kinds = buttons.evaluate_all("bs => bs.map(b => [b.dataset.kind, b.textContent])")
                assert {kind for kind, _ in kinds} <= {"region", "slot"}, kinds
                assert any(kind == "region" for kind, _ in kinds), kinds
                assert all(summary.strip() for _, summary in kinds), kinds
                assert set(runs(cluster)) == runs_before
                assert booking_count(engine) == bookings_before
                page.screenshot(path=str(tmp_path / "1-refused.png"), full_page=True)
                steps.done("refused with reasons and alternatives")

                # 2. One click books the first alternative region.
                choice = refusal.locator("ul.alternatives button[data-kind=region]").first
                summary = choice.inner_text()
                choice.click()
                accepted = page.locator("#outcome .messages.accepted")
                expect(accepted).to_be_visible(timeout=60_000)
                heading = accepted.locator("p").first.inner_text()
                booked = re.fullmatch(r"Booked in (\S+): session (\S+)\.", heading)
                assert booked, heading
                region, session_id = booked.groups()
                assert region != FULL_REGION
                assert region in summary, (region, summary)
                assert READABLE_ID.fullmatch(session_id), session_id
                link = accepted.get_by_role("link", name="Open the session")
                expect(link).to_be_visible()
                run = runs(cluster)[session_id]
                assert set(runs(cluster)) == runs_before | {session_id}
                assert run["triggering_user_name"] == TEACHER_USER
                assert run["note"] == f"Cloud lab 3 · {TEACHER_EMAIL}"
                assert (run["conf"]["region"], run["conf"]["instances"]) == (region, INSTANCES)
                assert datetime.fromisoformat(run["conf"]["start"]) == start
                assert booking_ids(engine) >= {blocker, session_id}
                held.append(session_id)
                show_week_of(page, start)
                event = page.locator(f'.fc-event[data-session-id="{session_id}"]')
                expect(event).to_be_visible()
                page.screenshot(path=str(tmp_path / "2-booked.png"), full_page=True)
                steps.done(f"alternative booked in {region}")

                # 6 (begun now, it runs while the first session goes on). Every deploy fails in a
                # named region: the session fails for good and frees its seats.
                failing_region = next(r for r in FAILING_REGIONS if r != region)
                # Provisioned at once (the lead time is 10 minutes), still ahead when the check runs again.
                failing_start = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
                failing_end = failing_start + timedelta(minutes=30)
                failing_room = room(cluster, failing_region, failing_start, failing_end)
                failing_instances = failing_room // 2 + 1  # two of them do not fit
                failing_conf = session_conf(
                    failing_start, failing_end, failing_region, failing_instances, "Doomed lab"
                )
                failing_deploys(failing_region)
                answer = page.request.post(
                    cluster.base_url + CALENDAR + "api/bookings",
                    data=json.dumps(failing_conf),
                    headers=HEADERS,
                )
                assert answer.status == 201, answer.text()
                failing_id = answer.json()["session_id"]
                held.append(failing_id)
                assert answer.json()["region"] == failing_region
                while_held = check(cluster, failing_conf)
                assert while_held.status_code == 422, while_held.text
                assert any(
                    f"{failing_region} has room for only {failing_room - failing_instances} VM(s)" in m
                    for m in while_held.json()["detail"]
                ), while_held.json()

                # 3. The VMs are Running before the start, and the page says so.
                vms = running_vms(cluster, seed_simulator, region, session_id, INSTANCES, timeout=90.0)
                assert datetime.now(UTC) < start, "the VMs were not Running before the start"
                assert sorted(vm["name"] for vm in vms) == [vm_name(session_id, i) for i in (1, 2)]
                link.click()
                page.wait_for_url(re.compile(re.escape(cluster.base_url + CALENDAR + "sessions/")))
                expect(page.locator("#session-id")).to_have_text(session_id)
                session_page = page.url

                def page_says(state: str) -> bool:
                    page.goto(session_page)
                    return page.locator("#booking-state").inner_text() == state

                until("the session page to say running", lambda: page_says("running"), 60.0, 2.0)
                expect(page.locator('#vms tr.vm[data-state="Running"]')).to_have_count(INSTANCES)
                assert datetime.now(UTC) < start, "the session was not running before its start"
                page.screenshot(path=str(tmp_path / "3-running.png"), full_page=True)
                steps.done("VMs Running, page says running")

                # 4. Extended by 1 minute with the documented POST, with the browser's login.
                new_end = end + timedelta(minutes=1)
                assert cluster.wait_for_run(SWEEP_ID, sweep, timeout=120.0) == "success"
                extended = page.request.post(
                    cluster.base_url + session_api(session_id, "extend"),
                    data=json.dumps({"end": new_end.isoformat()}),
                    headers=HEADERS,
                )
                assert extended.status == 200, extended.text()
                assert datetime.fromisoformat(extended.json()["end"]) == new_end
                assert (extended.json()["state"], extended.json()["changed_by"]) == ("running", TEACHER_USER)
                page.goto(session_page)
                ends = page.locator("dl.booking time.local").nth(1).get_attribute("datetime")
                assert ends is not None
                assert datetime.fromisoformat(ends) == new_end
                steps.done("extended by 1 min")

                # 6, continued: failed for good, the seats free again.
                until(
                    "the doomed session to be failed",
                    lambda: state_of(cluster, failing_id) == "failed",
                    240.0,
                    2.0,
                )
                assert cluster.wait_for_run(DAG_ID, failing_id, timeout=180.0) == "failed"
                assert vms_of(raw_api(seed_simulator, failing_region), failing_id) == []
                seed_simulator.control.set_faults(failing_region, deploy_failure_rate=0.0)
                again = check(cluster, failing_conf)
                assert again.status_code == 200, again.text
                assert again.json()["region"] == failing_region
                page.goto(cluster.base_url + CALENDAR + f"sessions/{quote(failing_id, safe='')}")
                expect(page.locator("#booking-state")).to_have_text("failed")
                steps.done(f"second session failed in {failing_region}, seats free again")

                # 5. Ended after the end, on the session page and in the calendar.
                limit = (new_end - datetime.now(UTC)).total_seconds() + 120
                assert cluster.wait_for_run(DAG_ID, session_id, timeout=limit) == "success"
                assert state_of(cluster, session_id) == "ended"
                page.goto(session_page)
                expect(page.locator("#booking-state")).to_have_text("ended")
                page.screenshot(path=str(tmp_path / "5-ended.png"), full_page=True)
                page.goto(cluster.base_url + CALENDAR)
                show_week_of(page, start)
                ended = page.locator(f'.fc-event[data-session-id="{session_id}"]')
                expect(ended).to_have_class(re.compile(r"\bstate-ended\b"))
                assert "(ended)" in ended.inner_text()
                failed = page.locator(f'.fc-event[data-session-id="{failing_id}"]')
                expect(failed).to_have_class(re.compile(r"\bstate-failed\b"))
                page.screenshot(path=str(tmp_path / "5-calendar.png"), full_page=True)
                steps.done("ended on the page and the calendar")
            finally:
                browser.close()
    finally:
        for session_id in held:
            left = get_booking(engine, session_id)
            if left is not None and left.holding and left.end > datetime.now(UTC) + timedelta(seconds=5):
                cancel(engine, session_id, by="the test's clean-up", now=datetime.now(UTC))
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n{steps.line()}; screenshots in {tmp_path}", file=sys.stderr)
