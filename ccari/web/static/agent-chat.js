// Chat pane of the agent page: transcript, input, typing indicator, transfer, close with a
// disposition, transcript by email.  One pane per chat (an agent holds several at once).
// Text only (textContent): what a customer types is never parsed as HTML.
(function () {
  "use strict";
  const ccari = window.ccari;
  if (!ccari) return;
  const DISPOSITIONS = ["resolved", "sale", "follow-up", "not-resolved"];

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else node[k] = v;
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function build(li, c) {
    const id = c.id;
    const log = el("ol", { className: "chat-log" });
    Object.assign(log.style, { listStyle: "none", padding: ".4rem", margin: ".4rem 0", maxHeight: "16rem",
      overflowY: "auto", background: "#f6f7fb", borderRadius: ".4rem" });
    const presence = el("p", { className: "chat-presence muted", hidden: true });
    const typing = el("p", { className: "chat-typing muted", hidden: true }, "The customer is typing…");
    const input = el("textarea", { className: "chat-input", rows: 2, maxLength: 4000 });
    input.style.width = "100%";
    const composer = el("form", { className: "chat-composer" }, input, el("button", { type: "submit", className: "chat-send" }, "Send"));
    const target = el("select", { className: "chat-transfer-target" });
    const transfer = el("button", { type: "button", className: "chat-transfer" }, "Transfer");
    const disposition = el("select", { className: "chat-disposition" }, ...DISPOSITIONS.map((d) => el("option", { value: d }, d)));
    const closeBtn = el("button", { type: "button", className: "chat-close" }, "Close chat");
    const address = el("input", { type: "email", className: "chat-address", placeholder: "customer@example.com" });
    const mail = el("button", { type: "button", className: "chat-email" }, "Email transcript");
    const note = el("p", { className: "chat-note muted" });
    const pane = el("div", { className: "chat-pane", hidden: li.dataset.status !== "connected" },
      presence, log, typing, composer,
      el("div", { className: "actions" }, target, transfer),
      el("div", { className: "actions" }, disposition, closeBtn),
      el("div", { className: "actions" }, address, mail), note);
    li.querySelector(".medium-pane").replaceChildren(pane);

    let typingSent = 0;
    let typingOff = null;
    // What she sent and the server has not yet echoed: kept in the box until it is saved
    // (a dropped socket or a refusal leaves it there to send again: the same text keeps its
    // id, so a message the server did save is not saved twice).
    const out = { sending: null };
    composer.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = input.value;
      if (!body.trim()) return;
      if (!out.sending || out.sending.body !== body) {
        out.sending = { body, id: Date.now().toString(36) + Math.random().toString(36).slice(2, 10) };
      }
      if (!ccari.send({ type: "chat.send", contact_id: id, body, client_id: out.sending.id })) return;
      note.textContent = "Sending…";
      clearTimeout(typingOff);
      typingSent = 0;
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); composer.requestSubmit(); }
    });
    input.addEventListener("input", () => {
      const now = Date.now();
      if (now - typingSent > 2000) { ccari.send({ type: "chat.typing", contact_id: id, typing: true }, true); typingSent = now; }
      clearTimeout(typingOff);
      typingOff = setTimeout(() => { ccari.send({ type: "chat.typing", contact_id: id, typing: false }, true); typingSent = 0; }, 3000);
    });
    transfer.addEventListener("click", () => {
      const [kind, name] = target.value.split(":");
      if (!name) return;
      ccari.send(Object.assign({ type: "chat.transfer", contact_id: id }, kind === "agent" ? { agent: name } : { topic: name }));
    });
    closeBtn.addEventListener("click", () => ccari.send({ type: "complete", contact_id: id, disposition: disposition.value }));
    mail.addEventListener("click", () => ccari.send({ type: "chat.email", contact_id: id, address: address.value || undefined }));
    return { pane, log, typing, presence, target, note, input, out, seen: new Set(), typingTimer: null };
  }

  function add(ui, m) {
    if (ui.seen.has(m.seq)) return;
    ui.seen.add(m.seq);
    const who = m.sender === "customer" ? "Customer" : m.sender === "agent" ? (m.agent || "Agent") : "—";
    const li = el("li", { className: "chat-msg chat-" + m.sender, dataset: { seq: String(m.seq) } },
      el("strong", { className: "chat-who" }, who + ": "), el("span", { className: "chat-body" }, m.body));
    li.style.whiteSpace = "pre-wrap";
    let before = null;
    for (const other of ui.log.children) if (Number(other.dataset.seq) > m.seq) { before = other; break; }
    ui.log.insertBefore(li, before);
    ui.log.scrollTop = ui.log.scrollHeight;
    if (m.sender === "customer") ui.typing.hidden = true;
  }

  function fillTargets(ui, m) {
    const opts = [el("option", { value: "" }, "Transfer to…")];
    for (const t of m.topics || []) opts.push(el("option", { value: "topic:" + t }, "queue: " + t));
    for (const a of m.agents || []) opts.push(el("option", { value: "agent:" + a.username }, "agent: " + a.name));
    ui.target.replaceChildren(...opts);
  }

  ccari.medium("chat", {
    render(li, c) {
      if (!li.chatUi) li.chatUi = build(li, c);
    },
    onMessage(li, m) {
      const ui = li.chatUi;
      if (!ui) return;
      switch (m.type) {
        case "connected": ui.pane.hidden = false; break;
        case "chat.history":
          ui.pane.hidden = false;
          for (const msg of m.messages) add(ui, msg);
          fillTargets(ui, m);
          ui.presence.hidden = m.customer_present;
          ui.presence.textContent = "The customer has left the page.";
          break;
        case "chat.message":
          add(ui, m);
          if (ui.out.sending && m.client_id === ui.out.sending.id) { // saved: out of the box
            const sent = ui.out.sending.body;
            ui.input.value = ui.input.value.startsWith(sent) ? ui.input.value.slice(sent.length).trimStart() : ui.input.value;
            ui.out.sending = null;
            if (ui.note.textContent === "Sending…") ui.note.textContent = "";
          }
          break;
        case "chat.typing":
          clearTimeout(ui.typingTimer);
          ui.typing.hidden = !m.typing;
          if (m.typing) ui.typingTimer = setTimeout(() => { ui.typing.hidden = true; }, 6000);
          break;
        case "chat.customer":
          ui.presence.hidden = m.present;
          ui.presence.textContent = "The customer has left the page.";
          break;
        case "chat.emailed": ui.note.textContent = "Transcript sent to " + m.address + "."; break;
        case "chat.ended": ui.note.textContent = "The customer ended the chat."; break;
        default: break;
      }
    },
  });
  // A message ccari refused stays in its box, said so, to be sent again.
  ccari.on("error", (m) => {
    if (m.request !== "chat.send") return;
    for (const li of document.querySelectorAll(".work-item[data-medium=chat]")) {
      const ui = li.chatUi;
      if (ui && ui.out.sending) ui.note.textContent = "Not sent: " + (m.message || m.error) + ". Press Send to try again.";
    }
  });
  // A reloaded page gets its chats back (the server re-sends their offers and histories).
  ccari.on("hello", () => ccari.send({ type: "chat.resume" }, true));
  ccari.send({ type: "chat.resume" }, true);
})();
