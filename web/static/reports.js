// Keeps a report's page live while the report is made: polls its status
// every second, moves the progress bar, and reloads the page (which then
// shows the table, the chart and the downloads) once it is done.
(function () {
  "use strict";
  var box = document.getElementById("report-status");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  if (status !== "queued" && status !== "running") { return; }
  var id = box.getAttribute("data-id");
  var bar = document.getElementById("report-progress");
  var text = document.getElementById("report-progress-text");
  var errBox = document.getElementById("report-error");

  function fmt(n) { return Number(n).toLocaleString("en"); }

  function show(s) {
    if (bar) { bar.value = s.progress; bar.textContent = s.progress + " %"; }
    if (text) {
      if (s.status === "queued") {
        text.textContent = s.error ? s.error : "Waiting for the worker…";
      } else if (s.rows_total > 0) {
        text.textContent = s.progress + " % · " + fmt(s.rows_done) + " of " + fmt(s.rows_total) + " contacts";
      } else {
        text.textContent = s.progress + " %";
      }
    }
  }

  function tick() {
    fetch("/reports/" + encodeURIComponent(id) + "/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
        return r.json();
      })
      .then(function (s) {
        if (s.error && s.error.code) { throw new Error(s.error.message); }
        box.setAttribute("data-status", s.status);
        show(s);
        if (s.status === "done") { window.location.reload(); return; }
        if (s.status === "failed") {
          errBox.textContent = s.error;
          errBox.hidden = false;
          return;
        }
        window.setTimeout(tick, 1000);
      })
      .catch(function () { window.setTimeout(tick, 3000); });
  }
  window.setTimeout(tick, 1000);
}());
