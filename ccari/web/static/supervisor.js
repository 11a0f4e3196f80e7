// Supervisor page: pending contacts of every medium, refreshed; priority and reschedule.
// Text only (textContent): nothing from the network is parsed as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const csrf = $("pending-card").dataset.csrf;

  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.append(td); return td; }

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
    cell(tr, c.from);
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
      li.textContent = a.name + ": " + a.state + (a.reason ? " (" + a.reason.replace(/_/g, " ") + ")" : "");
      li.dataset.agent = a.id; li.dataset.state = a.state; li.dataset.reason = a.reason || "";
      return li;
    }));
  }
  refresh();
  setInterval(refresh, 2000);
})();
