// Voicemail pane of the agent page: the caller's message, playable once the agent has it.
// The audio is served to the agent it is offered or connected to (/agent/voicemails/<id>).
(function () {
  "use strict";
  const ccari = window.ccari;
  if (!ccari) return;

  function pane(li) {
    let root = li.querySelector(".voicemail-pane");
    if (root) return root;
    root = document.createElement("div");
    root.className = "voicemail-pane";
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = "/agent/voicemails/" + encodeURIComponent(li.dataset.contact);
    const note = document.createElement("span");
    note.className = "voicemail-note muted";
    note.textContent = "voicemail: listen, call the customer back if needed, then complete";
    root.append(audio, note);
    li.querySelector(".medium-pane").append(root);
    return root;
  }

  ccari.medium("voicemail", {
    render(li) { pane(li); },
    onMessage() {},
  });
})();
