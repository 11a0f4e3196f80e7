// ccari help widget: "talk now", the customer's call from the page (loaded by widget.js
// on demand, after the vendored JsSIP).  The page has no SIP account: a ticket from
// POST /v1/talk/tickets opens ccari's SIP relay once, for one call to the tenant's agents.
(function () {
  "use strict";
  if (window.ccariTalk) return;
  let ua = null;
  let call = null;
  let audio = null;

  function stop() {
    if (ua) { const u = ua; ua = null; u.stop(); }
    if (audio) audio.srcObject = null;
    call = null;
  }

  // base: ccari's public origin; ticket: the ticket response; show(state, detail).
  function start(base, ticket, show) {
    stop();
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
        mediaConstraints: { audio: true, video: false },
        pcConfig: { iceServers: [] },  // Asterisk offers its own candidates
        eventHandlers: {
          progress: () => show("ringing"),
          confirmed: () => show("in-call"),
          ended: (e) => { show("ended", e.cause); stop(); },
          failed: (e) => { show("failed", e.cause); stop(); },
        },
      });
      call.connection.addEventListener("track", (t) => { audio.srcObject = t.streams[0]; });
    });
    ua.on("disconnected", () => { if (!placed && me === ua) { show("failed", "connection"); stop(); } });
    ua.start();
    show("connecting");
  }

  function hangup() { if (call && !call.isEnded()) call.terminate(); else stop(); }

  // What the call's RTCPeerConnection reports: audio packets both ways (for tests too).
  async function stats() {
    const pc = call && call.connection;
    if (!pc) return null;
    const out = { packetsReceived: 0, bytesReceived: 0, totalSamplesReceived: 0, packetsSent: 0, codec: "" };
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
      }
    });
    return out;
  }

  window.addEventListener("pagehide", stop);
  window.ccariTalk = { start: start, hangup: hangup, stats: stats };
})();
