// The wallboard: the tenant's figures pushed over the websocket every second (the page
// reconnects on its own). Text only (textContent): nothing from the network is parsed as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const history = [[], [], []];  // times, contacts waiting, service level: the last 15 minutes
  let retry = 500;

  function secs(v) {
    if (v === null || v === undefined) return "–";
    const s = Math.round(v);
    return s < 60 ? s + " s" : Math.floor(s / 60) + " m " + String(s % 60).padStart(2, "0") + " s";
  }
  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v) + " %"; }
  function level(el, v, good, warn, higherIsBetter) {
    if (v === null || v === undefined) { delete el.dataset.level; return; }
    const ok = higherIsBetter ? v >= good : v <= good;
    const meh = higherIsBetter ? v >= warn : v <= warn;
    el.dataset.level = ok ? "good" : (meh ? "warn" : "bad");
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
    return td;
  }

  function render(data) {
    $("clock").textContent = new Date(data.at).toLocaleTimeString();
    $("threshold").textContent = "(" + data.service_level_s + " s)";
    $("window").textContent = "last " + Math.round(data.window_s / 60) + " min";
    const total = data.queues.find((q) => q.medium === "all") || null;
    const w = total ? total.window : {};
    $("total-waiting").textContent = total ? String(total.waiting) : "0";
    $("total-longest").textContent = total ? secs(total.longest_wait_s) : "–";
    $("total-sl").textContent = pct(w.service_level);
    level($("total-sl"), w.service_level, 80, 60, true);
    $("total-asa").textContent = secs(w.asa_s);
    $("total-abandon").textContent = pct(w.abandon_rate);
    level($("total-abandon"), w.abandon_rate, 5, 10, false);
    $("total-predicted").textContent = secs(w.predicted_wait_s) + " / " + secs(w.experienced_wait_s);

    const body = $("queues").querySelector("tbody");
    body.replaceChildren();
    for (const q of data.queues) {
      if (q.medium === "all") continue;
      const tr = document.createElement("tr");
      tr.dataset.medium = q.medium;
      tr.dataset.skill = q.skill;
      cell(tr, q.medium);
      cell(tr, q.skill || "–");
      cell(tr, String(q.waiting), "num waiting");
      cell(tr, secs(q.longest_wait_s), "num");
      const sl = cell(tr, pct(q.window.service_level), "num sl");
      if (q.window.service_level !== null) {
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.style.width = Math.round(q.window.service_level) / 100 * 4 + "rem";
        sl.append(bar);
      }
      cell(tr, pct(q.today.service_level));
      cell(tr, secs(q.window.asa_s));
      cell(tr, pct(q.window.abandon_rate), "abandon");
      cell(tr, secs(q.window.predicted_wait_s) + " / " + secs(q.window.experienced_wait_s));
      cell(tr, String(q.window.answered), "answered");
      body.append(tr);
    }
    $("no-queues").hidden = body.children.length > 0;

    const bars = $("agent-states");
    bars.replaceChildren();
    const count = data.agents.length || 1;
    for (const [state, n] of Object.entries(data.agents_by_state)) {
      const span = document.createElement("span");
      span.dataset.state = state;
      span.style.width = (100 * n / count) + "%";
      span.textContent = state.replace("_", " ") + " " + n;
      bars.append(span);
    }
    const list = $("agents");
    list.replaceChildren();
    for (const a of data.agents) {
      const li = document.createElement("li");
      li.dataset.state = a.state;
      li.dataset.agent = String(a.id);
      li.textContent = a.name + " · " + a.state.replace("_", " ") + " " + secs(a.in_state_s);
      list.append(li);
    }

    const now = Date.parse(data.at) / 1000;
    history[0].push(now);
    history[1].push(total ? total.waiting : 0);
    history[2].push(w.service_level === undefined ? null : w.service_level);
    while (history[0].length && history[0][0] < now - 900) history.forEach((s) => s.shift());
    draw();
  }

  // The trend chart (uPlot, vendored): contacts waiting and the window's service level.
  let chart = null;
  function draw() {
    const box = $("trend");
    const width = Math.max(300, box.clientWidth - 16);
    if (chart === null) {
      const axis = { stroke: "#8b949e", grid: { stroke: "#30363d" }, ticks: { stroke: "#30363d" } };
      chart = new uPlot({
        width: width, height: 220,
        scales: { n: { range: (u, min, max) => [0, Math.max(1, max)] }, pct: { range: [0, 100] } },
        series: [
          {},
          { label: "waiting", scale: "n", stroke: "#58a6ff", width: 2 },
          { label: "service level %", scale: "pct", stroke: "#3fb950", width: 2, spanGaps: true },
        ],
        axes: [axis, { ...axis, scale: "n", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] },
               { ...axis, scale: "pct", side: 1 }],
      }, history, box);
    } else {
      if (chart.width !== width) chart.setSize({ width: width, height: 220 });
      chart.setData(history);
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/supervisor/wallboard/ws");
    ws.onopen = () => { $("conn").textContent = "live"; retry = 500; };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "wallboard") render(msg);
    };
    ws.onclose = () => {
      $("conn").textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  connect();
})();
