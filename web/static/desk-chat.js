// The desk's chat pane: one WebSocket (/api/v1/chat/ws, the page session)
// brings the messages of every chat offered to or held by this agent;
// the pane shows the selected one and sends what the agent types. A
// reconnect gets each conversation again from its first message, so
// messages are kept by seq and never shown twice.
(function () {
  "use strict";
  var conv = document.getElementById("conversation");
  if (!conv || !window.WebSocket) { return; }
  var byContact = {}, current = "", ws = null, backoff = 500, n = 0, typingTimer = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  // The pane: message list, typing line, input form.
  var list = el("ol", "chat-messages");
  list.id = "chat-messages";
  var typing = el("p", "muted chat-typing", "");
  typing.id = "chat-typing";
  var form = el("form", "chat-form");
  form.id = "chat-form";
  var input = el("input");
  input.id = "chat-input";
  input.name = "body";
  input.maxLength = 4000;
  input.autocomplete = "off";
  input.placeholder = "Type a reply";
  var send = el("button", "", "Send");
  send.type = "submit";
  send.id = "chat-send";
  form.appendChild(input);
  form.appendChild(send);

  function render() {
    // Other channels' panes (desk-messages.js) own the pane then.
    if (conv.getAttribute("data-channel") !== "chat") { return; }
    conv.textContent = "";
    if (!current) { return; }
    list.textContent = "";
    (byContact[current] || []).forEach(function (m) {
      var li = el("li", "chat-msg chat-" + m.sender);
      li.setAttribute("data-seq", m.seq);
      li.appendChild(el("span", "chat-who", m.sender === "visitor" ? "Customer" : m.sender === "agent" ? "You" : "System"));
      li.appendChild(el("span", "chat-body", m.body));
      list.appendChild(li);
    });
    conv.appendChild(list);
    conv.appendChild(typing);
    form.hidden = conv.getAttribute("data-state") !== "accepted";
    conv.appendChild(form);
    list.scrollTop = list.scrollHeight;
  }

  function add(contactID, m) {
    var arr = byContact[contactID] || (byContact[contactID] = []);
    for (var i = 0; i < arr.length; i++) {
      if (arr[i].seq === m.seq) { return; }
    }
    arr.push(m);
    arr.sort(function (a, b) { return a.seq - b.seq; });
    if (contactID === current) { render(); }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(scheme + location.host + "/api/v1/chat/ws");
    ws.onopen = function () { backoff = 500; };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if ((f.type === "message" || f.type === "ack") && f.message && f.contact_id) {
        add(f.contact_id, f.message);
      } else if (f.type === "typing" && f.contact_id === current) {
        typing.textContent = "The customer is typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.textContent = ""; }, 3000);
      } else if (f.type === "left" && f.contact_id === current) {
        typing.textContent = "The customer left the chat.";
      }
    };
    ws.onclose = function () {
      backoff = Math.min(backoff * 2, 10000);
      setTimeout(connect, backoff);
    };
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = input.value.trim();
    if (!body || !current || !ws || ws.readyState !== 1) { return; }
    n += 1;
    ws.send(JSON.stringify({ type: "send", contact_id: current, client_id: "desk-" + Date.now() + "-" + n, body: body }));
    input.value = "";
  });
  input.addEventListener("input", function () {
    if (current && ws && ws.readyState === 1) {
      ws.send(JSON.stringify({ type: "typing", contact_id: current }));
    }
  });
  conv.addEventListener("desk:contact", function () {
    current = conv.getAttribute("data-contact-id") || "";
    render();
  });
  connect();
})();
