// Fax pane of the agent page: the received document (PDF), readable once the agent has it.
// The PDF is served to the agent it is offered or connected to (/agent/faxes/<id>/pdf).
(function () {
  "use strict";
  const ccari = window.ccari;
  if (!ccari) return;

  function pane(li) {
    let root = li.querySelector(".fax-pane");
    if (root) return root;
    root = document.createElement("div");
    root.className = "fax-pane";
    const link = document.createElement("a");
    link.className = "fax-document";
    link.href = "/agent/faxes/" + encodeURIComponent(li.dataset.contact) + "/pdf";
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = "open the fax (PDF)";
    const note = document.createElement("span");
    note.className = "fax-note muted";
    note.textContent = " read it, act on it, then complete";
    const how = document.createElement("p");
    how.className = "fax-how muted";
    root.append(link, note, how);
    li.querySelector(".medium-pane").append(root);
    return root;
  }

  // How the fax came (the screen pop's "fax"): dialled to the fax number or found on a
  // voice number (its tones or its T.38 request), and over T.38 or as G.711 audio.
  function how(fax) {
    if (!fax) return "";
    const where = fax.detected ? "found on a voice number by fax detection" : "sent to the fax number";
    const mode = { t38: "over T.38", audio: "as G.711 audio" }[fax.mode] || "";
    return [where, mode].filter(Boolean).join(", ");
  }

  ccari.medium("fax", {
    render(li, c) {
      const root = pane(li);
      const fax = (c && c.fax) || null;
      const line = root.querySelector(".fax-how");
      line.textContent = how(fax);
      line.dataset.detected = fax && fax.detected ? "yes" : "no";
      line.dataset.mode = (fax && fax.mode) || "";
    },
    onMessage() {},
  });
})();
