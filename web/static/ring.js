// The desk's ring: two short tones every two seconds while a contact is
// offered, made with the Web Audio API (no sound file). Browsers only let
// a page play sound after a user gesture, so the first click or key press
// on the page unlocks it; until then the ring is visual only.
(function () {
  "use strict";
  var Ctx = window.AudioContext || window.webkitAudioContext;
  var ctx = null, timer = null;

  function unlock() {
    if (!Ctx) { return; }
    if (!ctx) { ctx = new Ctx(); }
    if (ctx.state === "suspended") { ctx.resume(); }
  }

  function tone(at, freq) {
    var osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.2, at + 0.02);
    gain.gain.linearRampToValueAtTime(0, at + 0.25);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.3);
  }

  function ringOnce() {
    if (!ctx || ctx.state !== "running") { return; }
    var t = ctx.currentTime;
    tone(t, 880);
    tone(t + 0.35, 660);
  }

  window.CICRing = {
    start: function () {
      if (timer) { return; }
      ringOnce();
      timer = setInterval(ringOnce, 2000);
    },
    stop: function () {
      clearInterval(timer);
      timer = null;
    },
    ringing: function () { return timer !== null; }
  };
  document.addEventListener("click", unlock, true);
  document.addEventListener("keydown", unlock, true);
})();
