// Keeps the agent's seat lease alive: a heartbeat every heartbeat_every
// seconds (20 s). When the seat is gone (the user logged in on another
// workstation, or an admin released it) the server has ended the session;
// say why, then go to the login page.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf"]');
  if (!meta) { return; }
  var hb = document.querySelector('meta[name="seat-heartbeat"]');
  var every = (hb && parseInt(hb.getAttribute("content"), 10)) || 20, timer = null;

  function show(msg) {
    var b = document.getElementById("seat-banner");
    if (b) { b.textContent = msg; b.hidden = false; }
  }

  function beat() {
    var body = new URLSearchParams();
    body.set("_csrf", meta.getAttribute("content"));
    fetch("/seat/heartbeat", {
      method: "POST", credentials: "same-origin",
      headers: { "Accept": "application/json" }, body: body
    }).then(function (r) {
      return r.json().then(function (j) { return { status: r.status, body: j }; });
    }).then(function (res) {
      if (res.status === 200) {
        if (res.body.heartbeat_every) { every = res.body.heartbeat_every; }
        schedule();
        return;
      }
      var msg = (res.body.error && res.body.error.message) || "Your seat is gone.";
      if (res.status === 409 || res.status === 401) {
        show(msg + " You will be taken to the login page.");
        setTimeout(function () { window.location.assign("/login"); }, 4000);
        return;
      }
      show(msg); // 503: the seat service is down; keep trying
      schedule();
    }).catch(function () { schedule(); });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(beat, every * 1000);
  }
  schedule();
})();
