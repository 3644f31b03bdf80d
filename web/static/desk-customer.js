// The desk's customer panel: who the selected contact's customer is (how
// they are recognised, their preferences: preferred channel, no sales
// offers by phone...), the timeline of all their contacts on every
// channel with their satisfaction scores, linking another address to
// them and merging another customer record into them. Also the form that
// starts an outbound e-mail, SMS, social message or call.
(function () {
  "use strict";
  var conv = document.getElementById("conversation");
  var panel = document.getElementById("customer-panel");
  if (!conv || !panel) { return; }
  var post = function (path, obj) { return window.deskPostJSON(path, obj); };
  var current = null; // the customer shown

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function note(msg, bad) {
    var n = $("cust-note");
    n.textContent = msg || "";
    n.className = bad ? "flash error" : "muted";
  }

  function render(cu) {
    current = cu;
    $("cust-none").hidden = !!cu;
    $("cust-body").hidden = !cu;
    if (!cu) { return; }
    panel.setAttribute("data-customer-id", cu.id);
    $("cust-name").value = cu.display_name || "";
    $("cust-pref").value = cu.preferred_channel || "";
    Array.prototype.forEach.call(panel.querySelectorAll("input[name=opt_out]"), function (b) {
      b.checked = (cu.opt_outs || []).indexOf(b.value) >= 0;
    });
    $("cust-notes").value = cu.notes || "";
    var ids = $("cust-identities");
    ids.textContent = "";
    (cu.identities || []).forEach(function (i) { ids.appendChild(el("li", "identity", i.kind + ": " + i.value)); });
    var tl = $("cust-timeline");
    tl.textContent = "";
    (cu.contacts || []).forEach(function (c) {
      var li = el("li", "cust-contact ch-" + c.channel);
      li.setAttribute("data-contact-id", c.id);
      li.appendChild(el("span", "muted", new Date(c.created_at).toLocaleString() + " "));
      var text = c.channel + " · " + c.direction + " · " + c.state + (c.subject ? " · " + c.subject : "") +
        (c.disposition ? " · " + c.disposition : "");
      li.appendChild(el("span", "", text));
      var score = (cu.csat || {})[c.id];
      if (score) { li.appendChild(el("span", "badge csat", "CSAT " + score + "/5")); }
      tl.appendChild(li);
    });
  }

  function load(contactID) {
    fetch("/desk/conversations/" + contactID + "/customer", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.error) { throw new Error(j.error.message); }
        render(j.customer);
      })
      .catch(function (e) { note(e.message, true); });
  }

  conv.addEventListener("desk:contact", function (ev) {
    note("");
    if (!ev.detail) { render(null); return; }
    load(ev.detail.id);
  });

  function reload() { if (current) { load(conv.getAttribute("data-contact-id")); } }

  $("cust-prefs").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) { return; }
    var opts = [];
    Array.prototype.forEach.call(panel.querySelectorAll("input[name=opt_out]:checked"), function (b) { opts.push(b.value); });
    post("/desk/customers/" + current.id, {
      display_name: $("cust-name").value, preferred_channel: $("cust-pref").value, opt_outs: opts, notes: $("cust-notes").value
    }).then(function () { note("Saved."); reload(); }).catch(function (e) { note(e.message, true); });
  });

  $("cust-link").addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!current) { return; }
    post("/desk/customers/" + current.id + "/identities", { kind: $("link-kind").value, value: $("link-value").value })
      .then(function () { $("link-value").value = ""; note("Linked."); reload(); })
      .catch(function (e) { note(e.message, true); });
  });

  $("cust-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var out = $("cust-results");
    out.textContent = "";
    fetch("/desk/customers?q=" + encodeURIComponent($("search-q").value), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.error) { throw new Error(j.error.message); }
        (j.customers || []).forEach(function (cu) {
          if (current && cu.id === current.id) { return; }
          var li = el("li", "cust-result");
          li.appendChild(el("span", "", (cu.display_name || "(no name)") + " — " +
            (cu.identities || []).map(function (i) { return i.value; }).join(", ") + " "));
          var b = el("button", "merge-btn", "Merge into this customer");
          b.type = "button";
          b.addEventListener("click", function () {
            post("/desk/customers/" + current.id + "/merge", { from: cu.id })
              .then(function () { out.textContent = ""; note("Merged."); reload(); })
              .catch(function (e) { note(e.message, true); });
          });
          li.appendChild(b);
          out.appendChild(li);
        });
        if (!out.children.length) { out.appendChild(el("li", "empty", "No other customer found.")); }
      })
      .catch(function (e) { note(e.message, true); });
  });

  var ob = $("outbound-form");
  if (ob) {
    ob.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var st = $("outbound-state");
      post("/desk/outbound", {
        channel: ob.channel.value, queue_id: ob.queue_id.value, to: ob.to.value,
        subject: ob.subject.value, body: ob.body.value, campaign: ob.campaign.value
      }).then(function (c) {
        st.textContent = "Started: " + c.channel + " to " + (c.customer_ref || ob.to.value) + ".";
        st.className = "muted";
        ob.body.value = "";
        document.dispatchEvent(new CustomEvent("desk:refresh"));
      }).catch(function (e) { st.textContent = e.message; st.className = "flash error"; });
    });
  }
})();
