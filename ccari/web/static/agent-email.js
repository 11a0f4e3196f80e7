// Email pane of the agent page: the thread of the contact and a reply box.
// Everything from the network is shown with textContent (mail is hostile input).
(function () {
  "use strict";
  const ccari = window.ccari;
  if (!ccari) return;

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function messageItem(m) {
    const li = el("li", "email-message email-" + m.direction);
    li.dataset.messageId = String(m.id);
    const head = el("div", "email-head");
    const who = m.direction === "in"
      ? (m.from_name ? m.from_name + " <" + m.from_address + ">" : m.from_address)
      : (m.kind === "ack" ? "automatic acknowledgement" : "reply") + " to " + m.to_address;
    head.append(el("span", "email-who", who), el("span", "email-at muted", " " + m.at.slice(0, 16).replace("T", " ")));
    if (m.direction === "out") head.append(el("span", "email-status", " " + m.status));
    li.append(head, el("div", "email-subject", m.subject || "(no subject)"));
    li.append(el("pre", "email-body", m.body));
    if (m.attachments && m.attachments.length) {
      li.append(el("div", "email-attachments muted",
        "attachments: " + m.attachments.map((a) => a.filename || a.content_type).join(", ")));
    }
    return li;
  }

  let sending = null;  // the item whose reply awaits the server's answer

  function pane(li) {
    let root = li.querySelector(".email-pane");
    if (root) return root;
    root = el("div", "email-pane");
    const thread = el("ol", "email-thread");
    const form = el("form", "email-reply");
    const box = el("textarea");
    box.name = "body";
    box.rows = 6;
    box.placeholder = "Your reply";
    const send = el("button", "email-send", "Send reply");
    send.type = "submit";
    const note = el("span", "email-note muted");
    form.append(box, send, note);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const body = box.value;
      if (!body.trim()) { note.textContent = "write something first"; return; }
      if (!ccari.send({ type: "email.reply", contact_id: li.dataset.contact, body: body })) return;
      sending = li;
      send.disabled = true;
      note.textContent = "sending…";
    });
    root.append(thread, form);
    li.querySelector(".medium-pane").append(root);
    return root;
  }

  function setThread(li, messages) {
    pane(li).querySelector(".email-thread").replaceChildren(...messages.map(messageItem));
  }

  function addMessage(li, m) {
    const thread = pane(li).querySelector(".email-thread");
    const old = thread.querySelector('[data-message-id="' + String(m.id).replace(/[^0-9]/g, "") + '"]');
    if (old) old.replaceWith(messageItem(m)); else thread.append(messageItem(m));
  }

  function enableReply(li, on) {
    const form = pane(li).querySelector(".email-reply");
    form.hidden = !on;
    form.querySelector("button").disabled = !on;
  }

  ccari.medium("email", {
    render(li, contact) {
      pane(li);
      enableReply(li, li.dataset.status === "connected");
      ccari.send({ type: "email.thread", contact_id: contact.id }, true);
    },
    onMessage(li, m) {
      if (m.type === "email.thread") setThread(li, m.messages || []);
      else if (m.type === "email.message") {
        addMessage(li, m.message);
        if (m.message.direction === "out" && sending === li) {
          sending = null;
          const form = pane(li).querySelector(".email-reply");
          form.querySelector("textarea").value = "";
          form.querySelector("button").disabled = false;
          form.querySelector(".email-note").textContent = "saved, sending…";
        }
      } else if (m.type === "email.status") {
        const item = pane(li).querySelector('[data-message-id="' + String(m.id).replace(/[^0-9]/g, "") + '"] .email-status');
        if (item) item.textContent = " " + m.status;
        pane(li).querySelector(".email-note").textContent = m.status === "sent" ? "sent" : "not sent: " + (m.error || m.status);
      } else if (m.type === "connected") enableReply(li, true);
    },
  });

  // Command errors carry no contact id: they answer the reply sent last.
  ccari.on("error", (m) => {
    if (m.request !== "email.reply" || !sending) return;
    const form = pane(sending).querySelector(".email-reply");
    form.querySelector("button").disabled = false;
    form.querySelector(".email-note").textContent = "not sent: " + (m.message || m.error);
    sending = null;
  });
})();
