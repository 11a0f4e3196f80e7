// ccari co-browsing, the agent's mirror (/agent/cobrowse/<contact id>): replays the customer's
// rrweb events live with rrweb's Replayer.  With the customer's consent the agent points
// (mouse over the mirror), highlights (click on an element) and sends the customer to another
// page of the tenant's site.  Network text is only ever shown with textContent.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const contact = document.body.dataset.contact;
  const stage = $("cb-stage");
  const FAR_FUTURE = 10 * 365 * 24 * 3600 * 1000;
  let replayer = null;
  let size = { width: 1024, height: 768 };
  let scale = 1;
  let consent = false;
  let ended = false;
  let ws = null;
  let retry = 500;
  let lastPointer = 0;

  Object.assign(document.body.style, { margin: "0" });
  Object.assign(stage.style, { position: "relative", overflow: "hidden", background: "#dfe3ea" });

  function setConsent(allow) {
    consent = allow;
    $("cb-consent").textContent = allow ? "Guidance allowed" : "Guidance not allowed";
    for (const el of $("cb-nav").elements) el.disabled = !allow;
  }

  function fit() {
    if (!replayer) return;
    scale = Math.min(1, (stage.clientWidth || size.width) / size.width);
    Object.assign(replayer.wrapper.style, { transform: "scale(" + scale + ")", transformOrigin: "0 0" });
    stage.style.height = Math.ceil(size.height * scale) + "px";
  }

  function newReplayer() {
    if (replayer) replayer.destroy();
    stage.replaceChildren();
    replayer = new window.rrweb.Replayer([], {
      root: stage, liveMode: true, mouseTail: false, useVirtualDom: false, triggerFocus: false,
      pauseAnimation: false, showWarning: false,
      // The customer's own co-browse controls and the agent's marks are not part of the page.
      insertStyleRules: [".ccari-cobrowse-bar, .ccari-cobrowse-pointer, .ccari-cobrowse-highlight { display: none !important; }"],
    });
    replayer.on("resize", (d) => { size = { width: d.width, height: d.height }; fit(); });
    // Every event is applied as it arrives (no replay clock): the customer's clock may differ.
    replayer.startLive(Date.now() + FAR_FUTURE);
  }

  function frame() { return replayer ? replayer.iframe : null; }

  function onEvents(events) {
    for (const e of events) {
      if (e.type === 4) newReplayer();  // Meta: a new page or a fresh snapshot follows
      if (replayer) replayer.addEvent(e);
    }
  }

  function stop(reason) {
    ended = true;
    if (ws) ws.close(1000);
    if (replayer) { replayer.destroy(); replayer = null; }
    stage.replaceChildren();
    stage.style.height = "0";
    $("cb-state").textContent = "Co-browse ended (" + reason + ").";
    setConsent(false);
    $("cb-end").disabled = true;
  }

  function status(m) {
    $("cb-state").textContent = m.customer ? "Customer connected" : "Waiting for the customer's page…";
    if (m.page && m.page.url) { $("cb-page").textContent = m.page.url; $("cb-page").href = m.page.url; }
    setConsent(!!m.consent);
  }

  function onMessage(m) {
    if (m.type === "events") onEvents(m.events);
    else if (m.type === "status") status(m);
    else if (m.type === "customer") $("cb-state").textContent = m.connected ? "Customer connected" : "Customer's page is loading…";
    else if (m.type === "consent") setConsent(m.allow);
    else if (m.type === "ended") stop(m.reason);
    else if (m.type === "error") $("cb-error").textContent = m.error + (m.message ? ": " + m.message : "");
  }

  function send(msg) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); }

  function connect() {
    if (ended || document.body.dataset.linked !== "yes") return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/agent/cobrowse/ws?contact=" + encodeURIComponent(contact));
    ws.onopen = () => { retry = 500; };
    ws.onmessage = (ev) => onMessage(JSON.parse(ev.data));
    ws.onclose = () => {
      if (ended) return;
      $("cb-state").textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  // Where in the customer's page (document coordinates) the agent's mouse is.
  function pagePoint(ev) {
    const f = frame();
    if (!f || !f.contentWindow) return null;
    const r = f.getBoundingClientRect();
    const vx = (ev.clientX - r.left) / scale;
    const vy = (ev.clientY - r.top) / scale;
    if (vx < 0 || vy < 0 || vx > size.width || vy > size.height) return null;
    return { vx, vy, x: Math.round(vx + f.contentWindow.scrollX), y: Math.round(vy + f.contentWindow.scrollY) };
  }

  stage.addEventListener("mousemove", (ev) => {
    if (!consent || performance.now() - lastPointer < 50) return;
    const p = pagePoint(ev);
    if (!p) return;
    lastPointer = performance.now();
    send({ type: "pointer", x: p.x, y: p.y });
  });

  stage.addEventListener("click", (ev) => {
    if (!consent) return;
    const p = pagePoint(ev);
    const f = frame();
    if (!p || !f.contentDocument) return;
    const el = f.contentDocument.elementFromPoint(p.vx, p.vy);
    const id = el ? replayer.getMirror().getId(el) : -1;
    if (id > 0) send({ type: "highlight", node: id });
  });

  $("cb-nav").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("cb-error").textContent = "";
    send({ type: "navigate", url: $("cb-url").value });
  });
  $("cb-end").addEventListener("click", () => send({ type: "end" }));
  window.addEventListener("resize", fit);
  window.ccariMirror = { frame, replayer: () => replayer, scale: () => scale };
  setConsent(false);
  connect();
})();
