// The IVR menu editor: each menu's JSON is parsed as it is typed, shown
// as a readable outline of what the caller hears, and checked by the
// server (POST /ivr/validate, the same validation saving runs) so an
// error names the faulty node before the form is sent.
(function () {
  "use strict";
  var queues = {};
  try {
    (JSON.parse(document.getElementById("ivr-queues").textContent) || []).forEach(function (q) { queues[q.id] = q; });
  } catch (e) { /* no queues */ }
  var csrfInput = document.querySelector("input[name=_csrf]");
  var csrf = csrfInput ? csrfInput.value : "";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var keyOrder = "1234567890*#";
  function keys(opts) {
    return Object.keys(opts || {}).sort(function (a, b) { return keyOrder.indexOf(a) - keyOrder.indexOf(b); });
  }

  function describeAction(a) {
    if (!a || typeof a !== "object") { return "(no action)"; }
    if (a.type === "queue") {
      var q = queues[a.queue_id];
      return "→ queue " + (q ? q.name + (q.voice ? "" : " (takes no calls!)") : "(unknown queue " + (a.queue_id || "?") + ")");
    }
    if (a.type === "self_service") { return "→ says “" + (a.message || "") + "”, hangs up" + (a.metered ? " (metered as handled)" : ""); }
    if (a.type === "hangup") { return "→ says “" + (a.message || "") + "”, hangs up"; }
    return "→ unknown action “" + a.type + "”";
  }

  // outline renders a node as nested lists.
  function outline(node, depth) {
    var ul = el("ul", "ivr-outline");
    if (!node || typeof node !== "object") { ul.appendChild(el("li", "", "(empty)")); return ul; }
    if (node.action) { ul.appendChild(el("li", "", describeAction(node.action))); return ul; }
    ul.appendChild(el("li", "ivr-prompt", "🔊 “" + (node.prompt || "") + "” (waits " + (node.timeout_seconds || 5) + " s)"));
    if (depth > 6) { return ul; }
    keys(node.options).forEach(function (k) {
      var li = el("li", "", "Press " + k + " ");
      var child = node.options[k];
      if (child && child.action) { li.appendChild(document.createTextNode(describeAction(child.action))); } else { li.appendChild(outline(child, depth + 1)); }
      ul.appendChild(li);
    });
    var t = el("li", "", "No key pressed ");
    if (node.timeout) {
      if (node.timeout.action) { t.appendChild(document.createTextNode(describeAction(node.timeout.action))); } else { t.appendChild(outline(node.timeout, depth + 1)); }
    } else {
      t.appendChild(document.createTextNode("→ the prompt repeats 3 times, then the number's queue (or goodbye)"));
    }
    ul.appendChild(t);
    return ul;
  }

  function wire(form) {
    var area = form.querySelector("textarea.ivr-tree");
    var name = form.querySelector("input[name=name]");
    var check = form.querySelector(".ivr-check");
    var preview = form.querySelector(".ivr-preview");
    var timer = null, seq = 0;
    function show(ok, msg) {
      check.textContent = msg;
      check.className = "ivr-check hint " + (ok ? "ivr-ok" : "ivr-bad");
      check.setAttribute("data-valid", ok ? "true" : "false");
    }
    function validate() {
      var tree;
      try { tree = JSON.parse(area.value); } catch (e) {
        preview.textContent = "";
        show(false, "Not valid JSON: " + e.message);
        return;
      }
      preview.textContent = "";
      preview.appendChild(outline(tree, 0));
      var mine = ++seq;
      var body = new URLSearchParams();
      body.set("_csrf", csrf);
      body.set("name", name.value || "(unnamed)");
      body.set("tree", area.value);
      show(true, "Checking…");
      fetch("/ivr/validate", { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" }, body: body })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
        .then(function (res) {
          if (mine !== seq) { return; }
          if (res.ok) { show(true, "Valid menu."); } else { show(false, (res.j.error && res.j.error.message) || "Invalid menu."); }
        })
        .catch(function () { if (mine === seq) { show(false, "Could not check the menu (connection)."); } });
    }
    function later() { clearTimeout(timer); timer = setTimeout(validate, 300); }
    area.addEventListener("input", later);
    validate();
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.ivr-form"), wire);
})();
