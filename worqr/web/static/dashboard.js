// worqr dashboard: polls the JSON API and redraws the tables; actions (only when the
// server allows them) ask for confirmation and send the page's token. Text is always set
// with textContent, never parsed as HTML.
"use strict";

const ROOT = document.querySelector('meta[name="worqr-root"]').content;
const POLL_MS = Number(document.querySelector('meta[name="worqr-poll-ms"]').content) || 1000;
const PAGE = document.body.dataset.page;
const QUEUE = new URLSearchParams(location.search).get("name") || "";
let token = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function cell(row, field, value, cls) {
  const td = el("td", value === null || value === undefined ? "–" : value, cls);
  td.dataset.field = field;
  row.appendChild(td);
  return td;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "–";
}

function taskText(item) {
  const text = item.task !== undefined ? item.task : "base64:" + item.task_base64;
  return item.task_truncated ? text + "…" : text;
}

function spark(points, field, width, height) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const values = points.map((p) => p[field]);
  const top = Math.max(1, ...values);
  const line = document.createElementNS(ns, "polyline");
  const step = values.length > 1 ? width / (values.length - 1) : width;
  line.setAttribute("points", values.map((v, i) => `${i * step},${height - (v / top) * (height - 2) - 1}`).join(" "));
  svg.appendChild(line);
  const title = document.createElementNS(ns, "title");
  const last = values.length ? values[values.length - 1].toFixed(1) : "0";
  title.textContent = `${field}/s: now ${last}, peak ${top.toFixed(1)}`;
  svg.appendChild(title);
  return svg;
}

