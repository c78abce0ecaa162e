// The calendar page: FullCalendar fed by api/events, and the booking form (api/check, api/bookings).
"use strict";

const settings = JSON.parse(document.getElementById("settings").textContent);
const form = document.getElementById("booking");
const outcome = document.getElementById("outcome");

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

// Every MECA POST carries a JSON body and X-Requested-With: meca (meca/web/csrf.py).
function post(path, body) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Requested-With": "meca" },
    body: JSON.stringify(body),
  });
}

// A refusal: every reason, then each alternative as a button that books it as it is.
function refused(heading, answer, calendar) {
  show("refused", heading, Array.isArray(answer.detail) ? answer.detail : [detailText(answer)]);
  const alternatives = answer.alternatives || [];
  if (!alternatives.length) return;
  const box = outcome.querySelector(".messages");
  const title = document.createElement("p");
  title.textContent = "What would fit instead (one click books it):";
  const list = document.createElement("ul");
  list.className = "alternatives";
  for (const alternative of alternatives) {
    const entry = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.kind = alternative.kind;
    button.textContent = alternative.summary;
    button.addEventListener("click", () => reserve(alternative.conf, calendar));
    entry.append(button);
    list.append(entry);
  }
  box.append(title, list);
}

async function reserve(body, calendar) {
  const buttons = [...document.querySelectorAll("#booking button, #outcome button")];
  buttons.forEach((button) => { button.disabled = true; });
  show("pending", "Booking…");
  try {
    const response = await post("api/bookings", body);
    const answer = (await json(response)) || {};
    if (response.status === 201) {
      calendar.refetchEvents();
      show("accepted", `Booked in ${answer.region}: session ${answer.session_id}.`, answer.reasons, {
        href: answer.session_page,
        text: "Open the session",
      });
      return;
    }
    if (response.status === 422) {
      refused("The session cannot be booked:", answer, calendar);
      return;
    }
    show("refused", `The booking failed (HTTP ${response.status}):`, Array.isArray(answer.detail) ? answer.detail : [detailText(answer)]);
  } catch (error) {
    show("refused", `The booking could not be sent: ${error}`);
  } finally {
    buttons.forEach((button) => { button.disabled = false; });
  }
}

async function check(calendar) {
  const response = await post("api/check", conf());
  const answer = (await json(response)) || {};
  if (response.ok) {
    show("accepted", `It fits: ${answer.region} would host it.`, answer.reasons);
  } else if (response.status === 422) {
    refused("The session cannot be booked:", answer, calendar);
  } else {
    show("refused", `The check failed (HTTP ${response.status}): ${detailText(answer)}`);
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
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    reserve(conf(), calendar);
  });
  document.getElementById("check").addEventListener("click", () => check(calendar));
});
