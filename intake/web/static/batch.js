/* Batch page: live page status, progress and ETA from GET /api/v1/batches/{id}/events
   (Server-Sent Events). The browser reconnects by itself after a network blip and resumes with
   Last-Event-ID; after a refused connection this script re-reads the batch and connects again
   with growing pauses; without EventSource it polls GET /api/v1/batches/{id}. Re-run, set aside
   and cancel go to the API. Without this script the page is a snapshot that reloads every 15 s.

   The page shows one window of the batch's pages: from position data-from to data-to (empty:
   to the end), all of them or problems only (data-filter). A live update for a page outside the
   window is ignored; a page that becomes a problem inside it is inserted in order; a row already
   shown is updated in place (it stays until the page is reloaded, even if no longer a problem).
   ES5. */
(function () {
  'use strict';
  var root = document.getElementById('batch');
  if (!root || !window.Intake || !window.JSON) { return; }
  var I = window.Intake;
  var L = JSON.parse(document.getElementById('labels').textContent);
  var batchId = root.getAttribute('data-batch-id');
  var eventsUrl = root.getAttribute('data-events-url');
  var apiUrl = root.getAttribute('data-api-url');
  var rerunBase = root.getAttribute('data-rerun-url');
  var canWrite = root.getAttribute('data-can-write') === 'true';
  var canPlace = root.getAttribute('data-can-place') === 'true';
  var pollUrl = root.getAttribute('data-poll-url') || apiUrl;
  var filter = root.getAttribute('data-filter') || 'all';
  var from = parseInt(root.getAttribute('data-from') || '0', 10);
  var to = root.getAttribute('data-to') ? parseInt(root.getAttribute('data-to'), 10) : null;
  var csrf = root.getAttribute('data-csrf');
  var status = root.getAttribute('data-status');
  var problems = parseInt(root.getAttribute('data-problems') || '0', 10);
  var live = document.getElementById('live');
  var actionMessage = document.getElementById('action-message');
  var tbody = document.getElementById('pages') ? document.getElementById('pages').tBodies[0] : null;
  var es = null;
  var retryTimer = null;
  var retryDelay = 2000;
  var eta = null;
  var eventsSeen = 0;

  function has(list, x) {
    for (var i = 0; i < list.length; i++) { if (list[i] === x) { return true; } }
    return false;
  }
  function el(tag, cls, txt) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (txt !== undefined && txt !== null) { e.appendChild(document.createTextNode(txt)); }
    return e;
  }
  function en(txt) {
    var s = el('span', '', txt);
    s.setAttribute('lang', 'en');
    return s;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
  function pair(node, zh, english) {
    clear(node);
    node.appendChild(document.createTextNode(zh + ' · '));
    node.appendChild(en(english));
  }
  function setLive(zh, english) { if (live) { pair(live, zh, english); } }
  function say(zh, english) { if (actionMessage) { pair(actionMessage, zh, english); } }
  function parse(data) { try { return JSON.parse(data); } catch (e) { return null; } }

  function badge(b) {
    var s = el('span', 'badge tone-' + b.tone);
    s.setAttribute('data-status', b.status);
    s.innerHTML = b.icon;  /* constant SVG from the server's labels, never data */
    var w = el('span', 'word', b.zh + ' ');
    w.appendChild(en(b.en));
    s.appendChild(w);
    return s;
  }
  function pageBadge(st, recordStatus) {
    var b = L.page_status[st] || { icon: '', tone: 'off', zh: st, en: st, status: st };
    if (st === 'read' && !has(L.record_done, recordStatus)) {  /* mirrors labels.page_badge */
      b = { icon: b.icon, tone: 'off', zh: b.zh, en: b.en, status: b.status };
    }
    return b;
  }

  /* mirrors service.problem_condition */
  function isProblem(p) {
    return has(L.problem, p.status) || (p.status === 'read' && p.record_status === 'needs_review');
  }
  function inWindow(p) {
    return p.position >= from && (to === null || p.position <= to) && (filter !== 'problems' || isProblem(p));
  }

  /* ---------------------------------------------------------------- one row (mirrors page_row) */
  var CELLS = [['c-pos', '# '], ['c-file', '檔案 File'], ['c-index', '頁 Page'], ['c-status', '狀態 Status'],
               ['c-form', '表單 Form'], ['c-detail', '說明 Details'], ['c-record', '紀錄 Record'], ['c-action', null]];

  function rowFor(p) {
    var tr = document.getElementById('page-' + p.id);
    if (tr || !tbody || !inWindow(p)) { return tr; }
    tr = el('tr');
    tr.id = 'page-' + p.id;
    tr.setAttribute('data-page-id', String(p.id));
    tr.setAttribute('data-position', String(p.position));
    for (var i = 0; i < CELLS.length; i++) {
      var td = el('td', CELLS[i][0]);
      if (CELLS[i][1]) { td.setAttribute('data-label', CELLS[i][1]); }
      tr.appendChild(td);
    }
    tr.cells[0].appendChild(document.createTextNode(String(p.position + 1)));
    tr.cells[1].appendChild(el('span', 'filename', p.file));
    tr.cells[2].appendChild(document.createTextNode(String(p.index)));
    var after = null;  /* keep batch order: before the first row further down the batch */
    for (var r = 0; r < tbody.rows.length; r++) {
      if (parseInt(tbody.rows[r].getAttribute('data-position'), 10) > p.position) { after = tbody.rows[r]; break; }
    }
    tbody.insertBefore(tr, after);
    var none = document.getElementById('no-rows');
    if (none) { none.hidden = true; }
    return tr;
  }

  function reasonOf(p) {
    if (!p.error) { return null; }
    var code = p.error.code || p.status;
    var r = L.reasons[code] || L.reasons[p.status] || { zh: '無法讀取。', en: 'This could not be read.' };
    return { zh: r.zh, en: I.sentence(p.error.message) || r.en };
  }

  function renderRow(p) {
    var tr = rowFor(p);
    if (!tr) { return; }
    var before = tr.getAttribute('data-status');
    tr.setAttribute('data-status', p.status);
    if (p.record_status) { tr.setAttribute('data-record-status', p.record_status); }
    else { tr.removeAttribute('data-record-status'); }
    var c = tr.cells;

    clear(c[3]);
    c[3].appendChild(badge(pageBadge(p.status, p.record_status)));
    if (p.status === 'processing' && p.attempts > 1) {
      var note = el('span', 'note', ' 第 ' + p.attempts + ' 次嘗試 ');
      note.appendChild(en('attempt ' + p.attempts));
      c[3].appendChild(note);
    }

    clear(c[4]);
    if (p.template) {
      var f = L.forms[p.template + '@' + p.template_version];
      var title = el('span', 'form-title', f ? f.zh : p.template);
      if (f && f.en) { title.appendChild(document.createTextNode(' ')); title.appendChild(en(f.en)); }
      c[4].appendChild(title);
      var meta = el('span', 'form-meta');
      meta.appendChild(el('code', '', p.template));
      var m = ' v' + p.template_version;
      if (p.template_page) {
        meta.appendChild(document.createTextNode(m + ' · 第 ' + p.template_page + (f ? '/' + f.pages : '') + ' 頁 '));
        meta.appendChild(en('p. ' + p.template_page + (f ? ' of ' + f.pages : '')));
      } else {
        meta.appendChild(document.createTextNode(m));
      }
      c[4].appendChild(meta);
    } else {
      c[4].appendChild(el('span', 'none', '—'));
    }

    var placeable = canPlace && has(L.placeable, p.status);
    clear(c[5]);
    if (p.thumbnail_url && (has(L.problem, p.status) || p.status === 'set_aside')) {
      c[5].appendChild(thumb(p, placeable ? '/pages/' + p.id + '/place' : p.preview_url));
    }
    var why = reasonOf(p);
    if (why) { I.twoLines(c[5], why.zh, why.en, 'reason'); }
    var aligned = p.alignment !== null && p.alignment !== undefined ? Math.round(p.alignment * 100) : null;
    if (p.placement) {
      var placed = el('p', 'note placed', '由督導放置 ');
      placed.appendChild(en('Placed by a supervisor'));
      if (aligned !== null && (p.status === 'read' || p.status === 'unregistered')) {
        placed.appendChild(document.createTextNode(' · 對準 ' + aligned + '% '));
        placed.appendChild(en('aligned'));
      }
      c[5].appendChild(placed);
    } else if (p.status === 'unregistered' && aligned !== null) {
      var al = el('p', 'note', '對準 ' + aligned + '% ');
      al.appendChild(en('aligned'));
      c[5].appendChild(al);
    }

    clear(c[6]);
    if (p.record_id) {
      var a = el('a', '', '紀錄 ');
      a.href = '/records/' + p.record_id;
      a.appendChild(en('Record'));
      a.appendChild(document.createTextNode(' #' + p.record_id));
      c[6].appendChild(a);
      if (p.record_status && L.record_status[p.record_status]) {
        c[6].appendChild(document.createTextNode(' '));
        c[6].appendChild(badge(L.record_status[p.record_status]));
      }
    } else {
      c[6].appendChild(el('span', 'none', '—'));
    }

    var keepFocus = c[7].contains && c[7].contains(document.activeElement);
    clear(c[7]);
    if (placeable) { c[7].appendChild(placeLink(p)); }
    if (canPlace && status !== 'cancelled' && has(L.settable_aside, p.status)) {
      c[7].appendChild(pageForm(p, 'set-aside', '略過 ', 'Set aside'));
    }
    if (canWrite && status !== 'cancelled' && has(L.rerunnable, p.status)) {
      c[7].appendChild(rerunForm(p));
    }
    if (keepFocus) {  /* the focused button was replaced: keep the keyboard user in this row */
      var again = c[7].getElementsByTagName('button')[0];
      if (!again) { c[3].setAttribute('tabindex', '-1'); }
      (again || c[3]).focus();
    }

    if (before !== p.status) {
      tr.className = '';
      void tr.offsetWidth;  /* restart the highlight */
      tr.className = 'changed';
    }
  }

  function pageForm(p, action, zh, english) {
    var form = el('form', action);
    form.method = 'post';
    form.action = '/pages/' + p.id + '/' + action;
    form.setAttribute('data-page-id', String(p.id));
    var hidden = el('input');
    hidden.type = 'hidden';
    hidden.name = 'csrf';
    hidden.value = csrf;
    form.appendChild(hidden);
    var b = el('button', 'btn btn-small', zh);
    b.type = 'submit';
    b.appendChild(en(english));
    b.appendChild(el('span', 'vh', ' ' + p.file + ' 第 ' + p.index + ' 頁 page ' + p.index));
    form.appendChild(b);
    return form;
  }
  function rerunForm(p) { return pageForm(p, 'rerun', '重新讀取 ', 'Re-run'); }

  function placeLink(p) {
    var a = el('a', 'btn btn-small', '放置 ');
    a.href = '/pages/' + p.id + '/place';
    a.appendChild(en('Place'));
    a.appendChild(el('span', 'vh', ' ' + p.file + ' 第 ' + p.index + ' 頁 page ' + p.index));
    return a;
  }

  function thumb(p, href) {  /* mirrors the thumb macro */
    var a = el('a', 'thumb');
    a.href = href;
    var img = el('img');
    img.src = p.thumbnail_url;
    img.width = 80;
    img.alt = '第 ' + p.index + ' 頁的縮圖 Thumbnail of page ' + p.index + ' of ' + p.file;
    a.appendChild(img);
    return a;
  }

  /* ---------------------------------------------------------------- progress and ETA */
  function etaWords() {
    if (status === 'cancelled') { return ['批次已取消', 'the batch was cancelled']; }
    if (!eta) { return null; }
    if (eta.total && eta.done >= eta.total) { return ['全部完成', 'all pages done']; }
    if (eta.seconds === null || eta.seconds === undefined) {
      return ['估算中…（第一頁讀完後就有預估）', 'estimating… (an estimate follows the first page read)'];
    }
    var left = eta.seconds - (new Date().getTime() - eta.at) / 1000;
    if (left < -Math.max(60, eta.seconds * 0.5)) { return ['比預估的久，仍在處理中', 'taking longer than estimated; still working']; }
    if (left <= 0) { return ['應該快完成了', 'should be done any moment']; }
    if (left < 60) { return ['剩不到 1 分鐘', 'less than a minute left']; }
    var minutes = Math.ceil(left / 60);
    if (minutes < 60) { return ['約剩 ' + minutes + ' 分鐘', 'about ' + minutes + ' minute' + (minutes === 1 ? '' : 's') + ' left']; }
    var h = Math.floor(minutes / 60);
    var r = minutes % 60;
    return ['約剩 ' + h + ' 小時' + (r ? ' ' + r + ' 分鐘' : ''),
            'about ' + h + ' hour' + (h === 1 ? '' : 's') + (r ? ' ' + r + ' minute' + (r === 1 ? '' : 's') : '') + ' left'];
  }
  function renderEta() {
    var w = etaWords();
    if (w) { pair(document.getElementById('eta'), w[0], w[1]); }
  }

  function setText(id, txt) { var e = document.getElementById(id); if (e) { e.textContent = txt; } }

  function applyProgress(pr) {
    var bar = document.getElementById('bar');
    bar.max = pr.total || 1;
    bar.value = pr.total ? pr.done : 1;
    setText('done', String(pr.done));
    setText('done-en', String(pr.done));
    setText('total', String(pr.total));
    setText('total-en', String(pr.total));
    var counts = document.getElementById('counts');
    clear(counts);
    for (var st in L.page_status) {
      if (L.page_status.hasOwnProperty(st) && pr.counts && pr.counts[st]) {
        var b = L.page_status[st];
        var li = el('li', 'tone-' + (st === 'read' ? 'off' : b.tone));  /* read is not "done": see review */
        li.setAttribute('data-status', st);
        li.innerHTML = b.icon;
        var w = el('span', 'word', b.zh + ' ');
        w.appendChild(en(b.en));
        li.appendChild(w);
        li.appendChild(document.createTextNode(' '));
        li.appendChild(el('strong', 'n', String(pr.counts[st])));
        counts.appendChild(li);
      }
    }
    var rate = document.getElementById('rate');
    var nodes = rate.getElementsByTagName('span');
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].className === 'n') { nodes[i].textContent = String(pr.rate_per_minute || 0); }
    }
    rate.hidden = !pr.rate_per_minute || (pr.status || status) !== 'processing';
    eta = { seconds: pr.eta_seconds, at: new Date().getTime(), done: pr.done, total: pr.total };
    if (pr.status) { setStatus(pr.status); }
    if (pr.review) { applyReview(pr.review); }
    renderEta();
  }

  /* the review summary (mirrors the review_summary macro) */
  function applyReview(r) {
    var box = document.getElementById('review-' + batchId);
    if (!box) { return; }
    var items = box.getElementsByTagName('li');
    for (var i = 0; i < items.length; i++) {
      var key = items[i].getAttribute('data-count');
      var spans = items[i].getElementsByTagName('*');
      for (var k = 0; k < spans.length; k++) {
        if (spans[k].className === 'n' && key !== 'done') { spans[k].textContent = String(r[key]); }
        if (spans[k].className === 'n-pages') { spans[k].textContent = String(r.pages_needs_review); }
      }
      var anyRecords = false;
      for (var st in r.records) { if (r.records.hasOwnProperty(st) && r.records[st]) { anyRecords = true; } }
      items[i].hidden = key === 'done' ? (r.problems > 0 || !anyRecords || status === 'processing') : !r[key];
    }
    setText('problems-n', String(r.problems));
    if (r.problems !== problems) { problems = r.problems; renderBatchBadge(); }
  }

  function renderBatchBadge() {  /* mirrors labels.batch_badge */
    var holder = document.getElementById('batch-status');
    clear(holder);
    holder.appendChild(badge(status === 'done' && problems ? L.batch_done_open : (L.batch_status[status] || pageBadge(status))));
  }

  function setStatus(st) {
    if (st === status) { return; }
    status = st;
    root.setAttribute('data-status', st);
    renderBatchBadge();
    var cancelForm = document.getElementById('cancel-form');
    if (cancelForm) { cancelForm.hidden = st !== 'processing'; }
    if (st === 'cancelled') {
      var forms = root.querySelectorAll ? root.querySelectorAll('form.rerun') : [];
      for (var i = forms.length - 1; i >= 0; i--) { forms[i].parentNode.removeChild(forms[i]); }
    }
  }

  function finished(st) {
    if (st === 'done') { setLive('所有頁面都已讀完', 'Every page has been read.'); }
    else if (st === 'cancelled') { setLive('批次已取消', 'The batch was cancelled.'); }
  }

  function applyBatch(b) {
    for (var i = 0; i < b.pages.length; i++) { renderRow(b.pages[i]); }
    var pr = b.progress;
    applyProgress({ done: pr.done, total: pr.total, eta_seconds: pr.eta_seconds, counts: pr.counts,
                    rate_per_minute: pr.rate_per_minute, status: b.status, review: b.review });
  }

  /* ---------------------------------------------------------------- live connection */
  function close() {
    if (es) { es.close(); es = null; }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
  }

  function connect() {
    close();
    if (!window.EventSource) { poll(); return; }
    es = new EventSource(eventsUrl);
    es.addEventListener('open', function () {
      retryDelay = 2000;
      setLive('即時更新中', 'Live updates on');
    });
    es.addEventListener('page', function (e) {
      var p = parse(e.data);
      if (p) { renderRow(p); eventsSeen++; root.setAttribute('data-events', String(eventsSeen)); }
    });
    es.addEventListener('progress', function (e) {
      var pr = parse(e.data);
      if (!pr) { return; }
      applyProgress(pr);
      if (pr.final) { close(); finished(pr.status); }
    });
    es.onerror = function () {
      if (!es) { return; }
      if (es.readyState === 2) {  /* CLOSED: refused (signed out, server error): we retry */
        es = null;
        retryLater();
      } else {                    /* CONNECTING: the browser retries with Last-Event-ID */
        setLive('連線中斷，正在重新連線…', 'Connection lost; reconnecting…');
      }
    };
  }

  function retryLater() {
    setLive('連線中斷，' + Math.round(retryDelay / 1000) + ' 秒後重試…',
            'Connection lost; trying again in ' + Math.round(retryDelay / 1000) + ' s…');
    retryTimer = setTimeout(function () {
      retryTimer = null;
      I.request('GET', pollUrl, null, function (st, body) {
        if (st === 200 && body) {
          applyBatch(body);
          if (body.status === 'processing') { connect(); } else { finished(body.status); }
        } else if (st === 401) {
          setLive('登入已過期，請重新登入', 'Your session has ended; sign in again.');
          var a = el('a', '', ' 登入 Sign in');
          a.href = '/login?next=' + encodeURIComponent('/batches/' + batchId);
          live.appendChild(a);
        } else if (st === 404) {
          setLive('找不到這個批次', 'This batch is not there any more.');
        } else {
          retryDelay = Math.min(retryDelay * 2, 60000);
          retryLater();
        }
      });
    }, retryDelay);
  }

  function poll() {  /* browsers without EventSource */
    setLive('每 5 秒更新', 'Updated every 5 seconds');
    I.request('GET', pollUrl, null, function (st, body) {
      if (st === 200 && body) {
        applyBatch(body);
        if (body.status !== 'processing') { finished(body.status); return; }
      }
      retryTimer = setTimeout(poll, st === 200 ? 5000 : 15000);
    });
  }

  /* ---------------------------------------------------------------- re-run and cancel */
  function failed(st, body, zh, english) {
    if (st === 401) { window.location.href = '/login?next=' + encodeURIComponent('/batches/' + batchId); return; }
    var detail = body && body.detail ? ' ' + I.sentence(body.detail) : '';
    say(zh, english + detail);
  }

  function rerun(form) {
    var id = form.getAttribute('data-page-id');
    var button = form.getElementsByTagName('button')[0];
    button.disabled = true;
    I.request('POST', rerunBase + id + '/rerun', null, function (st, body) {
      if (st === 202 && body) {
        renderRow(body);
        setStatus('processing');
        setLive('即時更新中', 'Live updates on');
        say('已重新排入讀取：' + body.file + ' 第 ' + body.index + ' 頁', 'Queued to be read again: ' + body.file +
            ' page ' + body.index + '.');
        if (!es) { connect(); }
        var tr = document.getElementById('page-' + id);
        if (tr) { tr.cells[3].setAttribute('tabindex', '-1'); tr.cells[3].focus(); }
      } else {
        button.disabled = false;
        failed(st, body, '無法重新讀取這一頁', 'The page could not be re-run.');
      }
    });
  }

  function setAside(form) {
    var id = form.getAttribute('data-page-id');
    var button = form.getElementsByTagName('button')[0];
    button.disabled = true;
    I.request('POST', rerunBase + id + '/set-aside', null, function (st, body) {
      if (st === 200 && body) {
        renderRow(body);
        say('已略過：' + body.file + ' 第 ' + body.index + ' 頁', 'Set aside: ' + body.file + ' page ' + body.index + '.');
        I.request('GET', pollUrl, null, function (st2, b) { if (st2 === 200 && b) { applyBatch(b); } });
        var tr = document.getElementById('page-' + id);
        if (tr) { tr.cells[3].setAttribute('tabindex', '-1'); tr.cells[3].focus(); }
      } else {
        button.disabled = false;
        failed(st, body, '無法略過這一頁', 'The page could not be set aside.');
      }
    });
  }

  function cancel(form) {
    var msg = '確定要取消批次 #' + batchId + ' 嗎？尚未讀取的頁面將不再讀取；已讀完的頁面與紀錄會保留。\n\n' +
              'Cancel batch ' + batchId + '? Pages not read yet will not be read; pages already read and their ' +
              'records are kept.';
    if (!window.confirm(msg)) { return; }
    var button = form.getElementsByTagName('button')[0];
    button.disabled = true;
    I.request('POST', apiUrl + '/cancel', null, function (st, body) {
      button.disabled = false;
      if (st === 200 && body) {
        applyBatch(body);
        close();
        finished(body.status);
      } else {
        failed(st, body, '無法取消批次', 'The batch could not be cancelled.');
      }
    });
  }

  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f && f.className && (' ' + f.className + ' ').indexOf(' rerun ') >= 0) {
      e.preventDefault();
      rerun(f);
    } else if (f && f.className && (' ' + f.className + ' ').indexOf(' set-aside ') >= 0) {
      e.preventDefault();
      setAside(f);
    } else if (f && f.id === 'cancel-form') {
      e.preventDefault();
      cancel(f);
    }
  });

  eta = null;
  setInterval(renderEta, 5000);
  if (status === 'processing') { connect(); }
}());
