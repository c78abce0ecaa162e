// The session page: its VMs live from the region, and "Start all" / "Stop all".
"use strict";

const settings = JSON.parse(document.getElementById("settings").textContent);
const base = `../api/sessions/${encodeURIComponent(settings.sessionId)}`;
const body = document.querySelector("#vms tbody");
const said = document.getElementById("action-outcome");
const buttons = ["start-all", "stop-all", "refresh"].map((id) => document.getElementById(id));

function cell(row, text, className = "") {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  row.append(td);
}

function note(text) {
  const row = document.createElement("tr");
  cell(row, text, "empty");
  row.firstChild.colSpan = 5;
  body.replaceChildren(row);
}

async function detail(response) {
  try {
    const answer = await response.json();
    return typeof answer.detail === "string" ? answer.detail : JSON.stringify(answer.detail);
  } catch {
    return response.statusText;
  }
}

async function load() {
  const response = await fetch(`${base}/vms`, { credentials: "same-origin" });
  if (!response.ok) {
    note(`The region did not list the VMs (HTTP ${response.status}): ${await detail(response)}`);
    return;
  }
  const { vms } = await response.json();
  if (!vms.length) {
    note("No VM yet: they are created at the start minus the lead time, and destroyed at the end.");
    return;
  }
  body.replaceChildren(
    ...vms.map((vm) => {
      const row = document.createElement("tr");
      row.className = "vm";
      row.dataset.name = vm.name;
      row.dataset.state = vm.state;
      cell(row, vm.name);
      cell(row, vm.state, `state-${vm.state}`);
      cell(row, vm.address);
      cell(row, vm.template);
      cell(row, vm.zone);
      return row;
    }),
  );
}

async function power(action) {
  buttons.forEach((button) => (button.disabled = true));
  said.textContent = action === "start" ? "Starting every stopped VM…" : "Stopping every running VM…";
  try {
    // Every MECA POST carries a JSON body and X-Requested-With: meca (meca/web/csrf.py).
    const response = await fetch(`${base}/${action}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Requested-With": "meca" },
      body: "{}",
    });
    if (!response.ok) {
      said.textContent = `Refused (HTTP ${response.status}): ${await detail(response)}`;
      return;
    }
    const report = await response.json();
    const verb = action === "start" ? "started" : "stopped";
    const errors = report.errors.length ? `; failed: ${report.errors.join("; ")}` : "";
    said.textContent = `${report.changed.length} VM(s) ${verb}, ${report.left_alone.length} left as they were${errors}.`;
  } finally {
    buttons.forEach((button) => (button.disabled = false));
    await load();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const time of document.querySelectorAll("time.local")) {
    time.textContent = new Date(time.dateTime).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
  document.getElementById("start-all").addEventListener("click", () => power("start"));
  document.getElementById("stop-all").addEventListener("click", () => power("stop"));
  document.getElementById("refresh").addEventListener("click", load);
  load();
});
