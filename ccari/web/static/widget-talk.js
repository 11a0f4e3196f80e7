// ccari help widget: "talk now", the customer's call from the page (loaded by widget.js
// on demand, after the vendored JsSIP).  The page has no SIP account: a ticket from
// POST /v1/talk/tickets opens ccari's SIP relay once, for one call to the tenant's agents.
// A video call sends the camera too and shows the agent's video; on a poor connection the
// customer switches it to audio only: the camera stops at once, then a re-INVITE drops the
// video stream (port 0) both ways.  The call goes on with its audio.
// After a transfer the agent's video may stall: video-watch.js (loaded before this file)
// gets the page a fresh receiver.
(function () {
  "use strict";
  if (window.ccariTalk) return;
  let ua = null;
  let call = null;
  let audio = null;
  let screen = null;  // the video element of a video call
  let audioOnly = false;
  let watcher = null;  // the watch on the agent's video (a video call): video-watch.js

  function stop() {
    if (ua) { const u = ua; ua = null; u.stop(); }
    if (watcher) { watcher.stop(); watcher = null; }
    if (audio) audio.srcObject = null;
    if (screen) screen.srcObject = null;
    call = null;
  }

  // base: ccari's public origin; ticket: the ticket response; show(state, detail);
  // video: the element that shows the agent's video (a video call), or null.
  function start(base, ticket, show, video) {
    stop();
    screen = video || null;
    audioOnly = false;
    audio = audio || document.createElement("audio");
    audio.autoplay = true;
    const url = base.replace(/^http/, "ws") + ticket.ws_path + "?ticket=" + encodeURIComponent(ticket.ticket);
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(url)], uri: ticket.uri, register: false,
      session_timers: false, user_agent: "ccari widget (JsSIP)", connection_recovery_max_interval: 2,
    });
    const me = ua;
    let placed = false;
    ua.on("connected", () => {
      if (placed || me !== ua) return;
      placed = true;
      show("calling");
      call = ua.call(ticket.target, {
        mediaConstraints: { audio: true, video: !!screen },
        pcConfig: { iceServers: [] },  // Asterisk offers its own candidates
        eventHandlers: {
          progress: () => show("ringing"),
          confirmed: () => {
            show("in-call");
            if (screen && !watcher) watcher = window.ccariVideoWatch(call, () => audioOnly);
          },
          ended: (e) => { show("ended", e.cause); stop(); },
          failed: (e) => { show("failed", e.cause); stop(); },
        },
      });
      // Asterisk's selective forwarding adds the agent's video as a stream of its own (a
      // re-INVITE): each track goes to its element.
      call.connection.addEventListener("track", (t) => {
        if (t.track.kind !== "video") audio.srcObject = new MediaStream([t.track]);
        else if (screen) screen.srcObject = new MediaStream([t.track]);
      });
    });
    ua.on("disconnected", () => { if (!placed && me === ua) { show("failed", "connection"); stop(); } });
    ua.start();
    show("connecting");
  }

  // Audio only: stop the camera now (nothing more is sent), then renegotiate without the
  // video stream, so that none is received either.  The call goes on.
  async function toAudioOnly() {
    const pc = call && call.connection;
    if (!pc || audioOnly) return;
    audioOnly = true;
    for (const sender of pc.getSenders()) {
      if (sender.track && sender.track.kind === "video") {
        const track = sender.track;
        await sender.replaceTrack(null);
        track.stop();
      }
    }
    // Stopped, a stream is offered with port 0: Asterisk drops it (no video RTP expected).
    for (const t of pc.getTransceivers()) {
      if (t.receiver.track && t.receiver.track.kind === "video" && !t.stopped && t.stop) t.stop();
    }
    if (screen) screen.srcObject = null;
    try { call.renegotiate(); } catch (e) { /* a renegotiation under way: the camera is off anyway */ }
  }

  function hangup() { if (call && !call.isEnded()) call.terminate(); else stop(); }

  // What the call's RTCPeerConnection reports: audio packets both ways (for tests too).
  async function stats() {
    const pc = call && call.connection;
    if (!pc) return null;
    const out = { packetsReceived: 0, bytesReceived: 0, totalSamplesReceived: 0, packetsSent: 0, codec: "",
                  framesDecoded: 0, framesSent: 0, videoCodec: "", videoRefreshes: watcher ? watcher.refreshes() : 0,
                  packetsLost: 0, jitter: 0, concealedSamples: 0 };
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.packetsReceived += s.packetsReceived || 0;
        out.bytesReceived += s.bytesReceived || 0;
        out.totalSamplesReceived += s.totalSamplesReceived || 0;
        out.packetsLost += s.packetsLost || 0;  // the audio's health (bench.webrtc)
        out.jitter = Math.max(out.jitter, s.jitter || 0);  // seconds
        out.concealedSamples += s.concealedSamples || 0;
        const codec = s.codecId && report.get(s.codecId);
        if (codec) out.codec = codec.mimeType;
      } else if (s.type === "outbound-rtp" && s.kind === "audio") {
        out.packetsSent += s.packetsSent || 0;
      } else if (s.type === "inbound-rtp" && s.kind === "video") {
        out.framesDecoded += s.framesDecoded || 0;
        const codec = s.codecId && report.get(s.codecId);
        if (codec && (s.framesDecoded || 0) > 0) out.videoCodec = codec.mimeType;
      } else if (s.type === "outbound-rtp" && s.kind === "video") {
        out.framesSent += s.framesSent || 0;
      }
    });
    return out;
  }

  window.addEventListener("pagehide", stop);
  window.ccariTalk = { start: start, hangup: hangup, stats: stats, toAudioOnly: toAudioOnly,
                       audioOnly: () => audioOnly };
})();
