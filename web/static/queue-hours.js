// Queue forms on /routing: typing business hours unticks "always open",
// and ticking it empties the hours, so the form never says both.
(function () {
  'use strict';
  document.querySelectorAll('fieldset.hours').forEach(function (set) {
    var always = set.querySelector('input[name="always_open"]');
    var fields = set.querySelectorAll('input[name="timezone"], input[type="time"]');
    fields.forEach(function (f) {
      f.addEventListener('input', function () {
        if (f.value) { always.checked = false; }
      });
    });
    always.addEventListener('change', function () {
      if (!always.checked) { return; }
      fields.forEach(function (f) { f.value = ''; });
    });
  });
}());
