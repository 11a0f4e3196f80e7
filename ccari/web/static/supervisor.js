// Supervisor page: pending contacts of every medium, refreshed; priority and reschedule;
// the calls in progress, monitored from the supervisor's phone (listen, whisper, barge,
// take over; ccari rings her phone on the first); the latest finished contacts.  Every
// contact links to its contact page (recordings, event log).
// Text only (textContent): nothing from the network is parsed as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const csrf = $("pending-card").dataset.csrf;
  const me = Number($("pending-card").dataset.agent);

  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.append(td); return td; }

  // The contact's page; the id is only ever a path segment and the text is set as text.
  function linkCell(tr, text, id) {
    const td = cell(tr, "");
    const a = document.createElement("a");
    a.href = "/agent/contacts/" + encodeURIComponent(id); a.className = "contact-page";
    a.textContent = text || "(unknown)";
    td.append(a);
    return td;
  }

  async function post(path, body) {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
    const data = await r.json();
    $("status").textContent = r.ok ? "saved" : (data.error + ": " + data.message);
    await refresh();
  }

  function row(c) {
    const tr = document.createElement("tr");
    tr.dataset.contact = c.id;
    cell(tr, c.medium);
    linkCell(tr, c.from, c.id);
    cell(tr, Object.entries(c.attributes).map(([k, v]) => k + "=" + v).join(", "));
    cell(tr, c.state);
    cell(tr, c.waited_s + " s");
    cell(tr, c.position === null ? "" : String(c.position));
    cell(tr, c.predicted_wait_s === null ? "" : c.predicted_wait_s + " s");
    const prio = cell(tr, "");
    const input = document.createElement("input");
    input.type = "number"; input.value = c.priority; input.className = "priority"; input.min = -100; input.max = 100;
    prio.append(input);
    const sched = cell(tr, "");
    const when = document.createElement("input");
    when.type = "datetime-local"; when.className = "not-before";
    if (c.not_before) when.value = c.not_before.slice(0, 16);
    sched.append(when);
    const actions = cell(tr, "");
    const save = document.createElement("button");
    save.type = "button"; save.textContent = "Save"; save.className = "save";
    save.addEventListener("click", async () => {
      await post("/supervisor/api/contacts/" + c.id + "/priority", { priority: Number(input.value) });
      const iso = when.value ? new Date(when.value).toISOString() : null;
      if (iso !== c.not_before) await post("/supervisor/api/contacts/" + c.id + "/schedule", { not_before: iso });
    });
    const now = document.createElement("button");
    now.type = "button"; now.textContent = "Now"; now.className = "now";
    now.addEventListener("click", () => post("/supervisor/api/contacts/" + c.id + "/schedule", { not_before: null }));
    actions.append(save, now);
    return tr;
  }

  const MODES = [["listen", "Listen"], ["whisper", "Whisper"], ["barge", "Barge"], ["take_over", "Take over"]];

  async function monitor(id, method, body) {
    const r = await fetch("/supervisor/api/calls/" + id + "/monitor", {
      method: method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body ? JSON.stringify(body) : undefined });
    const data = await r.json();
    $("status").textContent = r.ok ? (data.mode || data.state) : (data.error + ": " + data.message);
    await refreshCalls();
  }

  function callRow(c) {
    const tr = document.createElement("tr");
    tr.dataset.contact = c.id; tr.dataset.state = c.state;
    linkCell(tr, [c.name, c.from].filter(Boolean).join(" "), c.id);
    cell(tr, Object.entries(c.attributes).map(([k, v]) => k + "=" + v).join(", "));
    cell(tr, c.taken_over_by ? "taken over" : (c.agent ? c.agent.name : ""));
    cell(tr, c.state + (c.on_hold ? ", on hold" : "") + (c.muted ? ", agent muted" : ""));
    cell(tr, c.in_state_s + " s");
    const monitors = c.monitors || [];
    const mine = monitors.some((m) => m.supervisor.id === me);
    cell(tr, monitors.map((m) => m.supervisor.name + ": " + m.mode.replace("_", " ") + " (" + m.state + ")").join(", ")).className = "monitors";
    const actions = cell(tr, "");
    if (c.state === "connected" || mine) {
      for (const [mode, label] of MODES) {
        const b = document.createElement("button");
        b.type = "button"; b.textContent = label; b.className = "monitor-" + mode;
        b.addEventListener("click", () => monitor(c.id, "POST", { mode: mode }));
        actions.append(b);
      }
      const stop = document.createElement("button");
      stop.type = "button"; stop.textContent = "Stop"; stop.className = "monitor-stop"; stop.hidden = !mine;
      stop.addEventListener("click", () => monitor(c.id, "DELETE"));
      actions.append(stop);
    }
    return tr;
  }

  async function refreshCalls() {
    const r = await fetch("/supervisor/api/calls");
    if (!r.ok) return;
    const data = await r.json();
    $("calls").tBodies[0].replaceChildren(...data.calls.map(callRow));
    $("no-calls").hidden = data.calls.length > 0;
  }

  function finishedRow(c) {
    const tr = document.createElement("tr");
    tr.dataset.contact = c.id; tr.dataset.state = c.state;
    cell(tr, c.medium);
    linkCell(tr, c.from, c.id);
    cell(tr, c.agent || "");
    cell(tr, c.state);
    cell(tr, c.ended_at ? new Date(c.ended_at).toLocaleString() : "");
    cell(tr, String(c.recordings)).className = "recordings";
    return tr;
  }

  async function refreshFinished() {
    const r = await fetch("/supervisor/api/finished");
    if (!r.ok) return;
    const data = await r.json();
    $("finished").tBodies[0].replaceChildren(...data.contacts.map(finishedRow));
    $("no-finished").hidden = data.contacts.length > 0;
  }

  let editing = false;
  document.addEventListener("focusin", (e) => { editing = e.target.tagName === "INPUT"; });
  document.addEventListener("focusout", () => { editing = false; });

  async function refresh() {
    const r = await fetch("/supervisor/api/pending");
    if (!r.ok) { $("status").textContent = "cannot load: " + r.status; return; }
    const data = await r.json();
    if (!editing) $("pending").tBodies[0].replaceChildren(...data.contacts.map(row));
    $("none").hidden = data.contacts.length > 0;
    $("agents").replaceChildren(...data.agents.map((a) => {
      const li = document.createElement("li");
      li.textContent = a.name + ": " + a.state + (a.reason ? " (" + a.reason.replace(/_/g, " ") + ")" : "")
        + (a.held_back_for.length ? " (held for a waiting call)" : "");
      li.dataset.agent = a.id; li.dataset.state = a.state; li.dataset.reason = a.reason || "";
      li.dataset.heldBack = a.held_back_for.length ? "yes" : "";
      return li;
    }));
  }
  refresh();
  refreshCalls();
  setInterval(refresh, 2000);
  setInterval(refreshCalls, 1000);
  refreshFinished();
  setInterval(refreshFinished, 5000);
})();
