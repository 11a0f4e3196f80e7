// The agent's phone in the page (agents whose device is "browser"): JsSIP over ccari's
// /agent/phone/ws (relayed to Asterisk), with the SIP password of this login fetched from
// /agent/api/phone (never typed, never stored).  Rings on an offer, answers, shows the call's
// state and the codec and bitrate in use, mutes the microphone, sends DTMF (RFC 4733), hangs
// up.  A video call (from a customer's page) is answered with the camera too and shows the
// customer's video; whether video is arriving is told to the screen pop ("ccari-phone-media"
// events: the customer may switch to audio only); when the far video stops decoding after
// a transfer, consult or three-way call, video-watch.js gets a fresh receiver.  Text only:
// nothing is parsed as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const pane = $("webphone");
  const audio = $("webphone-audio");
  const video = $("webphone-video");
  let withVideo = false;  // the ringing or current call offered video
  let ua = null;
  let call = null;
  let meter = null;  // the codec and bitrate display's timer while a call is up
  let watcher = null;  // the watch on a video call's far video (video-watch.js)

  function show(state, detail) {
    pane.dataset.state = state;
    $("webphone-state").textContent = detail ? `${state}: ${detail}` : state;
    const ringing = state === "ringing";
    $("webphone-answer").hidden = !ringing;
    $("webphone-decline").hidden = !ringing;
    $("webphone-hangup").hidden = state !== "in-call" && state !== "answering";
    $("webphone-keypad").hidden = state !== "in-call";
    $("webphone-mute").hidden = state !== "in-call";
    $("webphone-media").hidden = state !== "in-call";
    video.hidden = !(withVideo && state === "in-call");
    if (state === "in-call" && !meter) {
      meter = setInterval(measure, 2000);
      measure();
    } else if (state !== "in-call" && meter) {
      clearInterval(meter);
      meter = null;
    }
  }

  // "PCMU · 64 kbit/s in · 64 kbit/s out": the codec and the bitrates over the last period.
  let last = null;
  async function measure() {
    const now = await window.ccariPhone.stats();
    if (!now) return;
    const at = performance.now();
    if (last) {
      const s = (at - last.at) / 1000;
      const kbps = (a, b) => Math.round(((a - b) * 8) / 1000 / s);
      // Video is on while its frames keep arriving (the customer may stop sending it).
      const videoOn = withVideo && now.framesDecoded > last.framesDecoded;
      const videoCodec = videoOn ? now.videoCodec.replace(/^video\//, "") : "";
      $("webphone-media").textContent = [
        now.codec.replace(/^audio\//, "") || "?",
        ...(videoCodec ? [videoCodec] : []),
        `${kbps(now.bytesReceived, last.bytesReceived)} kbit/s in`,
        `${kbps(now.bytesSent, last.bytesSent)} kbit/s out`,
      ].join(" · ");
      $("webphone-media").dataset.codec = now.codec;
      if (withVideo) {
        pane.dataset.video = videoOn ? "on" : "off";
        document.dispatchEvent(new CustomEvent("ccari-phone-media", { detail: {
          video: videoOn, codec: videoCodec,
          kbps: videoOn ? kbps(now.videoBytesReceived, last.videoBytesReceived) : 0 } }));
      }
    }
    last = { at, bytesReceived: now.bytesReceived, bytesSent: now.bytesSent,
             framesDecoded: now.framesDecoded, videoBytesReceived: now.videoBytesReceived };
  }

  function mute(on) {
    if (!call) return;
    if (on) call.mute({ audio: true }); else call.unmute({ audio: true });
    const button = $("webphone-mute");
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Unmute" : "Mute";
    pane.dataset.muted = String(on);
  }

  function ended(why) {
    call = null;
    if (watcher) { watcher.stop(); watcher = null; }
    last = null;
    pane.dataset.muted = "false";
    $("webphone-mute").setAttribute("aria-pressed", "false");
    $("webphone-mute").textContent = "Mute";
    audio.srcObject = null;
    video.srcObject = null;
    withVideo = false;
    delete pane.dataset.video;
    show(ua && ua.isRegistered() ? "registered" : "unregistered", why);
  }

  function incoming(session, request) {
    if (call) { session.terminate({ status_code: 486 }); return; }  // one call at a time
    call = session;
    withVideo = /\r?\nm=video [1-9]/.test(request.body || "");
    const from = session.remote_identity;
    show("ringing", from.display_name || from.uri.user || "");
    session.on("peerconnection", (e) => {
      e.peerconnection.addEventListener("track", (t) => {
        // Asterisk's selective forwarding may add the customer's video as a new stream later
        // (a re-INVITE): each track goes to its own element.
        if (t.track.kind === "video") video.srcObject = new MediaStream([t.track]);
        else audio.srcObject = new MediaStream([t.track]);
      });
    });
    session.on("accepted", () => show("answering"));
    session.on("confirmed", () => {
      show("in-call");
      if (withVideo && !watcher) watcher = window.ccariVideoWatch(session, () => false);
    });
    session.on("ended", (e) => ended(e.cause));
    session.on("failed", (e) => ended(e.cause));
  }

  async function start() {
    const csrf = pane.dataset.csrf;
    const r = await fetch("/agent/api/phone", { headers: { "X-CSRF-Token": csrf }, cache: "no-store" });
    if (!r.ok) { show("failed", `credentials ${r.status}`); return; }
    const creds = await r.json();
    if (creds.device !== "browser") { pane.hidden = true; return; }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new JsSIP.WebSocketInterface(`${scheme}//${location.host}${creds.ws_path}`);
    ua = new JsSIP.UA({
      sockets: [socket], uri: creds.uri, authorization_user: creds.username,
      password: creds.password, register: true, session_timers: false,
      user_agent: "ccari agent page (JsSIP)",
    });
    ua.on("registered", () => { if (!call) show("registered"); });
    ua.on("unregistered", () => { if (!call) show("unregistered"); });
    ua.on("registrationFailed", (e) => show("failed", e.cause));
    ua.on("disconnected", () => { if (!call) show("unregistered", "reconnecting"); });
    ua.on("newRTCSession", (e) => { if (e.originator === "remote") incoming(e.session, e.request); });
    ua.start();
  }

  $("webphone-answer").addEventListener("click", () => {
    if (!call) return;
    call.answer({
      mediaConstraints: { audio: true, video: withVideo },
      pcConfig: { iceServers: [] },  // Asterisk offers its own candidates; no STUN to wait for
    });
  });
  $("webphone-decline").addEventListener("click", () => { if (call) call.terminate({ status_code: 486 }); });
  $("webphone-hangup").addEventListener("click", () => { if (call) call.terminate(); });
  $("webphone-mute").addEventListener("click", () => {
    mute($("webphone-mute").getAttribute("aria-pressed") !== "true");
  });
  for (const key of $("webphone-keypad").querySelectorAll("button")) {
    key.addEventListener("click", () => {
      if (call) call.sendDTMF(key.textContent, { transportType: "RFC2833" });
    });
  }
  // A page going away mid-call sends no BYE: ccari sees its SIP socket close with the call
  // up, makes the agent not ready and ends the call ("agent-page-lost"; see webphone.py).
  window.addEventListener("pagehide", () => { if (ua && !(call && call.isEstablished())) ua.stop(); });

  // What the call's RTCPeerConnection reports (audio packets both ways), for the page's
  // own health display and for tests.
  window.ccariPhone = {
    async stats() {
      const pc = call && call.connection;
      if (!pc) return null;
      const out = { packetsReceived: 0, bytesReceived: 0, totalSamplesReceived: 0, packetsSent: 0,
                    bytesSent: 0, codec: "", framesDecoded: 0, videoBytesReceived: 0,
                    videoPacketsReceived: 0, videoCodec: "", videoPacketsSent: 0,
                    videoRefreshes: watcher ? watcher.refreshes() : 0 };
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          out.packetsReceived += s.packetsReceived || 0;
          out.bytesReceived += s.bytesReceived || 0;
          out.totalSamplesReceived += s.totalSamplesReceived || 0;
          const codec = s.codecId && report.get(s.codecId);
          if (codec) out.codec = codec.mimeType;
        } else if (s.type === "outbound-rtp" && s.kind === "audio") {
          out.packetsSent += s.packetsSent || 0;
          out.bytesSent += s.bytesSent || 0;
        } else if (s.type === "inbound-rtp" && s.kind === "video") {
          out.framesDecoded += s.framesDecoded || 0;
          out.videoBytesReceived += s.bytesReceived || 0;
          out.videoPacketsReceived += s.packetsReceived || 0;
          const codec = s.codecId && report.get(s.codecId);
          if (codec && (s.framesDecoded || 0) > 0) out.videoCodec = codec.mimeType;
        } else if (s.type === "outbound-rtp" && s.kind === "video") {
          out.videoPacketsSent += s.packetsSent || 0;
        }
      });
      return out;
    },
  };

  show("unregistered");
  start().catch((err) => show("failed", String(err)));
})();
