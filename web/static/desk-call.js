// The desk's call controls: for a selected voice contact, the caller's
// number, whether they are on hold, and Hold / Resume / Hang up, which
// call /desk/calls/{contact}/{action} (the call API with the page
// session). It hooks into the desk through the "desk:contact" event on
// #conversation and keeps its bar outside the pane other scripts redraw.
(function () {
  "use strict";
  var conv = document.getElementById("conversation");
  var root = document.getElementById("desk");
  if (!conv || !root) { return; }
  var csrf = root.getAttribute("data-csrf");
  var current = "", state = "";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function button(id, text, cls) {
    var b = el("button", cls || "", text);
    b.type = "button";
    b.id = id;
    return b;
  }

  var bar = el("section", "card call-bar");
  bar.id = "call-bar";
  bar.hidden = true;
  bar.setAttribute("aria-label", "Call");
  var number = el("strong", "call-number", "");
  number.id = "call-number";
  var status = el("span", "muted call-status", "");
  status.id = "call-status";
  var hold = button("call-hold", "Hold"), resume = button("call-resume", "Resume"), hangup = button("call-hangup", "Hang up", "danger");
  var err = el("span", "flash error", "");
  err.id = "call-error";
  err.hidden = true;
  bar.appendChild(el("span", "", "📞 "));
  bar.appendChild(number);
  bar.appendChild(document.createTextNode(" "));
  bar.appendChild(status);
  bar.appendChild(hold);
  bar.appendChild(resume);
  bar.appendChild(hangup);
  bar.appendChild(err);
  conv.parentNode.insertBefore(bar, conv);

  function showError(msg) {
    err.textContent = msg || "";
    err.hidden = !msg;
  }

  function show(call) {
    var who = call.direction === "outbound" ? call.to : call.from;
    number.textContent = who || "unknown number";
    var live = !call.ended_at;
    status.textContent = !live ? "call ended" : call.held ? "on hold" : state === "accepted" ? "connected" : "ringing";
    bar.setAttribute("data-held", call.held ? "true" : "false");
    hold.hidden = !live || call.held || state !== "accepted";
    resume.hidden = !live || !call.held || state !== "accepted";
    hangup.hidden = !live || state !== "accepted";
    bar.hidden = false;
  }

  function load() {
    var id = current;
    fetch("/desk/calls/" + encodeURIComponent(id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (call) {
        if (id !== current) { return; }
        if (call) { show(call); } else { bar.hidden = true; }
      })
      .catch(function () { /* the next selection tries again */ });
  }

  function act(action) {
    var id = current;
    showError("");
    var body = new URLSearchParams();
    body.set("_csrf", csrf);
    fetch("/desk/calls/" + encodeURIComponent(id) + "/" + action, {
      method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" }, body: body
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) { throw new Error((j.error && j.error.message) || ("The server answered " + r.status + ".")); }
        if (id === current) { show(j); }
      });
    }).catch(function (e) { showError(e.message); });
  }
  hold.addEventListener("click", function () { act("hold"); });
  resume.addEventListener("click", function () { act("resume"); });
  hangup.addEventListener("click", function () { act("hangup"); });

  conv.addEventListener("desk:contact", function () {
    current = conv.getAttribute("data-contact-id") || "";
    state = conv.getAttribute("data-state") || "";
    showError("");
    if (!current || conv.getAttribute("data-channel") !== "voice") {
      bar.hidden = true;
      return;
    }
    load();
  });
})();
