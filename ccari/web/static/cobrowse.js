// ccari co-browsing, the customer's side: records this page with rrweb and sends it to the
// agent over the public websocket.  Loaded on demand by the help widget (or any page):
//
//   ccariCobrowse.start({token, onCode(code), onEnd(reason)})   the customer pressed "share"
//   ccariCobrowse.stop()                                         the customer stops sharing
//
// While sharing, the state is kept in sessionStorage, so loading this script on the next
// page of the site resumes by itself.  Passwords, card fields, one-time codes and anything
// matching the tenant's mask selector (data-ccari-mask by default) are masked HERE, before
// any event leaves the browser.  The agent may point, highlight and send the customer to
// another page of the tenant's sites only while the customer allows it (checkbox below).
(function () {
  "use strict";
  if (window.ccariCobrowse) return;
  const KEY = "ccari.cobrowse";
  const script = document.currentScript;
  const BASE = script ? new URL(script.src, location.href).origin : location.origin;
  const SENSITIVE = 'input[type="password"], [data-rr-is-password], input[autocomplete^="cc-"], ' +
    'input[autocomplete="current-password"], input[autocomplete="new-password"], ' +
    'input[autocomplete="one-time-code"]';
  const MIN_FLUSH_MS = 10;
  const MAX_MESSAGE = 3.5 * 1024 * 1024;
  const MAX_BUFFER = 5000;

  let st = null; // the active share: {token, session, ws, stopRecording, queue, ...}

  function saved() { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } }
  function save(v) { try { if (v) sessionStorage.setItem(KEY, JSON.stringify(v)); else sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ } }

  function loadRrweb() {
    if (window.rrweb && window.rrweb.record) return Promise.resolve(window.rrweb);
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = BASE + "/vendor/rrweb.min.js";
      s.onload = () => (window.rrweb ? resolve(window.rrweb) : reject(new Error("rrweb did not load")));
      s.onerror = () => reject(new Error("rrweb did not load"));
      document.head.append(s);
    });
  }

  // ---- the customer's control bar (not recorded: rr-block) ----------------------------------
  function css(el, styles) { Object.assign(el.style, styles); return el; }

  function bar() {
    const box = css(document.createElement("div"), {
      position: "fixed", right: "12px", bottom: "12px", zIndex: "2147483647", background: "#1b2a41",
      color: "#fff", font: "14px/1.4 system-ui, sans-serif", padding: "10px 12px", borderRadius: "8px",
      boxShadow: "0 2px 10px rgba(0,0,0,.3)", maxWidth: "320px",
    });
    box.className = "rr-block ccari-cobrowse-bar";
    box.setAttribute("role", "status");
    const text = document.createElement("div");
    text.className = "ccari-cobrowse-text";
    const code = css(document.createElement("strong"), { fontSize: "18px", letterSpacing: "2px" });
    code.className = "ccari-cobrowse-code";
    const label = css(document.createElement("label"), { display: "block", margin: "6px 0" });
    const consent = document.createElement("input");
    consent.type = "checkbox";
    consent.className = "ccari-cobrowse-consent";
    label.append(consent, " Let the agent point and guide me to pages");
    const stopBtn = document.createElement("button");
    stopBtn.type = "button";
    stopBtn.className = "ccari-cobrowse-stop";
    stopBtn.textContent = "Stop sharing";
    box.append(text, code, label, stopBtn);
    consent.addEventListener("change", () => send({ type: "consent", allow: consent.checked }));
    stopBtn.addEventListener("click", () => api.stop());
    document.documentElement.append(box);
    return { box, text, code, consent };
  }

  function overlay(kind) {
    const el = css(document.createElement("div"), {
      position: "absolute", zIndex: "2147483646", pointerEvents: "none",
    });
    el.className = "rr-block ccari-cobrowse-" + kind;
    document.documentElement.append(el);
    return el;
  }

  function pointer(x, y) {
    if (!st.pointer) {
      st.pointer = css(overlay("pointer"), { width: "18px", height: "18px", marginLeft: "-9px", marginTop: "-9px",
        borderRadius: "50%", background: "rgba(230,40,40,.75)", border: "2px solid #fff" });
    }
    css(st.pointer, { left: x + "px", top: y + "px" });
  }

  function highlight(nodeId) {
    let node = window.rrweb.record.mirror.getNode(nodeId);
    if (node && node.nodeType !== 1) node = node.parentElement;
    if (!node || !node.getBoundingClientRect) return;
    const r = node.getBoundingClientRect();
    if (r.bottom < 0 || r.top > innerHeight) node.scrollIntoView({ block: "center" });
    const r2 = node.getBoundingClientRect();
    const box = css(overlay("highlight"), { left: (r2.left + scrollX - 4) + "px", top: (r2.top + scrollY - 4) + "px",
      width: (r2.width + 8) + "px", height: (r2.height + 8) + "px", outline: "3px solid #e62828", borderRadius: "4px" });
    setTimeout(() => box.remove(), 4000);
  }

  function allowedUrl(url) {
    try {
      const u = new URL(url, location.href);
      return (u.protocol === "https:" || u.protocol === "http:") && st.origins.includes(u.origin);
    } catch (e) { return false; }
  }

  // ---- masking (in the browser: masked values never leave it) --------------------------------
  function masker(selector) {
    let sel = SENSITIVE;
    try { if (selector) { document.querySelector(selector); sel += ", " + selector; } } catch (e) { sel = null; }
    const sensitive = (el) => sel === null || (el && el.matches && (el.matches(sel) || !!el.closest(sel)));
    return { sel, fn: (text, el) => (text && sensitive(el) ? "********" : text) };
  }

  // ---- transport ---------------------------------------------------------------------------
  function send(msg) {
    if (st && st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.send(JSON.stringify(msg));
  }

  function emit(event) {
    if (!st) return;
    st.queue.push(event);
    if (st.queue.length > MAX_BUFFER) { st.queue = []; st.needSnapshot = true; return; }
    if (st.flushTimer === null) {
      const wait = Math.max(0, st.lastFlush + MIN_FLUSH_MS - performance.now());
      st.flushTimer = setTimeout(flush, wait);
    }
  }

  function sendBatch(events) {
    const text = JSON.stringify({ type: "events", events });
    if (text.length <= MAX_MESSAGE) { st.ws.send(text); return; }
    if (events.length === 1) { console.warn("ccari co-browse: a page change too large to share"); return; }
    const half = events.length >> 1;
    sendBatch(events.slice(0, half));
    sendBatch(events.slice(half));
  }

  function flush() {
    if (!st) return;
    st.flushTimer = null;
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN || !st.queue.length) return;
    const events = st.queue;
    st.queue = [];
    st.lastFlush = performance.now();
    sendBatch(events);
  }

  function record(hello) {
    const m = masker(hello.mask);
    st.stopRecording = window.rrweb.record({
      emit,
      maskAllInputs: true,          // every input goes through maskInputFn, which masks the sensitive ones
      maskInputFn: m.fn,
      maskTextSelector: m.sel || "*",
      blockClass: "rr-block",
      sampling: { mousemove: 50, scroll: 50 },
      recordCanvas: false,
      collectFonts: false,
    });
  }

  function onMessage(m) {
    if (m.type === "hello") {
      st.session = m.session;
      st.origins = m.origins || [];
      save({ token: st.token, session: m.session });
      st.ui.code.textContent = m.code;
      st.ui.text.textContent = m.state === "linked" ? "An agent can see this page. Your code:" : "Read this code to the agent:";
      st.ui.consent.checked = !!m.consent;
      st.consent = !!m.consent;
      if (st.onCode) st.onCode(m.code);
      if (!st.stopRecording) record(m);
      else { st.queue = []; window.rrweb.record.takeFullSnapshot(true); }
    } else if (m.type === "linked") {
      st.ui.text.textContent = "An agent can see this page. Your code:";
    } else if (m.type === "snapshot") {
      if (st.stopRecording) window.rrweb.record.takeFullSnapshot(true);
    } else if (m.type === "pointer" && st.ui.consent.checked) {
      pointer(m.x, m.y);
    } else if (m.type === "highlight" && st.ui.consent.checked) {
      highlight(m.node);
    } else if (m.type === "navigate" && st.ui.consent.checked && allowedUrl(m.url)) {
      location.assign(m.url);
    } else if (m.type === "ended") {
      finish(m.reason);
    } else if (m.type === "error") {
      console.warn("ccari co-browse:", m.error);
    }
  }

  function connect() {
    const url = new URL("/v1/cobrowse/ws", BASE);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", st.token);
    if (st.session) url.searchParams.set("session", st.session);
    const ws = new WebSocket(url);
    st.ws = ws;
    ws.onopen = () => { st.retry = 500; };
    ws.onmessage = (ev) => { if (st && st.ws === ws) onMessage(JSON.parse(ev.data)); };
    ws.onclose = (ev) => {
      if (!st || st.ws !== ws) return;
      if (ev.code === 1008 || ev.code === 1009) { finish("refused"); return; }
      if (st.retries++ > 20) { finish("lost"); return; }
      setTimeout(() => { if (st && st.ws === ws) connect(); }, st.retry);
      st.retry = Math.min(st.retry * 2, 5000);
    };
  }

  function finish(reason) {
    if (!st) return;
    const s = st;
    st = null;
    save(null);
    if (s.stopRecording) s.stopRecording();
    if (s.flushTimer !== null) clearTimeout(s.flushTimer);
    if (s.ws && s.ws.readyState <= WebSocket.OPEN) s.ws.close(1000);
    s.ui.box.remove();
    if (s.pointer) s.pointer.remove();
    if (s.onEnd) s.onEnd(reason);
  }

  function begin(token, session, onCode, onEnd) {
    if (st) { st.onCode = onCode || st.onCode; st.onEnd = onEnd || st.onEnd; return Promise.resolve(); }
    st = { token, session, onCode, onEnd, ws: null, queue: [], flushTimer: null, lastFlush: 0,
      stopRecording: null, retry: 500, retries: 0, origins: [], ui: bar(), pointer: null };
    st.ui.text.textContent = "Starting to share this page…";
    return loadRrweb().then(connect, (err) => { finish("unavailable"); throw err; });
  }

  const api = {
    start(opts) {
      const o = opts || {};
      if (!o.token) throw new Error("ccariCobrowse.start needs the customer token");
      const prev = saved();
      const session = prev && prev.token === o.token ? prev.session : null;
      return begin(o.token, st ? st.session : session, o.onCode, o.onEnd);
    },
    stop() {
      if (!st) return;
      send({ type: "stop" });
      finish("customer-stopped");
    },
    active() { return !!st || !!saved(); },
  };
  window.ccariCobrowse = api;

  const resume = saved();
  if (resume && resume.token && resume.session) begin(resume.token, resume.session, null, null);
})();
