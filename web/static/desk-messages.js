// The desk's pane for conversations that are not live chats: e-mail, SMS,
// social messages, faxes (and a call's notes). It reads the selected
// contact's messages (/desk/conversations/{id}/messages), shows their
// attachments as downloads, and sends the agent's reply on the contact's
// own channel. New customer messages are read again every few seconds
// while the contact is selected.
(function () {
  "use strict";
  var conv = document.getElementById("conversation");
  var root = document.getElementById("desk");
  if (!conv || !root) { return; }
  var csrf = root.getAttribute("data-csrf");
  var current = "", channel = "", timer = null, lastJSON = "";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function postJSON(path, obj) {
    var body = new URLSearchParams();
    body.set("_csrf", csrf);
    body.set("json", JSON.stringify(obj));
    return fetch(path, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" }, body: body })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) { throw new Error((j.error && j.error.message) || ("The server answered " + r.status + ".")); }
          return j;
        });
      });
  }
  window.deskPostJSON = postJSON;

  function showError(msg) {
    var e = document.getElementById("desk-error");
    if (e) { e.textContent = msg || ""; e.hidden = !msg; }
  }

  function who(m) {
    if (m.sender === "customer") { return m.from || "Customer"; }
    if (m.sender === "agent") { return "Agent"; }
    if (m.sender === "ivr") { return "IVR"; }
    return "System";
  }

  function renderMessages(contactID, j) {
    if (contactID !== current) { return; }
    var list = document.getElementById("msg-list");
    if (!list) { return; }
    list.textContent = "";
    (j.messages || []).forEach(function (m) {
      var li = el("li", "msg msg-" + m.sender + " msg-" + m.direction);
      li.setAttribute("data-seq", m.seq);
      var head = el("div", "msg-head");
      head.appendChild(el("strong", "msg-who", who(m)));
      head.appendChild(el("span", "muted", " " + new Date(m.created_at).toLocaleString()));
      if (m.direction === "outbound") {
        var st = el("span", "badge msg-status msg-" + m.status, m.status);
        if (m.error) { st.title = m.error; }
        head.appendChild(st);
      }
      li.appendChild(head);
      if (m.subject) { li.appendChild(el("div", "msg-subject", m.subject)); }
      li.appendChild(el("pre", "msg-body", m.body));
      if ((m.attachments || []).length) {
        var ul = el("ul", "msg-attachments");
        m.attachments.forEach(function (a) {
          var item = el("li");
          var link = el("a", "attachment", a.filename + " (" + Math.max(1, Math.round(a.size / 1024)) + " KB)");
          link.href = "/desk/conversations/" + contactID + "/attachments/" + a.id;
          link.setAttribute("download", a.filename);
          item.appendChild(link);
          ul.appendChild(item);
        });
        li.appendChild(ul);
      }
      list.appendChild(li);
    });
    if (!(j.messages || []).length) { list.appendChild(el("li", "empty", "No message yet.")); }
  }

  function load() {
    var id = current;
    if (!id) { return; }
    fetch("/desk/conversations/" + id + "/messages", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.error) { throw new Error(j.error.message); }
        var s = JSON.stringify(j.messages);
        if (s !== lastJSON) { lastJSON = s; renderMessages(id, j); }
      })
      .catch(function (e) { showError(e.message); });
  }

  function readFiles(input) {
    var files = Array.prototype.slice.call(input.files || []);
    return Promise.all(files.map(function (f) {
      return new Promise(function (resolve, reject) {
        var rd = new FileReader();
        rd.onload = function () {
          var s = String(rd.result);
          resolve({ filename: f.name, content_type: f.type || "application/octet-stream", data: s.slice(s.indexOf(",") + 1) });
        };
        rd.onerror = function () { reject(new Error("Could not read " + f.name + ".")); };
        rd.readAsDataURL(f);
      });
    }));
  }

  function build(c) {
    conv.textContent = "";
    lastJSON = "";
    var list = el("ol", "msg-list");
    list.id = "msg-list";
    conv.appendChild(list);
    var open = c.state === "accepted" || c.state === "wrap_up";
    if (!open || c.channel === "fax" || c.channel === "voice") { return; }
    var form = el("form", "msg-form");
    form.id = "msg-form";
    if (c.channel === "email") {
      var subj = el("input");
      subj.name = "subject"; subj.id = "msg-subject"; subj.maxLength = 500; subj.placeholder = "Subject (default: Re: …)";
      form.appendChild(subj);
    }
    var body = el("textarea");
    body.name = "body"; body.id = "msg-body"; body.rows = 4; body.required = true;
    body.maxLength = c.channel === "sms" ? 1600 : 100000;
    body.placeholder = "Write your answer (" + c.channel + ")";
    form.appendChild(body);
    var files = null;
    if (c.channel === "email") {
      files = el("input");
      files.type = "file"; files.multiple = true; files.id = "msg-files";
      form.appendChild(files);
    }
    var send = el("button", "", "Send");
    send.type = "submit"; send.id = "msg-send";
    form.appendChild(send);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      send.disabled = true;
      var id = current;
      (files ? readFiles(files) : Promise.resolve([])).then(function (atts) {
        var payload = { body: body.value, attachments: atts };
        if (form.subject) { payload.subject = form.subject.value; }
        return postJSON("/desk/conversations/" + id + "/messages", payload);
      }).then(function () {
        body.value = "";
        if (files) { files.value = ""; }
        showError("");
        load();
      }).catch(function (e) { showError(e.message); })
        .then(function () { send.disabled = false; });
    });
    conv.appendChild(form);
  }

  conv.addEventListener("desk:contact", function (ev) {
    var c = ev.detail;
    if (timer) { clearInterval(timer); timer = null; }
    if (!c || c.channel === "chat") { current = ""; channel = ""; return; }
    current = c.id;
    channel = c.channel;
    build(c);
    load();
    timer = setInterval(load, 5000);
  });
})();
