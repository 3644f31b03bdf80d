// The agent desktop: status, ringing offers with their countdown, the
// agent's contacts with wrap-up, transfer and close, the timeline and the
// customer's earlier contacts. The state comes from GET /desk/state; the
// server pushes a hint on GET /desk/events (server-sent events) whenever
// something changes, and the page also reads the state on a timer.
(function () {
  "use strict";
  var root = document.getElementById("desk");
  if (!root) { return; }
  var csrf = root.getAttribute("data-csrf");
  var refresh = (parseInt(root.getAttribute("data-refresh"), 10) || 15) * 1000;
  var $ = function (id) { return document.getElementById(id); };
  var state = null, skew = 0, selected = "", loading = false, again = false, pending = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function showError(msg) {
    var e = $("desk-error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }

  function post(path, fields) {
    var body = new URLSearchParams();
    body.set("_csrf", csrf);
    Object.keys(fields || {}).forEach(function (k) { body.set(k, fields[k]); });
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json" }, body: body
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          throw new Error((j.error && j.error.message) || ("The server answered " + r.status + "."));
        }
        return j;
      });
    });
  }

  function act(path, fields) {
    showError("");
    return post(path, fields).then(load).catch(function (e) { showError(e.message); load(); });
  }

  function queueName(id) {
    return (state && id && state.queues[id]) || "";
  }

  function title(c) {
    return c.channel + (c.customer_ref ? " · " + c.customer_ref : "") + (queueName(c.queue_id) ? " · " + queueName(c.queue_id) : "");
  }

  function when(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function renderOffered() {
    var ul = $("offered");
    ul.textContent = "";
    if (!state.offered.length) {
      ul.appendChild(el("li", "empty", "Nothing is offered to you."));
      window.CICRing && window.CICRing.stop();
      return;
    }
    state.offered.forEach(function (c) {
      var li = el("li", "offer ringing");
      li.id = "offer-" + c.id;
      li.setAttribute("data-contact-id", c.id);
      li.appendChild(el("span", "offer-title", title(c)));
      var cd = el("span", "countdown", "");
      cd.setAttribute("data-expires", c.offer_expires_at || "");
      li.appendChild(cd);
      var acc = el("button", "accept", "Accept");
      acc.type = "button";
      acc.addEventListener("click", function () {
        selected = c.id;
        act("/desk/contacts/" + c.id + "/accept");
      });
      var rej = el("button", "reject danger", "Reject");
      rej.type = "button";
      rej.addEventListener("click", function () { act("/desk/contacts/" + c.id + "/reject"); });
      li.appendChild(acc);
      li.appendChild(rej);
      ul.appendChild(li);
    });
    tick();
    window.CICRing && window.CICRing.start();
  }

  function tick() {
    var items = document.querySelectorAll("#offered .countdown");
    Array.prototype.forEach.call(items, function (cd) {
      var exp = cd.getAttribute("data-expires");
      if (!exp) { cd.textContent = ""; return; }
      var s = Math.max(0, Math.ceil((Date.parse(exp) - (Date.now() + skew)) / 1000));
      cd.textContent = s + " s";
      cd.setAttribute("data-seconds", String(s));
    });
  }

  function renderActive() {
    var ul = $("active");
    ul.textContent = "";
    if (!state.active.length) {
      ul.appendChild(el("li", "empty", "You handle no contact."));
    }
    var found = false;
    state.active.forEach(function (c) { found = found || c.id === selected; });
    if (!found) { selected = state.active.length ? state.active[0].id : ""; }
    state.active.forEach(function (c) {
      var li = el("li", "active-contact" + (c.id === selected ? " selected" : ""));
      li.id = "active-" + c.id;
      li.setAttribute("data-state", c.state);
      var b = el("button", "link", title(c));
      b.type = "button";
      b.addEventListener("click", function () { selected = c.id; render(); });
      li.appendChild(b);
      li.appendChild(el("span", "badge", c.state));
      ul.appendChild(li);
    });
  }

  function renderSelected() {
    var c = null;
    state.active.forEach(function (a) { if (a.id === selected) { c = a; } });
    $("selected").hidden = !c;
    $("no-selection").hidden = !!c;
    var conv = $("conversation");
    var before = conv.getAttribute("data-contact-id") + "/" + conv.getAttribute("data-state");
    conv.setAttribute("data-contact-id", c ? c.id : "");
    conv.setAttribute("data-channel", c ? c.channel : "");
    conv.setAttribute("data-state", c ? c.state : "");
    if (before !== conv.getAttribute("data-contact-id") + "/" + conv.getAttribute("data-state")) {
      conv.dispatchEvent(new CustomEvent("desk:contact", { detail: c }));
    }
    if (!c) { return; }
    $("selected").setAttribute("data-contact-id", c.id);
    $("sel-title").textContent = c.channel + (c.customer_ref ? " · " + c.customer_ref : "");
    $("sel-state").textContent = c.state;
    $("sel-queue").textContent = queueName(c.queue_id);
    $("wrapup-form").hidden = c.state !== "accepted";
    $("transfer-form").hidden = c.state !== "accepted";
    var tl = $("timeline");
    tl.textContent = "";
    (c.events || []).forEach(function (e) {
      var li = el("li", "ev-" + e.kind);
      li.appendChild(el("span", "muted", when(e.at) + " "));
      var what = e.kind;
      if (e.details && e.details.disposition) { what += " (" + e.details.disposition + ")"; }
      if (e.details && e.details.reason) { what += " (" + e.details.reason + ")"; }
      if (e.queue_id && queueName(e.queue_id)) { what += " → " + queueName(e.queue_id); }
      li.appendChild(el("span", "", what));
      tl.appendChild(li);
    });
    var hist = $("history");
    hist.textContent = "";
    if (!c.customer_ref) {
      hist.appendChild(el("li", "empty", "The customer is not identified."));
    } else if (!(c.history || []).length) {
      hist.appendChild(el("li", "empty", "No earlier contact."));
    }
    (c.history || []).forEach(function (h) {
      var li = el("li", "");
      li.appendChild(el("span", "muted", when(h.created_at) + " "));
      li.appendChild(el("span", "", h.channel + " · " + h.state + (h.disposition ? " · " + h.disposition : "") +
        (queueName(h.queue_id) ? " · " + queueName(h.queue_id) : "")));
      hist.appendChild(li);
    });
  }

  function render() {
    var st = $("my-status");
    st.textContent = state.status;
    st.setAttribute("data-status", state.status);
    Array.prototype.forEach.call(document.querySelectorAll(".status-btn"), function (b) {
      b.classList.toggle("current", b.getAttribute("data-status") === state.status);
    });
    // Set away by routing after missed offers: say so, offer the way back.
    var away = $("away-notice");
    var missed = state.status === "away" && state.status_reason === "missed_offers";
    away.hidden = !missed;
    $("away-text").textContent = missed ? away.getAttribute("data-text").replace("{n}", String(state.missed_offers)) : "";
    renderOffered();
    renderActive();
    renderSelected();
  }

  // load reads the state; calls while one is in flight make one more.
  // Other panes (an outbound contact just started) ask for a reload.
  document.addEventListener("desk:refresh", function () { load(); });

  function load() {
    if (loading) { again = true; return Promise.resolve(); }
    loading = true;
    return fetch("/desk/state", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login?next=/desk"); throw new Error("logged out"); }
        return r.json();
      })
      .then(function (j) {
        if (j.error) { throw new Error(j.error.message); }
        state = j;
        skew = Date.parse(j.now) - Date.now();
        render();
      })
      .catch(function (e) { if (e.message !== "logged out") { showError(e.message); } })
      .then(function () {
        loading = false;
        if (again) { again = false; load(); }
      });
  }

  function soon() {
    clearTimeout(pending);
    pending = setTimeout(load, 100);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".status-btn"), function (b) {
    b.addEventListener("click", function () {
      showError("");
      post("/desk/status", { status: b.getAttribute("data-status") })
        .then(load).catch(function (e) { showError(e.message); });
    });
  });
  $("wrapup-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    act("/desk/contacts/" + selected + "/wrapup", { disposition: $("disposition").value });
  });
  $("transfer-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    act("/desk/contacts/" + selected + "/transfer", { to: $("transfer-to").value });
  });
  $("close-btn").addEventListener("click", function () {
    act("/desk/contacts/" + selected + "/close");
  });

  function connect() {
    if (!window.EventSource) { return; }
    var es = new EventSource("/desk/events");
    var live = $("live-state");
    es.addEventListener("hello", function () {
      live.textContent = "live";
      live.setAttribute("data-state", "live");
      soon();
    });
    es.addEventListener("change", soon);
    es.onerror = function () {
      live.textContent = "reconnecting…";
      live.setAttribute("data-state", "reconnecting");
    };
  }

  load();
  connect();
  setInterval(load, refresh);
  setInterval(tick, 250);
})();
