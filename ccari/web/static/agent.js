// The agent page: presence, one list of offered and active work across media, screen pops.
// Text only (textContent): nothing from the network is ever parsed as HTML.
// Media add their own pane through window.ccari.medium(name, {render, onMessage}).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const handlers = {};      // message type -> [fn]
  const media = {};         // medium -> plugin
  const items = new Map();  // contact id -> li
  let ws;
  let retry = 500;
  const NOT_SENT = "not sent: the page is reconnecting; do it again once it is live";

  const ccari = {
    // Sent only on a live connection: an action pressed while the page reconnects is not
    // kept for later (an offer may be gone by then); the page says so until it is live
    // (``quiet``: what the page sends by itself, e.g. typing, and sends again on "hello").
    send(msg, quiet) {
      if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(msg)); return true; }
      if (quiet) return false;
      $("conn").textContent = NOT_SENT;
      $("conn").dataset.state = "not-sent";
      return false;
    },
    on(type, fn) { (handlers[type] = handlers[type] || []).push(fn); },
    medium(name, plugin) {
      media[name] = plugin;
      for (const li of items.values()) if (li.dataset.medium === name && plugin.render) plugin.render(li, li.ccariContact);
    },
    item(id) { return items.get(id); },
  };
  window.ccari = ccari;

  // Why ccari made the agent not ready, and what she does about it.
  const REASONS = {
    missed_offer: "You let an offer lapse: press Ready when you are back",
    call_lost: "Your call's node stopped; it may still be up on your phone: press Ready when it is over",
    in_call: "On a call you were added to: ready again when it ends",
  };
  function setState(state, reason) {
    $("state").textContent = state; $("state").dataset.state = state;
    $("state-reason").hidden = !reason;
    $("state-reason").textContent = reason ? reason.replace(/_/g, " ") : "";
    $("state-reason").title = REASONS[reason] || "";
    $("state-reason").dataset.state = reason || "";
  }
  // Asterisk cannot reach the agent's phone: no calls until it answers again.
  function setPhone(reachable) { if (typeof reachable === "boolean") $("phone").hidden = reachable; }

  function list(el, values, fmt) {
    el.replaceChildren(...values.map((x) => { const li = document.createElement("li"); li.textContent = fmt(x); return li; }));
  }

  // The media of calls (the agent's phone and the call controls), not of the page's work.
  const CALLS = ["voice", "video"];
  function setStatus(li, status) {
    li.dataset.status = status;
    li.querySelector(".status").textContent = status;
    const web = !CALLS.includes(li.dataset.medium);
    li.querySelector(".accept").hidden = !(web && status === "offered");
    li.querySelector(".reject").hidden = !(web && status === "offered");
    li.querySelector(".complete").hidden = !(web && status === "connected");
    // A colleague's call she was rung for as a consult: its pop, no controls (her phone's).
    const consulted = li.dataset.consulted === "yes";
    li.querySelector(".call-controls").hidden = consulted || !(!web && (status === "connected" || status === "held"));
    li.querySelector(".hold").hidden = status === "held";
    li.querySelector(".resume").hidden = status !== "held";
    li.querySelector(".wrap-up").hidden = !(!web && status === "wrap-up");
  }

  function refresh() {
    $("idle").hidden = items.size > 0;
    const counts = {};
    for (const li of items.values()) counts[li.dataset.medium] = (counts[li.dataset.medium] || 0) + 1;
    $("slots").textContent = Object.entries(counts).map(([m, n]) => m + ": " + n).join(" · ");
  }

  function showOffer(c, consult) {
    let li = items.get(c.id);
    if (!li) {
      li = $("work-item").content.firstElementChild.cloneNode(true);
      li.dataset.contact = c.id;
      li.querySelector(".accept").addEventListener("click", () => ccari.send({ type: "accept", contact_id: c.id }));
      li.querySelector(".reject").addEventListener("click", () => ccari.send({ type: "reject", contact_id: c.id }));
      li.querySelector(".complete").addEventListener("click", () => ccari.send({ type: "complete", contact_id: c.id, disposition: "handled" }));
      // A call's controls (the same commands as POST /agent/api/calls/{id}/{action}).
      const call = (type, extra) => ccari.send(Object.assign({ type: type, contact_id: c.id }, extra || {}));
      li.querySelector(".hold").addEventListener("click", () => call("call.hold"));
      li.querySelector(".resume").addEventListener("click", () => call("call.resume"));
      li.querySelector(".mute").addEventListener("click", () => call("call.mute"));
      li.querySelector(".unmute").addEventListener("click", () => call("call.unmute"));
      li.querySelector(".hangup").addEventListener("click", () => call("call.hangup"));
      li.querySelector(".record").addEventListener("click", () => call("call.record"));
      li.querySelector(".record-pause").addEventListener("click", () => call("call.record_pause"));
      li.querySelector(".record-resume").addEventListener("click", () => call("call.record_resume"));
      li.querySelector(".record-stop").addEventListener("click", () => call("call.record_stop"));
      // Transfer or consult: to a skill, a colleague or an outside number.
      const target = () => ({ [li.querySelector(".transfer-kind").value]: li.querySelector(".transfer-to").value });
      li.querySelector(".transfer").addEventListener("click", () => call("call.transfer", target()));
      li.querySelector(".consult").addEventListener("click", () => call("call.consult", target()));
      li.querySelector(".consult-complete").addEventListener("click", () => call("call.consult_complete"));
      li.querySelector(".consult-conference").addEventListener("click", () => call("call.consult_conference"));
      li.querySelector(".consult-cancel").addEventListener("click", () => call("call.consult_cancel"));
      li.querySelector(".conference-add").addEventListener("click", () => call("call.conference_add", target()));
      li.querySelector(".conference-leave").addEventListener("click", () => call("call.conference_leave"));
      li.ccariCall = call;
      li.querySelector(".wrap-up-done").addEventListener("click", () => call("call.wrap_up", {
        disposition: li.querySelector(".disposition").value, note: li.querySelector(".note").value }));
      items.set(c.id, li);
      $("work-list").append(li);
    }
    li.ccariContact = c;
    li.dataset.medium = c.medium;
    li.dataset.consulted = consult ? "yes" : "";
    li.querySelector(".consult-from").hidden = !consult;
    li.querySelector(".consult-from").textContent = consult ? "consult from " + consult.from : "";
    li.querySelector(".medium").textContent = c.medium;
    li.querySelector(".caller").textContent = [c.caller_name, c.caller_number].filter(Boolean).join(" ") || "unknown";
    const cust = c.customer;
    li.querySelector(".customer").textContent = cust ? cust.name : "no customer record";
    list(li.querySelector(".entitlements"), cust ? cust.entitlements : [], (e) => Object.values(e).join(" · "));
    list(li.querySelector(".tickets"), cust ? cust.tickets : [], (t) => "#" + t.id + " " + t.subject + " (" + t.status + ")");
    li.querySelector(".ivr").textContent = Object.entries(c.ivr || {}).map(([k, v]) => k + "=" + v).join(", ") || "none";
    li.querySelector(".said").textContent = (c.ivr_said || []).map((u) => "\u201c" + u.said + "\u201d " + Math.round(u.confidence * 100) + "%").join(", ");
    li.querySelector(".page-url").textContent = c.page_url || "";
    li.querySelector(".origin").textContent = c.origin === "web" ? "a call from the web page" + (c.chat ? " (the customer was chatting)" : "") : "";
    list(li.querySelector(".previous"), c.previous || [], (p) => p.at.slice(0, 16).replace("T", " ") + " " + p.medium + " " + (p.disposition || p.state));
    li.querySelector(".wait").textContent = Math.round(c.wait_s) + " s";
    // A call: the codec her phone is rung with (a lower one when her site's link is busy).
    // (No such row for the other media.)
    const codec = li.querySelector("dd.codec");
    codec.dataset.audio = c.codec ? c.codec.label + " (" + c.codec.kbps + " kbit/s)" : "";
    codec.textContent = codec.dataset.audio + (c.medium === "video" ? (c.codec ? " · " : "") + "video" : "");
    for (const el of li.querySelectorAll(".codec")) el.hidden = !c.codec && c.medium !== "video";
    setStatus(li, "offered");
    const plugin = media[c.medium];
    if (plugin && plugin.render) plugin.render(li, c);
    refresh();
  }

  function drop(id) {
    const li = items.get(id);
    if (li) { li.remove(); items.delete(id); }
    refresh();
  }

  // The page (re)opened its socket: ccari sends her calls again, each as it stands, then
  // the list of every call item the page should have (one that ended meanwhile goes).
  ccari.on("hello", (m) => { setState(m.state, m.reason); setPhone(m.phone_reachable); ccari.send({ type: "calls.resume" }); });
  ccari.on("calls", (m) => {
    for (const [id, li] of [...items]) if (CALLS.includes(li.dataset.medium) && !m.contact_ids.includes(id)) drop(id);
  });
  ccari.on("phone", (m) => setPhone(m.reachable));
  ccari.on("state", (m) => setState(m.state, m.reason));
  // An offer told again (after ccari's node was away) never turns work she has taken back
  // into an offer.
  ccari.on("offer", (m) => {
    const li = items.get(m.contact.id);
    if (m.again && li && li.dataset.status !== "offered") return;
    showOffer(m.contact, m.consult);
  });
  ccari.on("connected", (m) => { const li = items.get(m.contact_id); if (li) setStatus(li, "connected"); });
  ccari.on("withdrawn", (m) => drop(m.contact_id));
  // A call ends in wrap-up on the page: the disposition closes it.
  ccari.on("completed", (m) => {
    const li = items.get(m.contact_id);
    if (li && CALLS.includes(li.dataset.medium) && li.dataset.status !== "wrap-up") setStatus(li, "wrap-up");
    else drop(m.contact_id);
  });
  // The browser phone tells what a video call carries: the codec row says whether the
  // customer's video is arriving (with its codec and bitrate) or the call is audio only.
  document.addEventListener("ccari-phone-media", (e) => {
    const m = e.detail;
    for (const li of items.values()) {
      if (li.dataset.medium !== "video" || !["connected", "held"].includes(li.dataset.status)) continue;
      const codec = li.querySelector("dd.codec");
      const video = m.video ? "video " + m.codec + " (" + m.kbps + " kbit/s)" : "audio only";
      codec.textContent = [codec.dataset.audio, video].filter(Boolean).join(" · ");
      codec.dataset.video = m.video ? "on" : "off";
    }
  });
  // ccari saved that the customer switched her video call to audio only (the call's log).
  ccari.on("audio-only", (m) => {
    const li = items.get(m.contact_id);
    if (li) for (const el of li.querySelectorAll(".audio-only")) el.hidden = false;
  });
  ccari.on("held", (m) => { const li = items.get(m.contact_id); if (li) setStatus(li, "held"); });
  ccari.on("resumed", (m) => { const li = items.get(m.contact_id); if (li) setStatus(li, "connected"); });
  function setMuted(id, muted) {
    const li = items.get(id);
    if (!li) return;
    li.dataset.muted = muted ? "yes" : "no";
    li.querySelector(".mute").hidden = muted;
    li.querySelector(".unmute").hidden = !muted;
  }
  // The call's recording: off, on, or paused (silence in the file for card numbers).
  function setRecording(id, state) {
    const li = items.get(id);
    if (!li) return;
    li.dataset.recording = state;
    li.querySelector(".record").hidden = state !== "off";
    li.querySelector(".record-pause").hidden = state !== "on";
    li.querySelector(".record-resume").hidden = state !== "paused";
    li.querySelector(".record-stop").hidden = state === "off";
  }
  ccari.on("recording", (m) => setRecording(m.contact_id, "on"));
  ccari.on("recording-paused", (m) => setRecording(m.contact_id, "paused"));
  ccari.on("recording-resumed", (m) => setRecording(m.contact_id, "on"));
  ccari.on("recording-stopped", (m) => setRecording(m.contact_id, "off"));
  ccari.on("muted", (m) => setMuted(m.contact_id, true));
  ccari.on("unmuted", (m) => setMuted(m.contact_id, false));
  // A supervisor whispering to her or in the call (listening is not shown).
  ccari.on("monitored", (m) => {
    const li = items.get(m.contact_id);
    if (!li) return;
    const el = li.querySelector(".monitored");
    el.hidden = !m.mode;
    el.textContent = m.mode ? m.supervisor + " is " + (m.mode === "whisper" ? "whispering to you" : "in the call") : "";
  });
  // A supervisor took the call over: it is no longer hers.
  ccari.on("taken-over", (m) => drop(m.contact_id));
  ccari.on("transferred", (m) => drop(m.contact_id));
  // A consult: ringing, then talking with the consulted party (the caller on hold), then
  // a complete ("transferred"), a cancel, or a three-way call.
  function setConsult(id, state) {
    const li = items.get(id);
    if (!li) return;
    li.dataset.consult = state || "";
    if (!state || state === "three-way") setStatus(li, "connected");  // the caller is back
    li.querySelector(".transfer-controls").hidden = !!state;
    li.querySelector(".consult-controls").hidden = !state || state === "three-way";
    li.querySelector(".consult-state").textContent = state === "ringing" ? "calling\u2026" : state === "talking" ? "consulting" : "";
    li.querySelector(".hold").hidden = !!state || li.dataset.status === "held";
  }
  ccari.on("consulting", (m) => setConsult(m.contact_id, "ringing"));
  ccari.on("consult-answered", (m) => setConsult(m.contact_id, "talking"));
  ccari.on("consult-cancelled", (m) => setConsult(m.contact_id, null));
  ccari.on("consult-ended", (m) => setConsult(m.contact_id, null));
  ccari.on("conferenced", (m) => setConsult(m.contact_id, "three-way"));
  // The conference: the parties the agent added, each muted, unmuted or removed from here.
  function setParties(m) {
    const li = items.get(m.contact_id);
    if (!li) return;
    li.querySelector(".conference-parties").replaceChildren(...m.parties.map((p) => {
      const row = document.createElement("li");
      row.dataset.party = p.id; row.dataset.state = p.state; row.dataset.muted = p.muted ? "yes" : "no";
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = (p.who.agent || p.who.number) + " \u00b7 " + (p.state === "joined" ? "since " + p.since.slice(11, 19) : "ringing") + (p.muted ? " \u00b7 muted" : "");
      row.append(who);
      const button = (cls, label, type) => {
        const b = document.createElement("button");
        b.type = "button"; b.className = cls; b.textContent = label;
        b.addEventListener("click", () => li.ccariCall(type, { party: p.id }));
        row.append(b);
      };
      if (p.state === "joined") button(p.muted ? "party-unmute" : "party-mute", p.muted ? "Unmute" : "Mute", p.muted ? "call.conference_unmute" : "call.conference_mute");
      button("party-remove", "Remove", "call.conference_remove");
      return row;
    }));
  }
  const listParties = (m) => { const li = items.get(m.contact_id); if (li) li.ccariCall("call.conference_list"); };
  ccari.on("conference", setParties);
  for (const kind of ["conference-dialling", "conference-muted", "conference-unmuted", "conference-removed"]) ccari.on(kind, listParties);
  // She left the conference to the others: the call goes on without her, and she wraps
  // up her part of it (its disposition) now.
  ccari.on("conference-left", (m) => { const li = items.get(m.contact_id); if (li) setStatus(li, "wrap-up"); });
  ccari.on("wrapped-up", (m) => drop(m.contact_id));
  ccari.on("error", (m) => { $("conn").textContent = "error: " + m.error + (m.message ? " (" + m.message + ")" : ""); });

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/agent/ws");
    let opened = false;
    ws.onopen = () => { opened = true; $("conn").textContent = "live"; delete $("conn").dataset.state; retry = 500; };
    ws.onclose = (ev) => {
      // Her session is over (she logged out, here or elsewhere, or has a new password):
      // ccari closes the socket saying so, or refuses the next one; the login page follows.
      if (ev.code === 1008) { location.assign("/agent/login"); return; }
      if (!opened) fetch("/agent", { redirect: "manual", cache: "no-store" }).then((r) => {
        if (r.type === "opaqueredirect") location.assign("/agent/login");
      }, () => {});
      if ($("conn").dataset.state !== "not-sent") $("conn").textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      for (const fn of handlers[m.type] || []) fn(m);
      const li = m.contact_id && items.get(m.contact_id);
      const plugin = li && media[li.dataset.medium];
      if (plugin && plugin.onMessage) plugin.onMessage(li, m);
    };
  }

  $("ready").addEventListener("click", () => ccari.send({ type: "presence", presence: "ready" }));
  $("not-ready").addEventListener("click", () => ccari.send({ type: "presence", presence: "not_ready" }));
  connect();
})();
