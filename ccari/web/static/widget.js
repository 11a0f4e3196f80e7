// ccari help widget.  Embed with one tag on any page of the tenant's site:
//   <script src="https://help.example/widget.js" data-tenant="acme" defer></script>
// No framework, no inline code or styles (CSP-friendly), no HTML parsing: everything from the
// network is rendered with textContent.  The customer's session token lives in
// sessionStorage so a reload (or the next page of the site) keeps the conversation.
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || window.ccariWidget) return;
  const tenant = script.dataset.tenant;
  const base = new URL(script.src, location.href).origin;
  const store = window.sessionStorage;
  const key = (name) => "ccari:" + tenant + ":" + name;
  const WAIT_EVERY_MS = 10000;

  let token = store.getItem(key("token"));
  let topics = [];
  let topicsKnown = false; // the session of this page said them
  let ws = null;
  let wsRetry = 500;
  let chatState = "none";
  let starting = false; // "Start chat" sent; the chat's state not back yet
  let poller = null;
  let typingSent = 0;
  let typingTimer = null;
  let agentTypingTimer = null;
  const seen = new Set();
  const pending = new Map(); // client_id -> {body, li}

  // ---- DOM helpers ---------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "attrs") for (const [a, x] of Object.entries(v)) node.setAttribute(a, x);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const field = (label, input) => el("label", { className: "ccari-w-field" }, el("span", {}, label), input);

  function fmtWait(s) {
    if (s === null || s === undefined) return "no agent is available right now";
    if (s < 60) return "less than a minute";
    const m = Math.ceil(s / 60);
    return m === 1 ? "about a minute" : "about " + m + " minutes";
  }

  // ---- the widget's frame ---------------------------------------------------------------
  const css = el("link", { rel: "stylesheet", href: base + "/widget.css" });
  document.head.append(css);
  const launch = el("button", { type: "button", className: "ccari-w-launch", attrs: { "aria-expanded": "false" } }, "Help");
  const close = el("button", { type: "button", className: "ccari-w-close", attrs: { "aria-label": "Close" } }, "×");
  const title = el("h2", { className: "ccari-w-title" }, "How can we help?");
  const choices = el("nav", { className: "ccari-w-choices" });
  const view = el("div", { className: "ccari-w-view" });
  const error = el("p", { className: "ccari-w-error", attrs: { role: "alert" }, hidden: true });
  const panel = el("section", { className: "ccari-w-panel", hidden: true, attrs: { role: "dialog", "aria-label": "Help" } },
    el("header", { className: "ccari-w-head" }, title, close), choices, error, view);
  const root = el("div", { className: "ccari-w", id: "ccari-widget" }, launch, panel);
  document.body.append(root);

  const CHOICES = [["chat", "Chat now"], ["call-now", "Call me now"], ["call-later", "Call me at a time I choose"], ["email", "Email"]];
  for (const [name, label] of CHOICES) {
    choices.append(el("button", { type: "button", className: "ccari-w-choice", dataset: { choice: name }, onclick: () => choose(name) }, label));
  }

  function showError(message) { error.textContent = message || ""; error.hidden = !message; }

  function setView(name, ...nodes) {
    stopPolling();
    view.dataset.view = name;
    view.replaceChildren(...nodes);
    for (const b of choices.children) b.setAttribute("aria-pressed", String(b.dataset.choice === name.split(":")[0]));
    if (CHOICES.some((c) => c[0] === name)) store.setItem(key("view"), name);
    showError("");
  }

  async function openPanel() {
    panel.hidden = false;
    launch.setAttribute("aria-expanded", "true");
    store.setItem(key("open"), "1");
    try { await session(); } catch (e) { showError(e.message); }
  }
  function closePanel() {
    panel.hidden = true;
    launch.setAttribute("aria-expanded", "false");
    store.removeItem(key("open"));
    stopPolling();
  }
  launch.addEventListener("click", () => (panel.hidden ? openPanel() : closePanel()));
  close.addEventListener("click", closePanel);

  // ---- the API -------------------------------------------------------------------------
  // One session request at a time: the panel, the wait line and the chat all wait for the
  // same answer (a slow service must not be asked once per part of the widget).
  let sessionAsked = null;
  function session() {
    if (!sessionAsked) sessionAsked = askSession().finally(() => { sessionAsked = null; });
    return sessionAsked;
  }

  async function askSession() {
    const resp = await fetch(base + "/v1/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit",
      body: JSON.stringify({ tenant: tenant, page_url: location.href, token: token || undefined }),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.message || "The help service is not available.");
    token = data.token;
    topics = data.topics || [];
    topicsKnown = true;
    offerTalk(!!data.talk_now, !!data.video_call);
    store.setItem(key("token"), token);
    return data;
  }

  // A POST carries an Idempotency-Key: retrying the same request never files it twice.
  async function api(method, path, body, again, idem) {
    if (!token) await session();
    const key = idem || (method === "POST" ? Date.now().toString(36) + Math.random().toString(36).slice(2) : null);
    const headers = { Authorization: "Bearer " + token };
    if (body) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    const resp = await fetch(base + path, {
      method: method, credentials: "omit", headers: headers, body: body ? JSON.stringify(body) : undefined,
    });
    const data = resp.status === 204 ? {} : await resp.json().catch(() => ({}));
    if (resp.status === 401 && !again) { token = null; await session(); return api(method, path, body, true, key); }
    if (!resp.ok) throw new Error(data.message || "Something went wrong (" + resp.status + ").");
    return data;
  }

  function stopPolling() { if (poller) { clearInterval(poller); poller = null; } }
  function pollWait(medium, target, topicOf) {
    stopPolling();
    const once = async () => {
      try {
        const q = "medium=" + encodeURIComponent(medium) + (topicOf && topicOf() ? "&topic=" + encodeURIComponent(topicOf()) : "");
        const w = await api("GET", "/v1/wait?" + q);
        target.textContent = "Anticipated wait: " + fmtWait(w.anticipated_wait_s);
      } catch (e) { target.textContent = ""; }
    };
    once();
    poller = setInterval(once, WAIT_EVERY_MS * 1.5);
  }

  // ---- the four choices ----------------------------------------------------------------
  function choose(name) {
    if (name === "chat") return chatChoice();
    if (name === "email") return emailView();
    if (name === "talk") return talkView(false);
    if (name === "video") return talkView(true);
    return callView(name === "call-now");
  }

  function submitting(form, fn) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      showError("");
      try { await fn(); } catch (e) { showError(e.message); } finally { button.disabled = false; }
    });
  }

  function callView(now) {
    const waitLine = el("p", { className: "ccari-w-wait" });
    const phone = el("input", { type: "tel", name: "phone", required: true, autocomplete: "tel", value: store.getItem(key("phone")) || "" });
    const when = el("input", { type: "datetime-local", name: "when", required: true });
    const submit = el("button", { type: "submit" }, now ? "Call me now" : "Call me then");
    const form = el("form", { className: "ccari-w-form" }, field("Your phone number", phone));
    if (!now) form.append(field("When", when));
    form.append(submit);
    const topic = topicField(form, submit);
    setView(now ? "call-now" : "call-later", form, waitLine);
    pollWait("callback", waitLine, topic);
    submitting(form, async () => {
      const at = now ? "now" : new Date(when.value).toISOString();
      const body = { phone: phone.value, when: at, page_url: location.href };
      if (topic()) body.skill = topic();
      const cb = await api("POST", "/v1/callbacks", body);
      store.setItem(key("phone"), phone.value);
      store.setItem(key("callback"), cb.id);
      const cancel = el("button", { type: "button", className: "ccari-w-secondary" }, "Cancel the call");
      const said = now ? "We will call you at " + phone.value + " — " + fmtWait(cb.anticipated_wait_s) + "."
        : "We will call you at " + phone.value + " at " + new Date(at).toLocaleString() + ".";
      setView(now ? "call-now:done" : "call-later:done", el("p", { className: "ccari-w-done" }, said), cancel);
      cancel.addEventListener("click", async () => {
        try {
          await api("DELETE", "/v1/callbacks/" + encodeURIComponent(cb.id));
          store.removeItem(key("callback"));
          setView("call:cancelled", el("p", { className: "ccari-w-done" }, "The call is cancelled."));
        } catch (e) { showError(e.message); }
      });
    });
  }

  function emailView() {
    const from = el("input", { type: "email", name: "from_address", required: true, autocomplete: "email" });
    const subject = el("input", { type: "text", name: "subject", required: true, maxLength: 200 });
    const body = el("textarea", { name: "body", required: true, rows: 5 });
    const form = el("form", { className: "ccari-w-form" }, field("Your email address", from), field("Subject", subject),
      field("Message", body), el("button", { type: "submit" }, "Send"));
    setView("email", form);
    submitting(form, async () => {
      const r = await api("POST", "/v1/email", { from_address: from.value, subject: subject.value, body: body.value, page_url: location.href });
      setView("email:done", el("p", { className: "ccari-w-done" },
        "Thank you, we received your message. We answer in " + fmtWait(r.anticipated_response_s) + "."));
    });
  }

  // ---- talk now (the tenant offers it): a call from the page, over WebRTC ---------------
  // "Video call" only while an agent can take one (the session says so, each time it is
  // renewed: a yes or no, nothing about the agents).
  function offerTalk(talk, video) {
    const old = choices.querySelector("[data-choice=video]");
    if (old && !video) old.remove();
    if (!talk) return;
    if (!choices.querySelector("[data-choice=talk]")) {
      choices.prepend(el("button", { type: "button", className: "ccari-w-choice", dataset: { choice: "talk" }, onclick: () => choose("talk") }, "Talk now"));
    }
    if (video && !old) {
      choices.querySelector("[data-choice=talk]").after(
        el("button", { type: "button", className: "ccari-w-choice", dataset: { choice: "video" }, onclick: () => choose("video") }, "Video call"));
    }
  }

  const loaded = new Map();
  function loadScript(src) {
    if (!loaded.has(src)) {
      loaded.set(src, new Promise((resolve, reject) => {
        const s = el("script", { src: src, async: true });
        s.addEventListener("load", resolve);
        s.addEventListener("error", () => { loaded.delete(src); reject(new Error("The call could not start.")); });
        document.head.append(s);
      }));
    }
    return loaded.get(src);
  }

  const TALK_STATES = { connecting: "Connecting…", calling: "Calling…", ringing: "Waiting for an agent…", "in-call": "You are talking with an agent.", ended: "The call has ended.", failed: "The call could not be made." };
  // video: a video call (the agent's video shown, "Audio only" for a poor connection).
  function talkView(video) {
    const state = el("p", { className: "ccari-w-status ccari-w-talk-state", dataset: { state: "idle" } });
    const hang = el("button", { type: "button", className: "ccari-w-secondary ccari-w-hangup", hidden: true }, "Hang up");
    const audioOnly = el("button", { type: "button", className: "ccari-w-secondary ccari-w-audio-only", hidden: true }, "Audio only");
    const screen = el("video", { className: "ccari-w-video", autoplay: true, muted: true, playsInline: true, hidden: true });
    const waitLine = el("p", { className: "ccari-w-wait" });
    const buttons = el("div", { className: "ccari-w-row ccari-w-talk" });
    // The IVR's choices as buttons: the topic goes with the call.
    const options = topics.length ? topics.map((t) => [t, (video ? "Video call about " : "Talk about ") + t]) : [["", "Call now"]];
    for (const [topic, label] of options) {
      buttons.append(el("button", { type: "button", dataset: { topic: topic }, onclick: () => talk(topic) }, label));
    }
    const show = (s, detail) => {
      state.dataset.state = s;
      state.textContent = (TALK_STATES[s] || s) + (detail && s === "failed" ? " (" + detail + ")" : "");
      const live = s === "connecting" || s === "calling" || s === "ringing" || s === "in-call";
      hang.hidden = !live;
      const seeing = video && s === "in-call" && !(window.ccariTalk && window.ccariTalk.audioOnly());
      audioOnly.hidden = !seeing;
      screen.hidden = !seeing;
      for (const b of buttons.children) b.disabled = live;
    };
    async function talk(topic) {
      showError("");
      try {
        const body = { page_url: location.href };
        if (topic) body.topic = topic;
        if (video) body.video = true;
        const ticket = await api("POST", "/v1/talk/tickets", body);
        await loadScript(base + "/talk/jssip.min.js");
        await loadScript(base + "/talk/video-watch.js");
        await loadScript(base + "/talk/talk.js");
        window.ccariTalk.start(base, ticket, show, video ? screen : null);
      } catch (e) { show("failed"); showError(e.message); }
    }
    hang.addEventListener("click", () => window.ccariTalk && window.ccariTalk.hangup());
    audioOnly.addEventListener("click", async () => {
      audioOnly.disabled = true;
      await window.ccariTalk.toAudioOnly();
      show(state.dataset.state);
      audioOnly.disabled = false;
    });
    setView(video ? "video" : "talk", buttons, state, screen, hang, audioOnly, waitLine);
    pollWait("callback", waitLine, () => "");
  }

  // The tenant's topics as a field of ``form`` (before ``before``), once the session has
  // said them: a customer may pick a medium before the service answered.  Returns what is
  // chosen ("" for anything).
  function topicField(form, before) {
    let select = null;
    const add = () => {
      select = topicSelect();
      if (select) form.insertBefore(field("Topic", select), before);
    };
    if (topicsKnown) add(); else session().then(add, () => {});
    return () => (select ? select.value : "");
  }

  function topicSelect() {
    if (!topics.length) return null;
    const select = el("select", { name: "topic" }, el("option", { value: "" }, "Anything"));
    for (const t of topics) select.append(el("option", { value: t }, t));
    return select;
  }

  // ---- chat ----------------------------------------------------------------------------
  const log = el("ol", { className: "ccari-w-log", attrs: { "aria-live": "polite" } });
  const status = el("p", { className: "ccari-w-status" });
  const typing = el("p", { className: "ccari-w-typing", hidden: true });
  const input = el("textarea", { name: "message", rows: 2, maxLength: 4000, attrs: { "aria-label": "Your message" } });
  const composer = el("form", { className: "ccari-w-composer" }, input, el("button", { type: "submit" }, "Send"));
  const endChat = el("button", { type: "button", className: "ccari-w-secondary ccari-w-end" }, "End chat");
  const again = el("button", { type: "button", className: "ccari-w-secondary", hidden: true }, "Start a new chat");
  const mailTo = el("input", { type: "email", name: "address", required: true, autocomplete: "email" });
  const mailForm = el("form", { className: "ccari-w-form ccari-w-transcript" }, field("Email me the transcript", mailTo),
    el("button", { type: "submit" }, "Send transcript"));
  const share = el("button", { type: "button", className: "ccari-w-secondary ccari-w-share", hidden: true }, "Share this page with the agent");
  const shareNote = el("p", { className: "ccari-w-done", hidden: true });
  const chatView = [status, log, typing, composer, el("div", { className: "ccari-w-row" }, endChat, again, share), shareNote, mailForm];

  function chatChoice() {
    if (chatState === "queued" || chatState === "connected" || store.getItem(key("chat"))) return showChat();
    const name = el("input", { type: "text", name: "name", maxLength: 100, autocomplete: "name" });
    const waitLine = el("p", { className: "ccari-w-wait" });
    const nameField = field("Your name (optional)", name);
    const form = el("form", { className: "ccari-w-form ccari-w-start" }, nameField,
      el("button", { type: "submit" }, "Start chat"));
    const topic = topicField(form, nameField);
    setView("chat:start", form, waitLine);
    pollWait("chat", waitLine, topic);
    submitting(form, async () => {
      const open = { type: "open", page_url: location.href };
      if (topic()) open.topic = topic();
      if (name.value) open.name = name.value;
      store.setItem(key("chat"), "1");
      log.replaceChildren();
      seen.clear();
      showChat();
      starting = true;
      try { (await connected()).send(JSON.stringify(open)); } catch (e) { starting = false; throw e; }
    });
  }

  function showChat() {
    setView("chat", ...chatView);
    connect();
    log.scrollTop = log.scrollHeight;
  }

  // The chat's open socket, once it is open (a socket that closes first is an error).
  async function connected() {
    await connect();
    const sock = ws;
    if (!sock) throw new Error("The help service is not available.");
    if (sock.readyState === WebSocket.OPEN) return sock;
    return new Promise((resolve, reject) => {
      sock.addEventListener("open", () => resolve(sock), { once: true });
      sock.addEventListener("close", () => reject(new Error("The chat could not connect; please try again.")), { once: true });
    });
  }

  // One socket at a time: the chat view, the start form and a retry share the attempt.
  let connecting = null;
  function connect() {
    if (!connecting) connecting = openSocket().finally(() => { connecting = null; });
    return connecting;
  }

  async function openSocket() {
    if (ws && ws.readyState <= WebSocket.OPEN) return;
    if (!token) { try { await session(); } catch (e) { showError(e.message); return; } }
    ws = new WebSocket(base.replace(/^http/, "ws") + "/v1/chat/ws?token=" + encodeURIComponent(token));
    const sock = ws;
    sock.addEventListener("open", () => {
      wsRetry = 500;
      for (const [clientId, p] of pending) sock.send(JSON.stringify({ type: "message", body: p.body, client_id: clientId }));
    });
    sock.addEventListener("message", (ev) => onServer(JSON.parse(ev.data)));
    sock.addEventListener("close", () => {
      if (ws !== sock) return;
      ws = null;
      starting = false; // the next socket says whether the chat was opened
      if (!store.getItem(key("chat"))) return;
      status.textContent = "Reconnecting…";
      setTimeout(async () => { try { await session(); } catch (e) { /* next try */ } connect(); }, wsRetry);
      wsRetry = Math.min(wsRetry * 2, 15000);
    });
  }

  function send(msg) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); }

  function onServer(m) {
    if (m.type === "state") return onState(m);
    if (m.type === "message") return showMessage(m);
    if (m.type === "wait") { if (chatState === "queued") status.textContent = queuedText(m); return; }
    if (m.type === "typing") return showTyping(m);
    if (m.type === "error") {
      if (m.request === "open" && starting) { starting = false; store.removeItem(key("chat")); chatChoice(); }
      showError(m.message || m.error);
    }
  }

  function queuedText(m) {
    return "Waiting for an agent — anticipated wait: " + fmtWait(m.anticipated_wait_s) + ".";
  }

  function onState(m) {
    // A new socket first says where this session's chat is: none yet, while the chat being
    // started is on its way (the start form must not come back meanwhile).
    if (m.state === "none" && starting) return;
    starting = false;
    chatState = m.state;
    root.dataset.chat = m.state;
    const live = m.state === "queued" || m.state === "connected";
    composer.hidden = !live;
    endChat.hidden = !live;
    again.hidden = live;
    stopPolling();
    if (m.state === "none") {
      store.removeItem(key("chat"));
      if (view.dataset.view === "chat") chatChoice();
      return;
    }
    if (m.state === "queued") {
      store.setItem(key("chat"), "1");
      status.textContent = queuedText(m);
      poller = setInterval(() => send({ type: "wait" }), WAIT_EVERY_MS);
    } else if (m.state === "connected") {
      store.setItem(key("chat"), "1");
      status.textContent = "You are chatting with " + (m.agent || "an agent") + ".";
      share.hidden = false;
    } else {
      store.removeItem(key("chat"));
      status.textContent = "The chat has ended.";
      typing.hidden = true;
      share.hidden = true;
    }
    if (panel.hidden && live) openPanel().then(showChat);
    else if (view.dataset.view !== "chat" && live) showChat();
  }

  function showMessage(m) {
    if (m.client_id && pending.has(m.client_id)) { pending.get(m.client_id).li.remove(); pending.delete(m.client_id); }
    if (seen.has(m.seq)) return;
    seen.add(m.seq);
    if (m.sender === "agent") typing.hidden = true;
    const who = m.sender === "customer" ? "You" : m.sender === "agent" ? (m.agent || "Agent") : "";
    const li = el("li", { className: "ccari-w-msg ccari-w-" + m.sender, dataset: { seq: String(m.seq) } });
    if (who) li.append(el("span", { className: "ccari-w-who" }, who));
    li.append(el("span", { className: "ccari-w-body" }, m.body));
    let after = null;
    for (const other of log.children) {
      if (other.dataset.seq && Number(other.dataset.seq) > m.seq) { after = other; break; }
      if (!other.dataset.seq) { after = other; break; } // pending ones stay last
    }
    log.insertBefore(li, after);
    log.scrollTop = log.scrollHeight;
  }

  function showTyping(m) {
    clearTimeout(agentTypingTimer);
    typing.textContent = (m.agent || "The agent") + " is typing…";
    typing.hidden = !m.typing;
    if (m.typing) agentTypingTimer = setTimeout(() => { typing.hidden = true; }, 6000);
  }

  composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const body = input.value;
    if (!body.trim()) return;
    const clientId = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    const li = el("li", { className: "ccari-w-msg ccari-w-customer ccari-w-pending" },
      el("span", { className: "ccari-w-who" }, "You"), el("span", { className: "ccari-w-body" }, body));
    log.append(li);
    pending.set(clientId, { body: body, li: li });
    send({ type: "message", body: body, client_id: clientId });
    input.value = "";
    clearTimeout(typingTimer);
    typingSent = 0;
    log.scrollTop = log.scrollHeight;
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); composer.requestSubmit(); }
  });
  input.addEventListener("input", () => {
    const now = Date.now();
    if (now - typingSent > 2000) { send({ type: "typing", typing: true }); typingSent = now; }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { send({ type: "typing", typing: false }); typingSent = 0; }, 3000);
  });
  endChat.addEventListener("click", () => send({ type: "close" }));
  again.addEventListener("click", () => { store.removeItem(key("chat")); chatState = "none"; chatChoice(); });
  submitting(mailForm, async () => {
    const r = await api("POST", "/v1/chat/transcript", { address: mailTo.value });
    mailForm.replaceChildren(el("p", { className: "ccari-w-done" }, "The transcript is on its way to " + r.sent_to + "."));
  });

  // ---- co-browsing: /cobrowse.js is loaded on demand; it resumes by itself on the next page
  function loadCobrowse() {
    if (window.ccariCobrowse) return Promise.resolve(window.ccariCobrowse);
    return new Promise((resolve, reject) => {
      const s = el("script", { src: base + "/cobrowse.js" });
      s.onload = () => (window.ccariCobrowse ? resolve(window.ccariCobrowse) : reject(new Error("Sharing is not available.")));
      s.onerror = () => reject(new Error("Sharing is not available."));
      document.head.append(s);
    });
  }
  share.addEventListener("click", async () => {
    try {
      const cobrowse = await loadCobrowse();
      await Promise.resolve(cobrowse.start({
        token: token,
        onCode: (code) => { shareNote.hidden = false; shareNote.textContent = "Tell the agent this code: " + code; },
        onEnd: () => { shareNote.hidden = true; },
      }));
    } catch (e) { showError(e.message); }
  });
  if (store.getItem("ccari.cobrowse")) loadCobrowse().catch(() => {});

  // ---- after a reload: pick up where the customer was -----------------------------------
  window.ccariWidget = { open: openPanel, choose: choose, token: () => token, session: session };
  if (token && store.getItem(key("chat"))) {
    openPanel().then(showChat);
  } else if (store.getItem(key("open"))) {
    openPanel().then(() => { const v = store.getItem(key("view")); if (v && v !== "chat") choose(v); });
  }
})();
