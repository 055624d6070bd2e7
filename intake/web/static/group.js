/* Group verification: a grid of one kind of field across many records. Tab / Shift+Tab and the
   arrow keys move from cell to cell; typing replaces a value, Space toggles a box, 1-9 pick an
   option (0: none); a changed cell is marked as wrong; Esc reverts it; Ctrl+Enter (or the button)
   confirms every cell at once through POST /api/v1/review/group: changed cells as corrections,
   the rest as confirmations, each on its own (a stale or invalid one fails alone). ES5. */
(function () {
  'use strict';
  var formEl = document.getElementById('gv-form');
  if (!formEl || !window.JSON || !document.querySelectorAll) { return; }
  var cells = [].slice.call(document.querySelectorAll('.gv-cell'));
  var statusLine = document.getElementById('gv-status');
  var current = null;
  var busy = false;
  var timings = [];
  window.__gv = { timings: timings };

  function has(el, c) { return (' ' + el.className + ' ').indexOf(' ' + c + ' ') >= 0; }
  function add(el, c) { if (!has(el, c)) { el.className += ' ' + c; } }
  function drop(el, c) { el.className = (' ' + el.className + ' ').replace(' ' + c + ' ', ' ').replace(/^\s+|\s+$/g, ''); }
  function inputs(cell) { return [].slice.call(cell.querySelectorAll('.gv-input')); }
  function cellOf(el) { while (el && el !== document) { if (el.className && has(el, 'gv-cell')) { return el; } el = el.parentNode; } return null; }
  function valueOf(cell) {
    var k = cell.getAttribute('data-kind');
    var ins = inputs(cell);
    if (k === 'checkbox') { return ins[0].checked; }
    if (k === 'multi' || k === 'choice') {
      var out = [];
      for (var i = 0; i < ins.length; i++) { if (ins[i].checked) { out.push(ins[i].value); } }
      return k === 'multi' ? out : (out.length && out[0] !== '' ? out[0] : null);
    }
    return ins[0].value;
  }
  function snapshot(cell) { cell.__orig = JSON.stringify(valueOf(cell)); }
  function mark(cell) { if (JSON.stringify(valueOf(cell)) !== cell.__orig) { add(cell, 'gv-changed'); } else { drop(cell, 'gv-changed'); } }
  function restore(cell) {
    var v = JSON.parse(cell.__orig);
    var k = cell.getAttribute('data-kind');
    var ins = inputs(cell);
    if (k === 'checkbox') { ins[0].checked = !!v; }
    else if (k === 'multi' || k === 'choice') {
      var list = v === null ? [''] : (v instanceof Array ? v : [v]);
      for (var i = 0; i < ins.length; i++) { ins[i].checked = list.indexOf(ins[i].value) >= 0; }
    } else { ins[0].value = v; }
    mark(cell);
  }
  function focusCell(cell, t0) {
    if (!cell) { return; }
    if (current) { drop(current, 'gv-current'); }
    current = cell;
    add(cell, 'gv-current');
    var ins = inputs(cell);
    var target = ins[0];
    for (var i = 0; i < ins.length; i++) { if (ins[i].checked) { target = ins[i]; break; } }
    target.focus();
    if (target.type === 'text' && target.select) { target.select(); }
    if (t0 && window.requestAnimationFrame) { window.requestAnimationFrame(function () { timings.push(window.performance.now() - t0); }); }
  }
  function move(step, t0) {
    var i = cells.indexOf(current);
    focusCell(cells[Math.max(0, Math.min(cells.length - 1, i + step))], t0);
  }
  function say(zh, en) {
    while (statusLine.firstChild) { statusLine.removeChild(statusLine.firstChild); }
    statusLine.appendChild(document.createTextNode(zh + ' '));
    var s = document.createElement('span');
    s.setAttribute('lang', 'en');
    s.appendChild(document.createTextNode(en));
    statusLine.appendChild(s);
  }
  function confirmAll() {
    if (busy) { return; }
    busy = true;
    var items = [];
    for (var i = 0; i < cells.length; i++) {
      items.push({ record_id: +cells[i].getAttribute('data-record'), path: cells[i].getAttribute('data-path'),
                   value: valueOf(cells[i]), revision: +cells[i].getAttribute('data-revision') });
    }
    say('儲存中…', 'Saving…');
    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/review/group', true);
    xhr.setRequestHeader('Content-Type', 'application/json');
    var meta = document.querySelector('meta[name="csrf-token"]');  /* intake/auth/csrf.py */
    xhr.setRequestHeader('X-CSRF-Token', meta ? meta.getAttribute('content') : '');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      busy = false;
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status !== 200 || !body) { say('無法儲存，請再試一次。', 'Could not save; try again.'); return; }
      for (var j = 0; j < body.results.length; j++) {
        var r = body.results[j];
        var p = cells[j].querySelector('.gv-result');
        p.className = 'gv-result ' + (r.ok ? 'gv-result-ok' : 'gv-result-bad');
        p.textContent = r.ok ? (r.kind === 'corrected' ? '已更正 Corrected' : '已確認 Confirmed') : ('未儲存 Not saved: ' + (r.detail || r.error));
      }
      say('已確認 ' + body.confirmed + '、更正 ' + body.corrected + (body.failed ? '、未儲存 ' + body.failed : '') + '。',
          body.confirmed + ' confirmed, ' + body.corrected + ' corrected' + (body.failed ? ', ' + body.failed + ' not saved' : '') + '.');
      formEl.setAttribute('data-done', 'true');
      var more = document.createElement('a');
      more.href = window.location.pathname + window.location.search.replace(/([?&])done=[^&]*/, '$1');
      more.id = 'gv-more';
      more.appendChild(document.createTextNode(' 下一組 Next group →'));
      statusLine.appendChild(more);
      more.focus();
    };
    xhr.send(JSON.stringify({ items: items }));
  }

  for (var i = 0; i < cells.length; i++) { snapshot(cells[i]); }
  formEl.addEventListener('input', function (e) { var c = cellOf(e.target); if (c) { mark(c); } });
  formEl.addEventListener('change', function (e) { var c = cellOf(e.target); if (c) { mark(c); } });
  formEl.addEventListener('focusin', function (e) { var c = cellOf(e.target); if (c && c !== current) { if (current) { drop(current, 'gv-current'); } current = c; add(c, 'gv-current'); } });
  formEl.addEventListener('submit', function (e) { e.preventDefault(); confirmAll(); });
  document.addEventListener('keydown', function (e) {
    if (e.isComposing || e.keyCode === 229) { return; }
    var key = e.key || '';
    if ((e.ctrlKey || e.metaKey) && (key === 'Enter' || e.keyCode === 13)) { e.preventDefault(); confirmAll(); return; }
    var cell = cellOf(e.target);
    if (!cell || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var t0 = window.performance ? window.performance.now() : 0;
    var text = cell.getAttribute('data-kind') === 'text';
    if (key === 'Tab') {
      var at = cells.indexOf(cell);
      if ((e.shiftKey && at === 0) || (!e.shiftKey && at === cells.length - 1)) { return; }  /* out of the grid: no trap */
      e.preventDefault(); move(e.shiftKey ? -1 : 1, t0); return;
    }
    if (key === 'Enter' || (key === 'ArrowRight' && !text) || (key === 'ArrowDown' && !text)) { e.preventDefault(); move(1, t0); return; }
    if ((key === 'ArrowLeft' || key === 'ArrowUp') && !text) { e.preventDefault(); move(-1, t0); return; }
    if (key === 'Escape' || key === 'Esc') { e.preventDefault(); restore(cell); focusCell(cell); return; }
    var k = cell.getAttribute('data-kind');
    if ((k === 'choice' || k === 'multi') && /^[0-9]$/.test(key)) {
      e.preventDefault();
      var ins = inputs(cell);
      var n = +key;
      if (n === 0) { for (var j = 0; j < ins.length; j++) { ins[j].checked = k === 'choice' && ins[j].value === ''; } }
      else if (ins[n - 1] && ins[n - 1].value !== '') { ins[n - 1].checked = k === 'multi' ? !ins[n - 1].checked : true; ins[n - 1].focus(); }
      mark(cell);
    }
  });
  focusCell(cells[0]);
}());
