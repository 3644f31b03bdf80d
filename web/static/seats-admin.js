// Keeps the seats page's holder list live by polling /seats/live.
(function () {
  "use strict";
  var table = document.getElementById("holders");
  if (!table) { return; }
  var every = parseInt(table.getAttribute("data-refresh"), 10) || 5;
  var canRelease = table.getAttribute("data-can-release") === "true";
  var csrf = table.getAttribute("data-csrf");

  function fmt(iso) {
    var d = new Date(iso);
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }
  function render(data) {
    document.getElementById("seat-limit").textContent = data.limit;
    document.getElementById("seat-in-use").textContent = data.in_use;
    var tbody = table.tBodies[0];
    var rows = [];
    data.holders.forEach(function (h) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-lease", h.lease_id);
      var who = cell(tr, h.name + " ");
      var mail = document.createElement("span");
      mail.className = "muted";
      mail.textContent = h.email;
      who.appendChild(mail);
      cell(tr, h.department);
      cell(tr, h.workstation);
      cell(tr, h.ip);
      cell(tr, fmt(h.since));
      cell(tr, fmt(h.last_heartbeat));
      if (canRelease) {
        var td = document.createElement("td");
        var f = document.createElement("form");
        f.method = "post";
        f.action = "/seats/" + h.lease_id + "/release";
        f.className = "inline";
        var i = document.createElement("input");
        i.type = "hidden"; i.name = "_csrf"; i.value = csrf;
        var b = document.createElement("button");
        b.type = "submit"; b.className = "danger"; b.textContent = "Release";
        f.appendChild(i); f.appendChild(b); td.appendChild(f); tr.appendChild(td);
      }
      rows.push(tr);
    });
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = cell(tr, "Nobody holds a seat.");
      td.colSpan = 7;
      rows.push(tr);
    }
    tbody.replaceChildren.apply(tbody, rows);
  }
  function poll() {
    fetch("/seats/live", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { render(d); } })
      .catch(function () {})
      .then(function () { setTimeout(poll, every * 1000); });
  }
  setTimeout(poll, every * 1000);
})();