function button(text, cls, onClick) {
  const b = el("button", text, cls);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

async function act(action, body, question) {
  if (!window.confirm(question)) return;
  const response = await fetch(`${ROOT}/api/actions/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Worqr-Token": token || "" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json();
  if (!response.ok) showError(answer.error || response.statusText);
  refresh();
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = !message;
}

function replaceRows(table, rows) {
  const body = document.querySelector(`#${table} tbody`);
  body.replaceChildren(...rows);
}

function drawOverview(doc) {
  replaceRows("queues", doc.queues.map((q) => {
    const row = el("tr");
    row.dataset.queue = q.name;
    const name = el("td", null, "text");
    const link = el("a", q.name);
    link.href = `${ROOT}/queue?name=${encodeURIComponent(q.name)}`;
    name.appendChild(link);
    name.dataset.field = "name";
    row.appendChild(name);
    for (const f of ["queued", "delayed", "in_flight", "dead_letters", "workers"]) cell(row, f, q[f]);
    cell(row, "paused", q.paused ? "paused" : "no");
    for (const f of ["enqueued", "finished", "failed"]) cell(row, f, q.counters[f]);
    cell(row, "rate", "").appendChild(spark(q.rates, "finished", 140, 24));
    const actions = cell(row, "actions", "", "actions-only");
    if (doc.actions) {
      actions.appendChild(q.paused
        ? button("resume", "resume", () => act("resume", { queue: q.name }, `Resume queue ${q.name}?`))
        : button("pause", "pause", () => act("pause", { queue: q.name }, `Pause queue ${q.name}? No task will be handed out.`)));
    }
    return row;
  }));
  replaceRows("workers", doc.workers.map((w) => {
    const row = el("tr", null, `state-${w.label}`);
    row.dataset.worker = w.id;
    cell(row, "id", w.id, "text");
    cell(row, "label", "", "text").appendChild(el("span", w.label, `badge ${w.label}`));
    cell(row, "host", w.host, "text");
    cell(row, "pid", w.pid);
    cell(row, "queues", w.queues.join(", "), "text");
    cell(row, "in_flight", w.in_flight);
    cell(row, "heartbeat_age", w.heartbeat_age === null ? null : w.heartbeat_age.toFixed(1));
    cell(row, "started_at", when(w.started_at));
    cell(row, "ended_at", when(w.ended_at));
    const actions = cell(row, "actions", "", "actions-only");
    if (doc.actions && (w.state === "alive" || w.state === "overdue")) {
      actions.appendChild(button("reap", "reap", () =>
        act("reap", { worker: w.id }, `Reap worker ${w.id}? Its ${w.in_flight} task(s) go back to their queues.`)));
    }
    return row;
  }));
}

function drawQueue(doc) {
  const q = doc.queue;
  document.getElementById("queue-name").textContent = q.name;
  document.title = `worqr: ${q.name}`;
  const counts = el("tr");
  for (const f of ["queued", "delayed", "in_flight", "dead_letters", "workers"]) cell(counts, f, q[f]);
  cell(counts, "paused", q.paused ? "paused" : "no");
  for (const f of ["enqueued", "finished", "failed", "dead_lettered", "requeued", "fenced", "cancelled"]) {
    cell(counts, f, q.counters[f]);
  }
  document.querySelector("#counts tbody").replaceChildren(counts);
  document.getElementById("chart").replaceChildren(spark(doc.rates, "finished", 480, 80));
  replaceRows("waiting", doc.waiting.map((t, i) => {
    const row = el("tr");
    cell(row, "index", i + 1);
    cell(row, "task", taskText(t), "task");
    cell(row, "task_size", t.task_size);
    return row;
  }));
  replaceRows("delayed", doc.delayed.map((t) => {
    const row = el("tr");
    cell(row, "due_at", when(t.due_at));
    cell(row, "task", taskText(t), "task");
    cell(row, "task_size", t.task_size);
    return row;
  }));
  replaceRows("dead", doc.dead_letters.map((d) => {
    const row = el("tr");
    row.dataset.dead = d.id;
    cell(row, "id", d.id, "text");
    cell(row, "failed_at", when(d.failed_at));
    cell(row, "attempts", d.attempts);
    cell(row, "error", `${d.error_type}: ${d.error}`, "text");
    cell(row, "task", taskText(d), "task");
    const actions = cell(row, "actions", "", "actions-only");
    if (doc.actions) {
      actions.appendChild(button("requeue", "requeue", () =>
        act("requeue", { queue: q.name, ids: [d.id] }, `Requeue dead letter ${d.id} to the back of ${q.name}?`)));
      actions.appendChild(button("purge", "purge", () =>
        act("purge", { queue: q.name, ids: [d.id] }, `Delete dead letter ${d.id} for good?`)));
    }
    return row;
  }));
}

function wireQueueButtons() {
  const on = (id, action, body, question) =>
    document.getElementById(id).addEventListener("click", () => act(action, body(), question()));
  on("pause", "pause", () => ({ queue: QUEUE }), () => `Pause queue ${QUEUE}? No task will be handed out.`);
  on("resume", "resume", () => ({ queue: QUEUE }), () => `Resume queue ${QUEUE}?`);
  on("requeue-all", "requeue", () => ({ queue: QUEUE }), () => `Requeue every dead letter of ${QUEUE}?`);
  on("purge-all", "purge", () => ({ queue: QUEUE }), () => `Delete every dead letter of ${QUEUE} for good?`);
}

async function refresh() {
  const url = PAGE === "queue" ? `${ROOT}/api/queue?name=${encodeURIComponent(QUEUE)}` : `${ROOT}/api/overview`;
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    const doc = await response.json();
    if (!response.ok) {
      showError(doc.error || response.statusText);
      return;
    }
    showError(doc.error || "");  // a partial read: some nodes of the cluster did not answer
    token = doc.token || null;
    document.body.classList.toggle("actions", Boolean(doc.actions));
    if (PAGE === "queue") drawQueue(doc); else drawOverview(doc);
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (error) {
    showError(`cannot reach the dashboard: ${error}`);
  }
}

if (PAGE === "queue") wireQueueButtons();
refresh();
setInterval(refresh, POLL_MS);
