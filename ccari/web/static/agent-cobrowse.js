// Agent page plugin: co-browsing and the tenant-sourced entitlements of the screen pop.
// Each offered or active contact (any medium) gets a "Co-browse code" box: the agent types
// the 6 digits the customer reads out (or sees in the chat) and the customer's page appears
// in the contact's pane (the mirror page, framed).  The screen pop's entitlements are
// refreshed from the tenant's own system when one is configured.
(function () {
  "use strict";
  const c = window.ccari;
  if (!c) return;
  const mirrorUrl = (id) => "/agent/cobrowse/" + encodeURIComponent(id);
  let pendingLink = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  function box(li) {
    let b = li.querySelector(".cobrowse");
    if (b) return b;
    const id = li.dataset.contact;
    b = el("div", "cobrowse");
    const form = el("form", "cobrowse-link");
    const label = el("label", null, "Co-browse code ");
    const input = el("input", "cobrowse-code");
    Object.assign(input, { inputMode: "numeric", maxLength: 6, autocomplete: "off", pattern: "[0-9]{6}", required: true });
    Object.assign(input.style, { width: "7em", letterSpacing: "2px" });
    label.append(input);
    form.append(label, el("button", null, "Show the customer's page"));
    Object.assign(form.style, { display: "flex", gap: ".5rem", alignItems: "end", marginTop: ".5rem" });
    const msg = el("p", "cobrowse-msg muted");
    const view = el("div", "cobrowse-view");
    view.hidden = true;
    const open = el("a", "cobrowse-open", "Open in a window");
    Object.assign(open, { target: "_blank", rel: "noopener", href: mirrorUrl(id) });
    const end = el("button", "cobrowse-end", "End co-browse");
    end.type = "button";
    const frame = el("iframe", "cobrowse-frame");
    frame.title = "The customer's page";
    Object.assign(frame.style, { width: "100%", height: "460px", border: "1px solid #dde", display: "block" });
    view.append(open, " ", end, frame);
    b.append(form, msg, view);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      msg.textContent = "";
      pendingLink = id;
      c.send({ type: "cobrowse.link", contact_id: id, code: input.value.trim() });
    });
    end.addEventListener("click", () => c.send({ type: "cobrowse.end", contact_id: id }));
    li.append(b);
    return b;
  }

  function show(id) {
    const li = c.item(id);
    if (!li) return;
    const b = box(li);
    const frame = b.querySelector(".cobrowse-frame");
    if (!frame.getAttribute("src")) frame.src = mirrorUrl(id);
    b.querySelector(".cobrowse-view").hidden = false;
    b.querySelector(".cobrowse-link").hidden = true;
    b.querySelector(".cobrowse-msg").textContent = "";
    li.dataset.cobrowse = "linked";
  }

  function hide(id, text) {
    const li = c.item(id);
    if (!li) return;
    const b = box(li);
    b.querySelector(".cobrowse-frame").removeAttribute("src");
    b.querySelector(".cobrowse-view").hidden = true;
    b.querySelector(".cobrowse-link").hidden = false;
    b.querySelector(".cobrowse-msg").textContent = text;
    li.dataset.cobrowse = "ended";
  }

  function entitlements(m) {
    const li = c.item(m.contact_id);
    if (!li) return;
    const ul = li.querySelector(".entitlements");
    if (!ul) return;
    ul.replaceChildren(...m.entitlements.map((e) => el("li", null, Object.values(e).join(" · "))));
    ul.dataset.source = m.source;
    let note = li.querySelector(".entitlements-source");
    if (!note) { note = el("small", "entitlements-source muted"); ul.after(note); }
    note.textContent = { tenant: "from the tenant's system", fallback: "tenant's system unavailable: local record", local: "" }[m.source] || "";
  }

  c.on("offer", (m) => {
    const id = m.contact.id;
    if (!c.item(id)) return;
    box(c.item(id));
    c.send({ type: "cobrowse.status", contact_id: id });
    if (m.contact.customer) c.send({ type: "entitlements.get", contact_id: id });
  });
  c.on("cobrowse.status", (m) => { if (m.session_id) show(m.contact_id); });
  c.on("cobrowse.linked", (m) => show(m.contact_id));
  c.on("cobrowse.ended", (m) => hide(m.contact_id, "Co-browse ended (" + m.reason + ")."));
  c.on("entitlements", entitlements);
  c.on("error", (m) => {
    if (m.request === "cobrowse.link" && pendingLink && c.item(pendingLink)) {
      box(c.item(pendingLink)).querySelector(".cobrowse-msg").textContent = m.message || m.error;
    }
  });
})();
