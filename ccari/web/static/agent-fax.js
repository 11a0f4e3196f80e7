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
    root.append(link, note);
    li.querySelector(".medium-pane").append(root);
    return root;
  }

  ccari.medium("fax", {
    render(li) { pane(li); },
    onMessage() {},
  });
})();
