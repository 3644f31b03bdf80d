// Calendar forms on /routing: "closed all day" disables (and empties) the
// row's times; "Add a date" appends an empty row numbered after the last.
(function () {
  'use strict';
  function wire(row) {
    var closed = row.querySelector('input[type="checkbox"]');
    var times = row.querySelectorAll('input[type="time"]');
    closed.addEventListener('change', function () {
      times.forEach(function (t) {
        t.disabled = closed.checked;
        if (closed.checked) { t.value = ''; }
      });
    });
  }
  document.querySelectorAll('.cal-row').forEach(wire);
  document.querySelectorAll('button.cal-add').forEach(function (btn) {
    btn.addEventListener('click', function () {
      var rows = btn.parentNode.querySelector('.cal-rows');
      var last = rows.querySelector('.cal-row:last-child');
      var n = Number(last.getAttribute('data-row')) + 1;
      var row = last.cloneNode(true);
      row.setAttribute('data-row', String(n));
      row.querySelectorAll('input').forEach(function (f) {
        f.name = f.name.replace(/_\d+$/, '_' + n);
        if (f.type === 'checkbox') { f.checked = false; } else { f.value = ''; }
        f.disabled = false;
      });
      rows.appendChild(row);
      wire(row);
      row.querySelector('input[type="date"]').focus();
    });
  });
}());
