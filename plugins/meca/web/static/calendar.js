// The calendar page: FullCalendar fed by api/events, and the booking form (check, then trigger the DAG).
"use strict";

const settings = JSON.parse(document.getElementById("settings").textContent);
const form = document.getElementById("booking");
const outcome = document.getElementById("outcome");
const RUNS = `${settings.airflowRoot}api/v2/dags/${settings.dagId}/dagRuns`;
const POLL_MS = 2000;
const POLL_LIMIT = 150;

function pad(n) {
  return String(Math.abs(n)).padStart(2, "0");
}

// "2026-03-04T09:00" typed in the browser's zone -> "2026-03-04T09:00:00+01:00" (the offset of that date).
function withOffset(local) {
  const moment = new Date(local);
  if (!local || Number.isNaN(moment.getTime())) return local;
  const offset = -moment.getTimezoneOffset();
  const seconds = local.length === 16 ? ":00" : "";
  return `${local}${seconds}${offset >= 0 ? "+" : "-"}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}

// A Date -> the value of a datetime-local input, in the browser's zone.
function localValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function whole(value) {
  if (value.trim() === "") return null;
  const number = Number(value);
  return Number.isInteger(number) ? number : value;
}

function conf() {
  const data = new FormData(form);
  return {
    start: withOffset(data.get("start")),
    end: withOffset(data.get("end")),
    title: data.get("title"),
    owner: data.get("owner"),
    region: data.get("region"),
    template: data.get("template"),
    instances: whole(data.get("instances")),
    offering: data.get("offering"),
    comments: data.get("comments"),
    recurrence_weeks: whole(data.get("recurrence_weeks")),
  };
}

function show(kind, heading, items = [], link = null) {
  outcome.replaceChildren();
  const box = document.createElement("div");
  box.className = `messages ${kind}`;
  const title = document.createElement("p");
  title.textContent = heading;
  box.append(title);
  if (items.length) {
    const list = document.createElement("ul");
    for (const item of items) {
      const entry = document.createElement("li");
      entry.textContent = item;
      list.append(entry);
    }
    box.append(list);
  }
  if (link) {
    const anchor = document.createElement("a");
    anchor.href = link.href;
    anchor.textContent = link.text;
    if (link.top) anchor.target = "_top";
    box.append(anchor);
  }
  outcome.append(box);
}

function detailText(body) {
  const detail = body && body.detail !== undefined ? body.detail : body;
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

async function json(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

async function followReserve(runId, calendar) {
  const runPage = { href: `${settings.airflowRoot}dags/${settings.dagId}/runs/${encodeURIComponent(runId)}`, text: "Open the run in Airflow", top: true };
  for (let poll = 0; poll < POLL_LIMIT; poll += 1) {
    const response = await fetch(`${RUNS}/${encodeURIComponent(runId)}/taskInstances/reserve`, { credentials: "same-origin" });
    const state = response.ok ? (await json(response)).state : null;
    if (state === "success") {
      calendar.refetchEvents();
      show("accepted", `Booked: session ${runId}.`, [], { href: `sessions/${encodeURIComponent(runId)}`, text: "Open the session" });
      return;
    }
    if (["failed", "upstream_failed", "removed"].includes(state)) {
      show("refused", `The booking of run ${runId} was refused; the reasons are in the log of its "reserve" task.`, [], runPage);
      return;
    }
    show("pending", `Run ${runId} created; booking the capacity… (reserve: ${state || "not started yet"})`, [], runPage);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  show("pending", `Run ${runId} has not booked its session yet; look at it in Airflow.`, [], runPage);
}

async function book(event, calendar) {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    // Every MECA POST carries a JSON body and X-Requested-With: meca (meca/web/csrf.py).
    const checked = await fetch("api/check", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "meca" },
      body: JSON.stringify(conf()),
    });
    const answer = await json(checked);
    if (checked.status === 422 && answer && Array.isArray(answer.detail)) {
      show("refused", "The session cannot be booked:", answer.detail);
      return;
    }
    if (!checked.ok) {
      show("refused", `The check failed (HTTP ${checked.status}): ${detailText(answer)}`);
      return;
    }
    const triggered = await fetch(RUNS, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ logical_date: null, conf: answer.conf }),
    });
    const run = await json(triggered);
    if (!triggered.ok) {
      show("refused", `Airflow did not start the session (HTTP ${triggered.status}): ${detailText(run)}`);
      return;
    }
    await followReserve(run.dag_run_id, calendar);
  } catch (error) {
    show("refused", `The booking could not be sent: ${error}`);
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("time-zone").textContent = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const feedError = document.getElementById("feed-error");
  const calendar = new FullCalendar.Calendar(document.getElementById("calendar"), {
    initialView: "timeGridWeek",
    headerToolbar: { left: "prev,next today", center: "title", right: "dayGridMonth,timeGridWeek,timeGridDay" },
    firstDay: 1,
    height: "auto",
    nowIndicator: true,
    scrollTime: "08:00:00",
    slotDuration: "00:30:00",
    slotLabelInterval: "01:00",
    eventDisplay: "block",
    eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
    selectable: true,
    select: (info) => {
      form.elements.start.value = localValue(info.start);
      form.elements.end.value = localValue(info.end);
      form.elements.title.focus();
    },
    events: {
      url: "api/events",
      failure: (error) => {
        feedError.hidden = false;
        feedError.textContent = `The sessions could not be loaded: ${error.message}`;
      },
    },
    eventDidMount: (info) => {
      const p = info.event.extendedProps;
      if (p.busy) {
        // Someone else's session (the feed shows it without id, title or owner).
        info.el.dataset.busy = p.region;
        info.el.title = `Booked by someone else · ${p.region}`;
        return;
      }
      info.el.dataset.sessionId = p.session_id;
      info.el.dataset.region = p.region;
      info.el.title = `${info.event.title}\n${p.owner} · ${p.region} · ${p.instances} × ${p.template} (${p.offering}) · ${p.state}`;
    },
  });
  calendar.render();
  form.addEventListener("submit", (event) => book(event, calendar));
});
