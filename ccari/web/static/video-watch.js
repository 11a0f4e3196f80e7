// ccari: a video call's far video kept decoding, in the agent page's browser phone and in
// the help widget's video call.  After a transfer, a consult or a three-way call the far
// video comes from another browser under the same SSRC (Asterisk keeps a bundled stream's
// SSRC when its source changes), with picture ids and RTP timestamps of its own: the
// browser may take all its frames, keyframes too, for old ones and drop them.  The watch
// sees that (packets arriving and no frame decoded for two seconds, twice as long after
// each refresh: a poor connection is not renegotiated every other second, though the
// call's video was decoded before) and gets a fresh receiver: the same offer again (a
// re-INVITE that Asterisk answers as before, nothing changes for the other side), its
// answer taken without the video's ssrc lines (or, the next time, with them again): the
// browser drops the video stream it had and makes a new one for the packets, which asks
// for a keyframe and decodes.
(function () {
  "use strict";
  if (window.ccariVideoWatch) return;

  function withoutVideoSsrc(sdp) {
    return sdp.split(/(?=^m=)/m).map((section) => (section.startsWith("m=video")
      ? section.replace(/^a=ssrc(-group)?:.*\r?\n/gm, "") : section)).join("");
  }

  // session: a confirmed JsSIP call; paused(): true while no video is expected (the call
  // went audio only).  Returns { stop(), refreshes() }.
  window.ccariVideoWatch = function (session, paused) {
    let unsignaled = false;  // Asterisk's answers are taken without the video's ssrc lines
    let refreshes = 0;
    let decoded = false;
    let last = null;
    let stalled = 0;
    session.on("sdp", (e) => {
      if (e.originator === "remote" && unsignaled) e.sdp = withoutVideoSsrc(e.sdp);
    });

    function refresh() {
      if (session.isEnded() || paused() || !session.isReadyToReOffer()) return false;
      unsignaled = !unsignaled;
      if (!session.renegotiate({})) { unsignaled = !unsignaled; return false; }
      refreshes += 1;
      return true;
    }

    const timer = setInterval(async () => {
      const pc = session.connection;
      if (!pc || paused()) return;
      let now = null;
      (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") now = s; });
      if (!now) return;
      decoded = decoded || (now.framesDecoded || 0) > 0;
      stalled = last && now.packetsReceived > last.packetsReceived
        && now.framesDecoded === last.framesDecoded ? stalled + 1 : 0;
      last = now;
      if (decoded && stalled >= 2 << refreshes && refresh()) { stalled = 0; last = null; }
    }, 1000);

    return { stop: () => clearInterval(timer), refreshes: () => refreshes };
  };
})();
