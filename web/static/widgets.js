// Chat widgets page: the Copy buttons put a widget's snippet on the
// clipboard; where the Clipboard API is missing or refused (an insecure
// origin), the snippet is selected and copied the old way, or left
// selected for Ctrl-C.
(function () {
  'use strict';
  function fallback(area) {
    area.focus();
    area.select();
    try { return document.execCommand('copy'); } catch (e) { return false; }
  }
  document.querySelectorAll('button.copy[data-copy]').forEach(function (btn) {
    var area = document.getElementById(btn.getAttribute('data-copy'));
    var state = btn.parentNode.querySelector('.copy-state');
    function say(text) { if (state) { state.textContent = text; } }
    btn.addEventListener('click', function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(area.value).then(function () { say('Copied.'); }, function () {
          say(fallback(area) ? 'Copied.' : 'Selected: press Ctrl-C to copy.');
        });
        return;
      }
      say(fallback(area) ? 'Copied.' : 'Selected: press Ctrl-C to copy.');
    });
  });
}());
