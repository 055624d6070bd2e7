/* Review station, one record: a keyboard verification station over the plain form.
   Enter confirms the field (saved at once through PATCH /api/v1/records/{id}/fields/{path} with the
   revision this page holds; saves go one after another) and moves to the next field that needs a
   person; typing replaces the value (it is selected on arrival); Tab / Shift+Tab move; Space
   toggles a checkbox; 1-9 pick a choice's option (0: none); Esc reverts; Ctrl+Enter approves
   when nothing is left and opens the next record; Alt+R rejects with a reason; Alt+A shows the
   fields the machine accepted; ? (Alt+/ while typing text) shows the keys. IDs show their check
   digit's verdict as typed, dates how they are read (1130503, 113/5/3), phones take digits only.
   The claim on the record is renewed while the page is open and given back when it is left.
   ES5 only (old devices): no arrow functions, no fetch, no template strings. */
(function () {
  'use strict';
  var root = document.getElementById('review');
  if (!root || !window.JSON || !document.querySelectorAll) { return; }
  var D = JSON.parse(document.getElementById('rv-data').textContent);
  var recordId = D.record;
  var revision = D.revision;
  var editable = root.getAttribute('data-status') === 'needs_review';
  var form = document.getElementById('rv-form');
  var statusLine = document.getElementById('rv-msg');
  var fine = document.getElementById('rv-fine');
  var help = document.getElementById('rv-help');
  var side = document.getElementById('rv-side');
  var preview = document.getElementById('rv-preview');
  var previewImg = document.getElementById('rv-preview-img');
  var previewBox = document.getElementById('rv-preview-box');
  var sections = [].slice.call(document.querySelectorAll('.rv-field'));
  var current = null;
  var pending = [];
  var sending = false;
  var afterDrain = null;
  var leaving = false;
  var timings = [];
  var moves = [];  /* what each timed move did (bench/review reports the slow ones) */
  window.__rv = { timings: timings, moves: moves, pending: function () { return pending.length + (sending ? 1 : 0); } };
  root.className += ' rv-js';
  if (side) { side.hidden = false; }

  /* ---------------------------------------------------------------- small helpers */
  function has(el, c) { return (' ' + el.className + ' ').indexOf(' ' + c + ' ') >= 0; }
  function add(el, c) { if (!has(el, c)) { el.className += ' ' + c; } }
  function drop(el, c) { el.className = (' ' + el.className + ' ').replace(' ' + c + ' ', ' ').replace(/^\s+|\s+$/g, ''); }
  function text(el, zh, en) {
    while (el.firstChild) { el.removeChild(el.firstChild); }
    el.appendChild(document.createTextNode(zh + ' '));
    if (en) {
      var s = document.createElement('span');
      s.setAttribute('lang', 'en');
      s.appendChild(document.createTextNode(en));
      el.appendChild(s);
    }
  }
  function say(zh, en) { text(statusLine, '· ' + zh, en); }
  function qs(extra) {
    var parts = [];
    var q = D.next_query || {};
    for (var k in q) { if (q.hasOwnProperty(k)) { parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(q[k])); } }
    if (extra) { parts.push(extra); }
    return parts.length ? '?' + parts.join('&') : '';
  }
  function send(method, url, body, cb) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    xhr.setRequestHeader('Accept', 'application/json');
    if (body !== null) { xhr.setRequestHeader('Content-Type', 'application/json'); }
    if (method !== 'GET') { xhr.setRequestHeader('X-CSRF-Token', root.getAttribute('data-csrf')); }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
      cb(xhr.status, data);
    };
    xhr.send(body === null ? null : JSON.stringify(body));
  }
  /* run f once the next frame is painted */
  function later(f) {
    if (window.requestAnimationFrame) { window.requestAnimationFrame(function () { window.setTimeout(f, 0); }); }
    else { window.setTimeout(f, 0); }
  }
  function kindOf(sec) { return sec.getAttribute('data-kind'); }
  function inputs(sec) { return [].slice.call(sec.querySelectorAll('.rv-input')); }
  function freeText(sec) { var k = kindOf(sec); return k === 'text' || k === 'name' || k === 'address'; }

  /* ---------------------------------------------------------------- values */
  function roc(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '');
    if (!m || +m[1] <= 1911) { return iso || ''; }
    return (+m[1] - 1911) + '/' + m[2] + '/' + m[3];
  }
  function valueOf(sec) {
    var k = kindOf(sec);
    var ins = inputs(sec);
    if (k === 'checkbox') { return ins[0].checked; }
    if (k === 'choice') {
      var multiple = sec.getAttribute('data-multiple') === 'true';
      var out = [];
      for (var i = 0; i < ins.length; i++) { if (ins[i].checked) { out.push(ins[i].value); } }
      if (multiple) { return out; }
      return out.length && out[0] !== '' ? out[0] : null;
    }
    return ins[0].value;
  }
  function saved(sec) { try { return JSON.parse(sec.getAttribute('data-value')); } catch (e) { return null; } }
  function show(sec, v) {
    var k = kindOf(sec);
    var ins = inputs(sec);
    if (k === 'checkbox') { ins[0].checked = !!v; return; }
    if (k === 'choice') {
      var list = v === null ? [''] : (v instanceof Array ? v : [v]);
      for (var i = 0; i < ins.length; i++) { ins[i].checked = list.indexOf(ins[i].value) >= 0; }
      return;
    }
    ins[0].value = v === null || v === undefined ? '' : (k === 'date' ? roc(String(v)) : String(v));
    hint(sec);
  }
  function same(a, b) {
    if (a instanceof Array && b instanceof Array) { return a.slice().sort().join('\u0001') === b.slice().sort().join('\u0001'); }
    return String(a === null || a === undefined ? '' : a) === String(b === null || b === undefined ? '' : b);
  }
  function changed(sec) {
    var k = kindOf(sec);
    var v = valueOf(sec);
    var s = saved(sec);
    if (k === 'date') { return String(v).replace(/\s/g, '') !== roc(s === null ? '' : String(s)); }
    if (k === 'checkbox') { return !!v !== !!s; }
    return !same(v, s);
  }

  /* ---------------------------------------------------------------- type-restricted input */
  var LETTERS = { A: 10, B: 11, C: 12, D: 13, E: 14, F: 15, G: 16, H: 17, I: 34, J: 18, K: 19, L: 20, M: 21, N: 22,
                  O: 35, P: 23, Q: 24, R: 25, S: 26, T: 27, U: 28, V: 29, W: 32, X: 30, Y: 31, Z: 33 };
  var WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 1, 1];
  /* mirrors intake.values.normalize_national_id's checksum */
  function idVerdict(s) {
    if (!s) { return ['', '']; }
    if (!/^[A-Z][1289A-D]\d{0,8}$/.test(s)) { return ['格式不對：1 個英文字母，第 2 碼 1、2、8、9 或 A-D', 'Not an ID: a letter, then 1, 2, 8, 9 or A-D']; }
    if (s.length < 10) { return ['還差 ' + (10 - s.length) + ' 碼', (10 - s.length) + ' more to type']; }
    var code = LETTERS[s.charAt(0)];
    var total = Math.floor(code / 10) + (code % 10) * 9;
    for (var i = 1; i < 10; i++) {
      var ch = s.charAt(i);
      total += WEIGHTS[i - 1] * (/[A-D]/.test(ch) ? LETTERS[ch] % 10 : +ch);
    }
    return total % 10 === 0 ? ['✓ 檢查碼正確', 'Check digit OK'] : ['✗ 檢查碼不符，請逐字核對', 'Check digit wrong: compare every character'];
  }
  function pad2(n) { return (n < 10 ? '0' : '') + n; }
  /* mirrors intake.values.parse_date for what supervisors type */
  function readDate(s) {
    s = s.replace(/\s/g, '').replace(/^(中華民國|民國)/, '');
    var y, m, d, roc = true, mm;
    if ((mm = /^(\d{1,4})[年\/.\-](\d{1,2})[月\/.\-](\d{1,2})日?$/.exec(s))) {
      y = +mm[1]; m = +mm[2]; d = +mm[3]; roc = mm[1].length < 4;
    } else if ((mm = /^(\d{6,8})$/.exec(s))) {
      if (s.length === 8) { y = +s.slice(0, 4); roc = false; } else { y = +s.slice(0, -4); }
      m = +s.slice(-4, -2); d = +s.slice(-2);
    } else { return null; }
    if (roc) { y += 1911; }
    var dt = new Date(y, m - 1, d);
    if (m < 1 || m > 12 || dt.getMonth() !== m - 1 || dt.getDate() !== d || y < 1912 || y > 2100) { return false; }
    return y + '-' + pad2(m) + '-' + pad2(d) + ' · 民國' + (y - 1911) + '年' + m + '月' + d + '日';
  }
  function hint(sec) {
    var k = kindOf(sec);
    var el = sec.querySelector('.rv-hint');
    var v = (inputs(sec)[0] || {}).value || '';
    if (!el) { return; }
    if (k === 'id') { var w = idVerdict(v); text(el, w[0], w[1]); }
    if (k === 'date') {
      var r = v ? readDate(v) : null;
      if (!v) { text(el, '可輸入 1130503 或 113/5/3', 'Type it like 1130503 or 113/5/3'); }
      else if (r === null) { text(el, '讀不成日期', 'Not read as a date'); }
      else if (r === false) { text(el, '沒有這個日期', 'There is no such date'); }
      else { text(el, '= ' + r, ''); }
    }
    if (k === 'phone') { text(el, v.length + ' 碼', v.length + ' digit(s)'); }
  }
  function restrict(e) {
    var t = e.target;
    var sec = sectionOf(t);
    if (!sec) { return; }
    var k = kindOf(sec);
    var v = t.value;
    var clean = v;
    if (k === 'phone') { clean = v.replace(/\D/g, ''); }
    if (k === 'number') { clean = v.replace(/[^\d.]/g, ''); }
    if (k === 'id') { clean = v.toUpperCase().replace(/[^A-Z0-9]/g, '').slice(0, 10); }
    if (k === 'date') { clean = v.replace(/[^\d\/.\-年月日民國]/g, ''); }
    if (clean !== v) { t.value = clean; }
    hint(sec);
  }

  /* ---------------------------------------------------------------- moving */
  function sectionOf(el) {
    while (el && el !== document) {
      if (el.className && has(el, 'rv-field')) { return el; }
      el = el.parentNode;
    }
    return null;
  }
  function visible(sec) { return has(sec, 'rv-tocheck') || (fine && fine.open); }
  function order() {
    var out = [];
    for (var i = 0; i < sections.length; i++) { if (visible(sections[i])) { out.push(sections[i]); } }
    return out;
  }
  function left() {
    var n = 0;
    for (var i = 0; i < sections.length; i++) { if (sections[i].getAttribute('data-status') === 'needs_review') { n++; } }
    return n;
  }
  function nextToCheck(from) {
    var list = order();
    var start = list.indexOf(from);
    for (var j = 1; j <= list.length; j++) {
      var s = list[(start + j) % list.length];
      if (s.getAttribute('data-status') === 'needs_review' && s !== from) { return s; }
    }
    return null;
  }
  function updatePreview(sec) {
    if (!preview) { return; }
    var src = sec.getAttribute('data-page-src');
    if (!src) { side.hidden = true; return; }
    side.hidden = false;
    var w = sec.getAttribute('data-page-w');
    var h = sec.getAttribute('data-page-h');
    preview.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    previewImg.setAttribute('width', w);
    previewImg.setAttribute('height', h);
    if (previewImg.getAttribute('href') !== src) {
      previewImg.setAttribute('href', src);
      previewImg.setAttributeNS('http://www.w3.org/1999/xlink', 'xlink:href', src);
    }
    previewBox.setAttribute('points', sec.getAttribute('data-poly'));
  }
  function focusSection(sec, t0) {
    if (!sec) { return; }
    var note = { path: sec.getAttribute('data-path'), page: false, scroll: false, busy: sending };
    if (current && current !== sec) { drop(current, 'rv-current'); }
    current = sec;
    add(sec, 'rv-current');
    if (!visible(sec) && fine) { fine.open = true; }
    note.page = previewImg && previewImg.getAttribute('href') !== sec.getAttribute('data-page-src');
    updatePreview(sec);
    var ins = inputs(sec);
    var target = ins[0];
    for (var i = 0; i < ins.length; i++) { if (ins[i].checked) { target = ins[i]; break; } }
    if (target) {
      target.focus({ preventScroll: true });  /* scrolled below, only when it is out of view */
      if (target.select && (target.type === 'text' || target.tagName === 'TEXTAREA')) { target.select(); }
    }
    if (sec.scrollIntoView) {
      var r = sec.getBoundingClientRect();
      if (r.top < 0 || r.bottom > (window.innerHeight || 800)) { sec.scrollIntoView(r.top < 0); note.scroll = true; }
    }
    if (t0 && window.requestAnimationFrame && window.performance) {
      window.requestAnimationFrame(function () {
        note.ms = window.performance.now() - t0;
        timings.push(note.ms);
        moves.push(note);
      });
    }
  }
  function move(step, t0) {
    var list = order();
    if (!list.length) { return; }
    var i = list.indexOf(current);
    focusSection(list[(i + step + list.length) % list.length], t0);
  }

  /* ---------------------------------------------------------------- saving */
  function setStatus(sec, status, errors) {
    var key = status + '|' + (errors ? errors.join(',') : '');
    if (sec.__state === key) { return; }  /* unchanged: no work for the page */
    sec.__state = key;
    sec.setAttribute('data-status', status);
    var st = sec.querySelector('.rv-state');
    st.setAttribute('data-state', status);
    if (status === 'verified') { text(st, '已確認', 'Checked'); }
    else if (status === 'needs_review') { text(st, '待確認', 'To check'); }
    else { text(st, '已接受', 'Accepted'); }
    if (status === 'needs_review') { add(sec, 'rv-tocheck'); }
    var ul = sec.querySelector('.rv-reasons');
    if (errors && errors.length && status === 'needs_review') {
      if (!ul) { ul = document.createElement('ul'); ul.className = 'rv-reasons'; sec.insertBefore(ul, sec.querySelector('.rv-machine')); }
      while (ul.firstChild) { ul.removeChild(ul.firstChild); }
      for (var i = 0; i < errors.length; i++) {
        var w = D.reasons[errors[i]] || D.reasons.verify;
        var li = document.createElement('li');
        text(li, w[0], w[1]);
        ul.appendChild(li);
      }
    } else if (ul && status === 'verified') { ul.parentNode.removeChild(ul); }
  }
  function setRevision(rev) {
    revision = rev;
    root.setAttribute('data-revision', String(rev));
    var els = document.querySelectorAll('#rv-revision, .rv-rev');
    for (var i = 0; i < els.length; i++) { els[i].value = String(rev); }
  }
  function showError(sec, zh, en) {
    var p = sec.querySelector('.rv-error');
    if (!p) { p = document.createElement('p'); p.className = 'rv-error'; p.setAttribute('role', 'alert'); sec.insertBefore(p, sec.querySelector('.rv-hint').nextSibling); }
    text(p, zh, en);
  }
  function clearError(sec) { var p = sec.querySelector('.rv-error'); if (p) { p.parentNode.removeChild(p); } }
  function count() {
    var n = left();
    var el = document.getElementById('rv-left');
    if (el) { el.textContent = String(n); }
    return n;
  }
  function drain() {
    if (sending) { return; }
    if (!pending.length) {
      if (afterDrain) { var f = afterDrain; afterDrain = null; f(); }
      return;
    }
    sending = true;
    var item = pending.shift();
    var sec = item.sec;
    var url = D.api + '/records/' + recordId + '/fields/' + encodeURIComponent(sec.getAttribute('data-path'));
    send('PATCH', url, { value: item.value, revision: revision }, function (status, body) {
      sending = false;
      drop(sec, 'rv-saving');
      if (status === 200 && body) {
        setRevision(body.revision);
        clearError(sec);
        for (var i = 0; i < sections.length; i++) {
          var f = body.fields[sections[i].getAttribute('data-path')];
          /* a field whose own save is still queued keeps what the supervisor did: its answer will say */
          if (f && !has(sections[i], 'rv-saving')) {
            setStatus(sections[i], f.status, f.errors);
            if (sections[i] === sec) { sec.setAttribute('data-value', JSON.stringify(f.value)); }
          }
        }
        var n = count();
        if (!n && !pending.length) { say(D.words.all_done[0], D.words.all_done[1]); }
        drain();
        return;
      }
      pending = [];
      afterDrain = null;
      if (status === 422 && body) {
        setStatus(sec, 'needs_review', null);
        showError(sec, body.detail_zh || '值不正確', body.detail || '');
        focusSection(sec);
      } else if (status === 409 && body && body.error === 'stale_revision') {
        say(D.words.stale[0], D.words.stale[1]);
        var p = document.createElement('a');
        p.href = window.location.pathname + window.location.search;
        text(p, '重新載入', 'Reload');
        statusLine.appendChild(p);
      } else if (status === 409 && body && body.error === 'record_claimed') {
        say(D.words.claimed[0], body.detail || D.words.claimed[1]);
      } else if (status === 0 || status >= 500) {
        say(D.words.offline[0], D.words.offline[1]);
        pending.unshift(item);
        add(sec, 'rv-saving');
        window.setTimeout(drain, 2000);
      } else {
        say('無法儲存', (body && body.detail) || 'Could not save');
      }
    });
  }
  function confirmField(sec, t0) {
    var needsPerson = sec.getAttribute('data-status') === 'needs_review';
    if (editable && (needsPerson || changed(sec))) {
      var k = kindOf(sec);
      var v = valueOf(sec);
      if (k === 'id' && v && idVerdict(v)[0].charAt(0) === '✗') { showError(sec, '檢查碼不符', 'The check digit does not match'); return; }
      add(sec, 'rv-saving');
      setStatus(sec, 'verified', null);
      pending.push({ sec: sec, value: v });
      later(drain);  /* after the next field is shown: the move never waits for the request */
    }
    var nxt = nextToCheck(sec);
    if (nxt) { focusSection(nxt, t0); return; }
    if (count() === 0 && editable) {
      say(D.words.all_done[0], D.words.all_done[1]);
      var ap = document.getElementById('rv-approve');
      if (ap) { ap.focus(); }
      if (t0 && window.requestAnimationFrame) { window.requestAnimationFrame(function () { timings.push(window.performance.now() - t0); }); }
    } else { move(1, t0); }
  }

  /* ---------------------------------------------------------------- decisions */
  function goNext() {
    leaving = true;
    send('POST', D.api + '/review/next' + qs('skip=' + recordId), null, function (status, body) {
      if (status === 200 && body) { window.location.href = '/review/records/' + body.record_id + qs(''); }
      else { window.location.href = '/review' + qs('note=empty'); }
    });
  }
  function approve() {
    if (!editable) { return; }
    afterDrain = function () {
      if (count() > 0) {
        say(D.words.left[0] + '：' + count(), D.words.left[1] + ': ' + count());
        focusSection(nextToCheck(null) || current);
        return;
      }
      send('POST', D.api + '/records/' + recordId + '/approve', { revision: revision }, function (status, body) {
        if (status === 200) { goNext(); return; }
        say('還不能核可', (body && body.detail) || 'Not approved');
      });
    };
    drain();
  }
  function openReject() {
    var r = document.getElementById('rv-reason');
    if (r) { r.focus(); if (r.scrollIntoView) { r.scrollIntoView(false); } }
  }
  function toggleHelp() {
    help.hidden = !help.hidden;
    if (!help.hidden) { help.focus(); } else if (current) { focusSection(current); }
  }

  /* ---------------------------------------------------------------- keys */
  function pick(sec, n) {
    var ins = inputs(sec);
    var multiple = sec.getAttribute('data-multiple') === 'true';
    if (n === 0) {
      for (var i = 0; i < ins.length; i++) { ins[i].checked = !multiple && ins[i].value === ''; }
      return;
    }
    var opt = ins[n - 1];
    if (!opt || opt.value === '') { return; }
    if (multiple) { opt.checked = !opt.checked; } else { opt.checked = true; }
    opt.focus();
  }
  document.addEventListener('keydown', function (e) {
    if (e.isComposing || e.keyCode === 229) { return; }  /* a Chinese input method is composing */
    var key = e.key || '';
    var t = e.target;
    if (!help.hidden && (key === 'Escape' || key === 'Esc' || key === '?')) { e.preventDefault(); toggleHelp(); return; }
    var sec = sectionOf(t);
    if ((key === '?' && !(sec && freeText(sec)) && t.id !== 'rv-reason') || (e.altKey && (key === '/' || e.keyCode === 191))) {
      e.preventDefault(); toggleHelp(); return;
    }
    if ((e.ctrlKey || e.metaKey) && (key === 'Enter' || e.keyCode === 13)) { e.preventDefault(); approve(); return; }
    if (e.altKey && (key === 'r' || key === 'R' || e.keyCode === 82)) { e.preventDefault(); openReject(); return; }
    if (e.altKey && (key === 'a' || key === 'A' || e.keyCode === 65)) {
      e.preventDefault();
      if (fine) { fine.open = !fine.open; if (!fine.open && current && !visible(current)) { focusSection(order()[0]); } }
      return;
    }
    if (!sec || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t0 = window.performance ? window.performance.now() : 0;
    if (key === 'Enter' || e.keyCode === 13) { e.preventDefault(); current = sec; confirmField(sec, t0); return; }
    if (key === 'Tab' || e.keyCode === 9) {
      var list = order();
      var at = list.indexOf(sec);
      if ((e.shiftKey && at === 0) || (!e.shiftKey && at === list.length - 1)) { return; }  /* out of the fields: no trap */
      e.preventDefault(); current = sec; move(e.shiftKey ? -1 : 1, t0); return;
    }
    if (key === 'Escape' || key === 'Esc' || e.keyCode === 27) { e.preventDefault(); show(sec, saved(sec)); clearError(sec); focusSection(sec); return; }
    if (kindOf(sec) === 'choice' && /^[0-9]$/.test(key)) { e.preventDefault(); pick(sec, +key); }
  });
  form.addEventListener('input', restrict);
  form.addEventListener('focusin', function (e) {
    var sec = sectionOf(e.target);
    if (sec && sec !== current) { if (current) { drop(current, 'rv-current'); } current = sec; add(sec, 'rv-current'); updatePreview(sec); }
  });
  form.addEventListener('submit', function (e) {
    var b = document.activeElement;
    if (b && b.id === 'rv-approve') { e.preventDefault(); approve(); return; }
    leaving = true;  /* the plain save: the page comes back and claims the record again */
  });
  var rejectForm = document.getElementById('rv-reject');
  if (rejectForm) { rejectForm.addEventListener('submit', function () { leaving = true; }); }
  if (fine) { fine.addEventListener('toggle', function () { if (fine.open) { var imgs = fine.querySelectorAll('img[loading]'); for (var i = 0; i < imgs.length; i++) { imgs[i].removeAttribute('loading'); } } }); }

  /* ---------------------------------------------------------------- the claim */
  function release() {
    if (!editable || !navigator.sendBeacon || !window.FormData) { return; }
    var fd = new FormData();
    fd.append('csrf', root.getAttribute('data-csrf'));
    navigator.sendBeacon('/review/records/' + recordId + '/release', fd);
  }
  if (editable) {
    window.setInterval(function () {
      send('POST', D.api + '/review/records/' + recordId + '/claim', null, function (status, body) {
        if (status === 409) { say(D.words.claimed[0], (body && body.detail) || D.words.claimed[1]); }
      });
    }, Math.max(10, D.claim_s / 3) * 1000);
    window.addEventListener('pagehide', function () { if (!leaving) { release(); } });
  }

  /* ---------------------------------------------------------------- start */
  for (var i = 0; i < sections.length; i++) {
    hint(sections[i]);
    sections[i].__state = sections[i].getAttribute('data-status') + '|' + (sections[i].getAttribute('data-errors') || '');
  }
  var first = null;
  for (var j = 0; j < sections.length; j++) { if (sections[j].getAttribute('data-status') === 'needs_review') { first = sections[j]; break; } }
  if (first) { focusSection(first); } else if (editable) {
    say(D.words.all_done[0], D.words.all_done[1]);
    var ap = document.getElementById('rv-approve');
    if (ap) { ap.focus(); }
  }
  /* prefetch: the other pages' previews and the likely next record's snippets, once this page is shown */
  window.setTimeout(function () {
    var seen = {};
    for (var i = 0; i < sections.length; i++) {
      var src = sections[i].getAttribute('data-page-src');
      if (src && !seen[src] && has(sections[i], 'rv-tocheck')) { seen[src] = 1; (new Image()).src = src; }
    }
    for (var k = 0; k < (D.prefetch || []).length; k++) { (new Image()).src = D.prefetch[k]; }
    /* decode this record's snippets now, not when a move scrolls one into view */
    var snips = document.querySelectorAll('.rv-tocheck .rv-snip');
    for (var n = 0; n < snips.length; n++) { if (snips[n].decode) { snips[n].decode()['catch'](function () {}); } }
  }, 400);
}());
