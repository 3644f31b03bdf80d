// The supervisor's wallboard: reads GET /wallboard/live every few seconds
// (waits grow without any event) and at once when GET /wallboard/events
// says something changed; the chart is redrawn every minute.
(function () {
  "use strict";
  var root = document.getElementById("wallboard");
  if (!root) { return; }
  var poll = (parseInt(root.getAttribute("data-poll"), 10) || 3) * 1000;
  var loading = false, again = false, pending = null;

  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? null : o[k]; }, obj);
  }

  function format(kind, v) {
    if (v === null || v === undefined) { return "–"; }
    switch (kind) {
      case "pct": return v.toFixed(1) + " %";
      case "sec": return v.toFixed(1) + " s";
      case "wait": return Math.round(v) + " s";
    }
    return String(Math.round(v));
  }

  function render(w) {
    Array.prototype.forEach.call(document.querySelectorAll("#wb-agents [data-k]"), function (e) {
      e.textContent = String(get(w, e.getAttribute("data-k")));
    });
    var known = 0;
    (w.queues || []).forEach(function (q) {
      var row = document.getElementById("wb-" + q.queue_id);
      if (!row) { return; }
      known++;
      Array.prototype.forEach.call(row.querySelectorAll("td[data-k]"), function (td) {
        var text = format(td.getAttribute("data-kind"), get(q, td.getAttribute("data-k")));
        if (td.textContent !== text) {
          td.textContent = text;
          td.classList.remove("changed");
          void td.offsetWidth; // restart the highlight
          td.classList.add("changed");
        }
      });
    });
    var rows = document.querySelectorAll("#wb-queues tbody tr[data-queue-id]").length;
    if (known !== (w.queues || []).length || rows !== known) {
      window.location.reload(); // a queue was added or removed
      return;
    }
    document.getElementById("wb-day").textContent = w.day;
    document.getElementById("wb-at").textContent = new Date(w.at).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    fetch("/wallboard/live", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/login?next=/wallboard"); throw new Error("logged out"); }
        return r.json();
      })
      .then(function (w) { if (!w.error) { render(w); } })
      .catch(function () {})
      .then(function () {
        loading = false;
        if (again) { again = false; load(); }
      });
  }

  function chart() {
    fetch("/wallboard/chart", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (svg) { if (svg) { document.getElementById("wb-chart").innerHTML = svg; } })
      .catch(function () {});
  }

  function soon() {
    clearTimeout(pending);
    pending = setTimeout(load, 200);
  }

  if (window.EventSource) {
    var es = new EventSource("/wallboard/events"), live = document.getElementById("live-state");
    es.addEventListener("hello", function () { live.textContent = "· live"; live.setAttribute("data-state", "live"); soon(); });
    es.addEventListener("change", soon);
    es.onerror = function () { live.textContent = "· reconnecting…"; live.setAttribute("data-state", "reconnecting"); };
  }
  setInterval(load, poll);
  setInterval(chart, 60000);
})();
