// The agent page: presence buttons and the live screen pop.  Text only (textContent):
// nothing from the network is ever parsed as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  let ws;
  let retry = 500;

  function setState(state) {
    $("state").textContent = state;
    $("state").dataset.state = state;
  }

  function list(el, items, fmt) {
    el.replaceChildren(...items.map((x) => {
      const li = document.createElement("li");
      li.textContent = fmt(x);
      return li;
    }));
  }

  function showOffer(c) {
    $("idle").hidden = true;
    $("pop").hidden = false;
    $("pop").dataset.contact = c.id;
    $("pop-medium").textContent = c.medium;
    $("pop-caller").textContent = [c.caller_name, c.caller_number].filter(Boolean).join(" ") || "unknown";
    const cust = c.customer;
    $("pop-customer").textContent = cust ? cust.name : "no customer record for this number";
    list($("pop-entitlements"), cust ? cust.entitlements : [], (e) => Object.values(e).join(" · "));
    list($("pop-tickets"), cust ? cust.tickets : [], (t) => "#" + t.id + " " + t.subject + " (" + t.status + ")");
    $("pop-ivr").textContent = Object.entries(c.ivr || {}).map(([k, v]) => k + "=" + v).join(", ") || "none";
    $("pop-wait").textContent = Math.round(c.wait_s) + " s";
    $("pop-status").textContent = "ringing";
  }

  function clearPop(id) {
    if (id && $("pop").dataset.contact !== id) return;
    $("pop").hidden = true;
    $("idle").hidden = false;
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/agent/ws");
    ws.onopen = () => { $("conn").textContent = "live"; retry = 500; };
    ws.onclose = () => {
      $("conn").textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type === "state" || m.type === "hello") setState(m.state);
      if (m.type === "offer") showOffer(m.contact);
      if (m.type === "connected" && $("pop").dataset.contact === m.contact_id) $("pop-status").textContent = "connected";
      if (m.type === "withdrawn") clearPop(m.contact_id);
      if (m.type === "state" && m.offer === null && m.state !== "busy" && m.state !== "reserved") clearPop();
    };
  }

  function presence(p) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "presence", presence: p }));
  }
  $("ready").addEventListener("click", () => presence("ready"));
  $("not-ready").addEventListener("click", () => presence("not_ready"));
  connect();
})();
