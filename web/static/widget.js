/*
 * CIC web chat widget. Paste into any page:
 *   <script src="https://<cic host>/widget.js" data-key="cw1...." async></script>
 * A page that knows its visitor adds data-email, data-name and
 * data-email-hash (hex HMAC-SHA256 of data-email keyed with the widget's
 * identity secret, computed on the page's server); an address without a
 * valid hash is kept as unverified and linked to no customer.
 *
 * Plain JavaScript, no dependencies, no inline styles (the host page's
 * CSP may forbid them): the look is in widget.css, loaded from the same
 * host. Messages are numbered by the server per conversation; the widget
 * keeps the last number it showed and resumes after it on every
 * reconnect, and keeps what the visitor wrote queued (also across page
 * loads) until the server acknowledged it, resending with the same client
 * id, which the server stores once.
 *
 * Language: data-lang="de" or "en"; without it, the host page's <html
 * lang>, then the browser's. While the chat waits, the server sends the
 * visitor's place in line ({"type":"position"}), shown as "You are number
 * 3 — about 2 minutes". Outside the queue's business hours, or once the
 * visitor waited past its maximum wait, the widget offers a message form
 * (name, e-mail, message) posted to /chat/v1/message: it is answered by
 * e-mail.
 */
(function () {
  'use strict';
  var script = document.currentScript ||
    document.querySelector('script[data-key][src$="/widget.js"]');
  if (!script || window.__cicChat) { return; }
  window.__cicChat = true;
  var key = script.getAttribute('data-key') || '';
  // A page that knows its visitor (a logged-in customer) says who they
  // are, so the chat joins their history on every channel.
  var knownEmail = script.getAttribute('data-email') || '';
  // hex HMAC-SHA256 of data-email with the widget's identity secret,
  // computed by the page's server: without it the address is unverified.
  var knownEmailHash = script.getAttribute('data-email-hash') || '';
  var knownName = script.getAttribute('data-name') || '';
  var base = new URL(script.src, location.href).origin;
  var wsBase = base.replace(/^http/, 'ws');
  var storeKey = 'cic-chat:' + key;

  var lang = (script.getAttribute('data-lang') || document.documentElement.lang || navigator.language || 'en').toLowerCase();
  var STRINGS = {
    en: {
      button: 'Chat with us', title: 'Chat', end: 'End chat', minimise: 'Minimise', placeholder: 'Write a message\u2026',
      message: 'Message', send: 'Send', typing: 'Agent is typing\u2026',
      joined: 'An agent has joined the conversation.', ended: 'The conversation has ended.',
      youEnded: 'You ended the conversation.', unavailable: 'Chat is not available at the moment.',
      unreachable: 'Chat is not reachable at the moment; please try again.', reconnecting: 'Reconnecting\u2026',
      position: function (n, w) { return 'You are number ' + n + ' \u2014 ' + w; },
      lessMinute: 'less than a minute', minutes: function (m) { return 'about ' + m + (m === 1 ? ' minute' : ' minutes'); },
      formTitle: 'Leave us a message',
      closed: 'We are closed at the moment. Leave a message and we will answer by e-mail.',
      tooLong: 'Waiting too long? Leave a message and we will answer by e-mail.',
      name: 'Name', email: 'E-mail', text: 'Message', sendMessage: 'Send message',
      thanks: 'Thank you! We have your message and will answer by e-mail.',
      failed: 'Your message could not be sent; please try again.',
      cbLink: 'Call me back instead', cbPhone: 'Your phone number', cbSend: 'Call me',
      cbBadPhone: 'Please enter a phone number with its country code, such as +49 30 1234567.',
      cbFailed: 'A callback is not possible at the moment.',
      cbThanks: function (to) { return 'Thank you. We will call you back at ' + to + ' as soon as it is your turn.'; }
    },
    de: {
      button: 'Chatten Sie mit uns', title: 'Chat', end: 'Chat beenden', minimise: 'Minimieren', placeholder: 'Nachricht schreiben\u2026',
      message: 'Nachricht', send: 'Senden', typing: 'Ein Mitarbeiter schreibt\u2026',
      joined: 'Ein Mitarbeiter ist dem Gespräch beigetreten.', ended: 'Das Gespräch ist beendet.',
      youEnded: 'Sie haben das Gespräch beendet.', unavailable: 'Der Chat ist im Moment nicht verfügbar.',
      unreachable: 'Der Chat ist im Moment nicht erreichbar; bitte versuchen Sie es erneut.', reconnecting: 'Verbindung wird wiederhergestellt\u2026',
      position: function (n, w) { return 'Sie sind Nummer ' + n + ' \u2014 ' + w; },
      lessMinute: 'weniger als eine Minute', minutes: function (m) { return 'etwa ' + m + (m === 1 ? ' Minute' : ' Minuten'); },
      formTitle: 'Hinterlassen Sie uns eine Nachricht',
      closed: 'Wir sind gerade nicht erreichbar. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.',
      tooLong: 'Zu lange Wartezeit? Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.',
      name: 'Name', email: 'E-Mail', text: 'Nachricht', sendMessage: 'Nachricht senden',
      thanks: 'Vielen Dank! Wir haben Ihre Nachricht erhalten und antworten per E-Mail.',
      failed: 'Ihre Nachricht konnte nicht gesendet werden; bitte versuchen Sie es erneut.',
      cbLink: 'Stattdessen Rückruf anfordern', cbPhone: 'Ihre Telefonnummer', cbSend: 'Rückruf',
      cbBadPhone: 'Bitte geben Sie eine Telefonnummer mit Ländervorwahl ein, etwa +49 30 1234567.',
      cbFailed: 'Ein Rückruf ist im Moment nicht möglich.',
      cbThanks: function (to) { return 'Vielen Dank. Wir rufen Sie unter ' + to + ' zurück, sobald Sie an der Reihe sind.'; }
    }
  };
  var T = STRINGS[lang.slice(0, 2)] || STRINGS.en;
  // waitText says a wait in whole minutes, rounded up.
  function waitText(sec) {
    if (sec < 60) { return T.lessMinute; }
    return T.minutes(Math.ceil(sec / 60));
  }

  function load(k) {
    try { return JSON.parse(localStorage.getItem(k) || 'null'); } catch (e) { return null; }
  }
  function save(k, v) {
    try {
      if (v === null) { localStorage.removeItem(k); } else { localStorage.setItem(k, JSON.stringify(v)); }
    } catch (e) { /* private mode: the chat lives as long as the page */ }
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  var visitorId = load('cic-chat-visitor');
  if (!visitorId) { visitorId = newId().replace(/[^A-Za-z0-9]/g, ''); save('cic-chat-visitor', visitorId); }

  // state: {token, contactId, lastSeq, pending: [{client_id, body}], greeting}
  var state = load(storeKey);
  function persist() { save(storeKey, state); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text) { e.textContent = text; }
    return e;
  }

  var css = el('link', { rel: 'stylesheet', href: base + '/widget.css' });
  document.head.appendChild(css);

  var button = el('button', { type: 'button', id: 'cic-chat-button', class: 'cic-chat-button', 'aria-expanded': 'false' }, T.button);
  var panel = el('section', { id: 'cic-chat-panel', class: 'cic-chat-panel', 'aria-label': T.title, lang: lang.slice(0, 2) === 'de' ? 'de' : 'en' });
  panel.hidden = true;
  var header = el('header', { class: 'cic-chat-header' });
  header.appendChild(el('span', { class: 'cic-chat-title' }, T.title));
  var endBtn = el('button', { type: 'button', id: 'cic-chat-end', class: 'cic-chat-end' }, T.end);
  var closeBtn = el('button', { type: 'button', id: 'cic-chat-close', class: 'cic-chat-close', 'aria-label': T.minimise }, '\u2013');
  header.appendChild(endBtn);
  header.appendChild(closeBtn);
  var list = el('ol', { id: 'cic-chat-messages', class: 'cic-chat-messages', 'aria-live': 'polite' });
  var typing = el('p', { id: 'cic-chat-typing', class: 'cic-chat-typing' }, T.typing);
  typing.hidden = true;
  var notice = el('p', { id: 'cic-chat-notice', class: 'cic-chat-notice', role: 'status' });
  notice.hidden = true;
  var form = el('form', { id: 'cic-chat-form', class: 'cic-chat-form' });
  var input = el('textarea', { id: 'cic-chat-input', class: 'cic-chat-input', rows: '2', maxlength: '4000', placeholder: T.placeholder, 'aria-label': T.message });
  var send = el('button', { type: 'submit', id: 'cic-chat-send', class: 'cic-chat-send' }, T.send);
  form.appendChild(input);
  form.appendChild(send);
  // The visitor's place in line while the chat waits.
  var place = el('p', { id: 'cic-chat-position', class: 'cic-chat-position', role: 'status', 'aria-live': 'polite' });
  place.hidden = true;
  // The message form, offered when nobody can chat now.
  var msgForm = el('form', { id: 'cic-msg-form', class: 'cic-msg-form' });
  msgForm.hidden = true;
  var msgTitle = el('p', { id: 'cic-msg-title', class: 'cic-msg-title' }, T.formTitle);
  var msgNote = el('p', { id: 'cic-msg-note', class: 'cic-msg-note' });
  var msgName = el('input', { id: 'cic-msg-name', class: 'cic-msg-input', type: 'text', maxlength: '200', autocomplete: 'name', 'aria-label': T.name, placeholder: T.name });
  var msgEmail = el('input', { id: 'cic-msg-email', class: 'cic-msg-input', type: 'email', maxlength: '200', required: 'required', autocomplete: 'email', 'aria-label': T.email, placeholder: T.email });
  var msgText = el('textarea', { id: 'cic-msg-text', class: 'cic-msg-input', rows: '3', maxlength: '4000', required: 'required', 'aria-label': T.text, placeholder: T.text });
  var msgError = el('p', { id: 'cic-msg-error', class: 'cic-msg-error', role: 'alert' });
  msgError.hidden = true;
  var msgSend = el('button', { type: 'submit', id: 'cic-msg-send', class: 'cic-chat-send' }, T.sendMessage);
  [msgTitle, msgNote, msgName, msgEmail, msgText, msgError, msgSend].forEach(function (n) { msgForm.appendChild(n); });
  if (knownName) { msgName.value = knownName; }
  if (knownEmail) { msgEmail.value = knownEmail; }
  [header, list, typing, place, notice, msgForm, form].forEach(function (n) { panel.appendChild(n); });

  // "Call me back": while the visitor waits for an agent they may leave a
  // phone number instead; the chat becomes a callback at the same place
  // in the queue (POST /chat/v1/callback) and ends here.
  var cbLink = el('button', { type: 'button', id: 'cic-chat-callback', class: 'cic-chat-callback' }, T.cbLink);
  cbLink.hidden = true;
  var cbForm = el('form', { id: 'cic-callback-form', class: 'cic-callback-form' });
  cbForm.hidden = true;
  var cbPhone = el('input', { type: 'tel', id: 'cic-callback-phone', class: 'cic-callback-phone', autocomplete: 'tel', maxlength: '32',
    placeholder: '+49 30 1234567', 'aria-label': T.cbPhone });
  var cbSend = el('button', { type: 'submit', id: 'cic-callback-send', class: 'cic-callback-send' }, T.cbSend);
  cbForm.appendChild(cbPhone);
  cbForm.appendChild(cbSend);
  panel.insertBefore(cbLink, form);
  panel.insertBefore(cbForm, form);
  function callbackOffer(show) {
    cbLink.hidden = !show;
    if (!show) { cbForm.hidden = true; }
  }
  cbLink.addEventListener('click', function () {
    cbLink.hidden = true;
    cbForm.hidden = false;
    cbPhone.focus();
  });
  cbForm.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!state || !state.token || ended || !cbPhone.value.trim()) { return; }
    cbSend.disabled = true;
    fetch(base + '/chat/v1/callback', {
      method: 'POST', mode: 'cors', credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ token: state.token, to: cbPhone.value })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { ok: r.ok, body: b }; });
    }).then(function (res) {
      cbSend.disabled = false;
      if (!res.ok) {
        var code = res.body && res.body.error && res.body.error.code;
        showNotice(code === 'invalid_phone' ? T.cbBadPhone : T.cbFailed);
        return;
      }
      callbackOffer(false);
      finish(T.cbThanks(res.body.to));
    }, function () {
      cbSend.disabled = false;
      showNotice(T.unreachable);
    });
  });

  function mount() {
    document.body.appendChild(button);
    document.body.appendChild(panel);
  }
  if (document.body) { mount(); } else { document.addEventListener('DOMContentLoaded', mount); }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  // Rendering: one <li> per message, keyed by seq once known and by the
  // client id while it is only queued here.
  function line(sender, body, attrs) {
    var li = el('li', Object.assign({ class: 'cic-msg cic-msg-' + sender }, attrs || {}));
    li.appendChild(el('span', { class: 'cic-msg-body' }, body));
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }
  function system(text) { line('system', text); }
  function pendingLine(p) {
    if (!list.querySelector('li[data-client-id="' + cssEscape(p.client_id) + '"]')) {
      line('visitor', p.body, { 'data-client-id': p.client_id, class: 'cic-msg cic-msg-visitor cic-msg-pending' });
    }
  }
  function cssEscape(s) { return String(s).replace(/["\\]/g, '\\$&'); }

  function showMessage(m) {
    if (m.seq <= state.lastSeq) { return; } // seen already
    state.lastSeq = m.seq;
    var mine = m.sender === 'visitor' && m.client_id &&
      list.querySelector('li[data-client-id="' + cssEscape(m.client_id) + '"]');
    if (mine) {
      mine.classList.remove('cic-msg-pending');
      mine.setAttribute('data-seq', String(m.seq));
    } else {
      line(m.sender, m.body, { 'data-seq': String(m.seq) });
    }
    if (m.sender === 'agent') { typing.hidden = true; }
    dropPending(m.sender === 'visitor' ? m.client_id : null);
    persist();
  }
  function dropPending(clientId) {
    if (!clientId) { return; }
    state.pending = state.pending.filter(function (p) { return p.client_id !== clientId; });
  }

  var ws = null, attempt = 0, retryTimer = null, ended = false, typingTimer = null, lastTypingSent = 0, surveyToken = '';

  function connect() {
    if (!state || !state.token || ended || ws) { return; }
    var url = wsBase + '/chat/v1/ws?token=' + encodeURIComponent(state.token) + '&after=' + state.lastSeq;
    var sock = new WebSocket(url);
    ws = sock;
    sock.onopen = function () {
      attempt = 0;
      showNotice('');
      state.pending.forEach(function (p) { sock.send(JSON.stringify({ type: 'send', client_id: p.client_id, body: p.body })); });
    };
    sock.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      switch (f.type) {
        case 'hello':
          if (f.ended) { finish(T.ended); callbackOffer(false); break; }
          if (f.position) { showPlace(f.position); }
          callbackOffer(f.state === 'queued' || f.state === 'offered' || f.state === 'new');
          break;
        case 'position':
          showPlace(f);
          break;
        case 'message':
          showMessage(f.message);
          break;
        case 'ack':
          // The message itself arrives in order as a 'message'; the ack
          // only says it is stored and need not be sent again.
          dropPending(f.client_id);
          persist();
          break;
        case 'typing':
          typing.hidden = false;
          clearTimeout(typingTimer);
          typingTimer = setTimeout(function () { typing.hidden = true; }, 4000);
          break;
        case 'state':
          if (f.state === 'accepted') { place.hidden = true; system(T.joined); callbackOffer(false); }
          if (f.state === 'closed') { finish(T.ended); survey(); }
          break;
        case 'ended':
          finish(T.ended);
          break;
        case 'error':
          if (f.error && f.error.code === 'chat_ended') { finish(f.error.message); break; }
          if (f.client_id) {
            // Refused for good (too long, empty): it will not go through.
            dropPending(f.client_id);
            persist();
            var li = list.querySelector('li[data-client-id="' + cssEscape(f.client_id) + '"]');
            if (li) { li.classList.add('cic-msg-failed'); }
          }
          if (f.error) { showNotice(f.error.message); }
          break;
      }
    };
    sock.onclose = function () {
      ws = null;
      if (ended) { return; }
      // Back off: 0.5 s, 1 s, 2 s ... up to 30 s, with jitter.
      var wait = Math.min(30000, 500 * Math.pow(2, attempt++)) * (0.5 + Math.random() / 2);
      if (attempt > 2) { showNotice(T.reconnecting); }
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, wait);
    };
  }

  // survey asks the one satisfaction question once the chat is closed;
  // the answer goes to /chat/v1/survey with the chat's token.
  function survey() {
    if (!surveyToken || panel.querySelector('.cic-survey')) { return; }
    var box = document.createElement('div');
    box.className = 'cic-survey';
    var q = document.createElement('p');
    q.textContent = 'How satisfied are you with the help you got? (1 = not at all, 5 = very)';
    box.appendChild(q);
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'cic-score';
      b.textContent = String(n);
      b.setAttribute('data-score', String(n));
      b.addEventListener('click', function () {
        fetch(base + '/chat/v1/survey', {
          method: 'POST', mode: 'cors', credentials: 'omit',
          headers: { 'Content-Type': 'text/plain' },
          body: JSON.stringify({ token: surveyToken, score: n })
        }).then(function (r) {
          box.textContent = r.ok ? 'Thank you for your answer!' : 'Thank you!';
        }, function () { box.textContent = 'Thank you!'; });
      });
      box.appendChild(b);
    });
    panel.appendChild(box);
  }

  // showPlace shows where the waiting visitor stands, and the message
  // form when the server says nobody can chat now.
  function showPlace(f) {
    if (ended) { return; }
    if (f.queue_position) {
      place.textContent = T.position(f.queue_position, waitText(f.estimated_wait_seconds || 0));
      place.setAttribute('data-position', String(f.queue_position));
      place.hidden = false;
    } else {
      place.hidden = true;
    }
    if (f.leave_message) { offerMessage(f.open ? T.tooLong : T.closed, ''); }
  }

  // offerMessage shows the message form with why, prefilled with what
  // the visitor already wrote.
  function offerMessage(why, text) {
    msgNote.textContent = why;
    if (text && !msgText.value) { msgText.value = text; }
    if (msgForm.hidden) {
      msgForm.hidden = false;
      if (!state || !state.token) { form.hidden = true; }
    }
  }

  msgForm.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!msgEmail.value.trim() || !msgText.value.trim()) { return; }
    msgSend.disabled = true;
    msgError.hidden = true;
    var body = { name: msgName.value, email: msgEmail.value, message: msgText.value, client_id: msgForm.getAttribute('data-client-id') || newId().replace(/[^A-Za-z0-9]/g, '') };
    msgForm.setAttribute('data-client-id', body.client_id);
    if (state && state.token && !ended) { body.token = state.token; }
    fetch(base + '/chat/v1/message?key=' + encodeURIComponent(key), {
      method: 'POST', mode: 'cors', credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { ok: r.ok, body: b }; });
    }).then(function (res) {
      msgSend.disabled = false;
      if (!res.ok) {
        msgError.textContent = (res.body && res.body.error && res.body.error.message) || T.failed;
        msgError.hidden = false;
        return;
      }
      msgForm.hidden = true;
      form.hidden = true;
      place.hidden = true;
      if (body.token) { finish(T.thanks); } else { showNotice(T.thanks); }
    }, function () {
      msgSend.disabled = false;
      msgError.textContent = T.failed;
      msgError.hidden = false;
    });
  });

  function finish(text) {
    if (state && state.token) { surveyToken = state.token; }
    ended = true;
    callbackOffer(false);
    typing.hidden = true;
    place.hidden = true;
    showNotice(text);
    input.disabled = true;
    send.disabled = true;
    save(storeKey, null);
    if (ws) { try { ws.close(); } catch (e) { /* closed */ } }
  }

  function start(first) {
    send.disabled = true;
    return fetch(base + '/chat/v1/sessions?key=' + encodeURIComponent(key), {
      method: 'POST', mode: 'cors', credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(knownEmail ? { visitor_id: visitorId, email: knownEmail, email_hash: knownEmailHash, name: knownName } : { visitor_id: visitorId })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { return { ok: r.ok, body: b }; });
    }).then(function (res) {
      send.disabled = false;
      if (!res.ok) {
        var err = (res.body && res.body.error) || {};
        showNotice(err.message || T.unavailable);
        if (err.code === 'queue_closed') { offerMessage(T.closed, first); }
        return false;
      }
      state = { token: res.body.token, contactId: res.body.contact_id, lastSeq: 0, pending: [], greeting: res.body.greeting };
      if (res.body.greeting) { system(res.body.greeting); }
      queue(first);
      connect();
      return true;
    }, function () {
      send.disabled = false;
      showNotice(T.unreachable);
      return false;
    });
  }

  function queue(body) {
    var p = { client_id: newId(), body: body };
    state.pending.push(p);
    persist();
    pendingLine(p);
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'send', client_id: p.client_id, body: p.body }));
    }
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var body = input.value;
    if (!body.trim() || ended) { return; }
    if (!state || !state.token) {
      start(body).then(function (ok) { if (ok) { input.value = ''; } });
      return;
    }
    input.value = '';
    queue(body);
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      if (typeof form.requestSubmit === 'function') { form.requestSubmit(); } else { send.click(); }
    }
  });
  input.addEventListener('input', function () {
    var now = Date.now();
    if (ws && ws.readyState === WebSocket.OPEN && now - lastTypingSent > 3000) {
      lastTypingSent = now;
      ws.send(JSON.stringify({ type: 'typing' }));
    }
  });
  button.addEventListener('click', function () {
    panel.hidden = !panel.hidden;
    button.setAttribute('aria-expanded', String(!panel.hidden));
    if (!panel.hidden) { input.focus(); }
  });
  closeBtn.addEventListener('click', function () {
    panel.hidden = true;
    button.setAttribute('aria-expanded', 'false');
  });
  endBtn.addEventListener('click', function () {
    if (!state || !state.token || ended) { panel.hidden = true; return; }
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'leave' }));
    } else if (navigator.sendBeacon) {
      navigator.sendBeacon(base + '/chat/v1/leave', new Blob([JSON.stringify({ token: state.token })], { type: 'text/plain' }));
    }
    finish(T.youEnded);
  });

  // A conversation from an earlier page load resumes where it was.
  if (state && state.token) {
    state.pending = state.pending || [];
    state.lastSeq = 0; // the page is new: show the whole conversation again
    if (state.greeting) { system(state.greeting); }
    state.pending.forEach(pendingLine);
    connect();
  }
})();
