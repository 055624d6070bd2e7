/* Upload page: drag and drop or the file picker, the chosen files with name and size, upload to
   POST /api/v1/batches with XMLHttpRequest progress, then the batch page. Without this script the
   form posts to /upload and works all the same (no progress). ES5. */
(function () {
  'use strict';
  var form = document.getElementById('upload-form');
  if (!form || !window.FormData || !window.Intake) { return; }
  var I = window.Intake;
  var L = JSON.parse(document.getElementById('labels').textContent);
  var input = document.getElementById('files');
  var zone = document.getElementById('dropzone');
  var list = document.getElementById('file-list');
  var chosenBox = document.getElementById('chosen');
  var countEl = document.getElementById('chosen-count');
  var progressBox = document.getElementById('upload-progress');
  var bar = document.getElementById('upload-bar');
  var statusEl = document.getElementById('upload-status');
  var resultBox = document.getElementById('upload-result');
  var button = document.getElementById('upload-button');
  var clearButton = document.getElementById('clear-button');
  var chosen = [];
  var busy = false;

  input.removeAttribute('required');  /* the script checks the list itself */
  var probe = document.createElement('div');
  var canDrop = ('draggable' in probe || 'ondragstart' in probe) && 'ondrop' in probe;
  if (canDrop) { document.getElementById('drop-hint').hidden = false; }

  function key(f) { return f.name + '\u0000' + f.size + '\u0000' + (f.lastModified || ''); }

  function addFiles(files) {
    if (busy || !files) { return; }
    var seen = {};
    for (var i = 0; i < chosen.length; i++) { seen[key(chosen[i])] = true; }
    for (var j = 0; j < files.length; j++) {
      if (!seen[key(files[j])]) { chosen.push(files[j]); seen[key(files[j])] = true; }
    }
    resultBox.hidden = true;
    render();
  }

  function text(tag, cls, s) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.appendChild(document.createTextNode(s));
    return el;
  }

  function render() {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var total = 0;
    for (var i = 0; i < chosen.length; i++) {
      var f = chosen[i];
      total += f.size;
      var li = document.createElement('li');
      li.setAttribute('data-name', f.name);
      li.appendChild(text('span', 'filename', f.name));
      li.appendChild(text('span', 'size', I.humanSize(f.size)));
      var rm = document.createElement('button');
      rm.type = 'button';
      rm.className = 'btn btn-small remove';
      rm.setAttribute('data-index', String(i));
      rm.appendChild(document.createTextNode('移除 '));
      rm.appendChild(text('span', '', 'Remove'));
      rm.lastChild.setAttribute('lang', 'en');
      rm.appendChild(text('span', 'vh', ' ' + f.name));
      li.appendChild(rm);
      list.appendChild(li);
    }
    chosenBox.hidden = chosen.length === 0;
    clearButton.hidden = chosen.length === 0;
    countEl.textContent = chosen.length ? '（' + chosen.length + ' 個檔案，共 ' + I.humanSize(total) + ' · ' +
      chosen.length + ' file' + (chosen.length === 1 ? '' : 's') + ', ' + I.humanSize(total) + '）' : '';
  }

  function say(zh, en) {
    statusEl.textContent = zh + (en ? ' · ' + en : '');
  }

  function setBusy(on) {
    busy = on;
    button.disabled = on;
    clearButton.disabled = on;
    input.disabled = on;
    var removes = list.getElementsByTagName('button');
    for (var i = 0; i < removes.length; i++) { removes[i].disabled = on; }
  }

  function reasonFor(code, message) {
    var r = L.reasons[code] || L.reasons.unreadable_file;
    return { zh: r.zh, en: I.sentence(message) || r.en };
  }

  /* Marks each listed file with what the server did with it (the API answers per file). */
  function markFiles(files) {
    var items = list.getElementsByTagName('li');
    for (var i = 0; i < files.length; i++) {
      var f = files[i];
      var li = items[f.position];
      if (!li) { continue; }
      var rm = li.getElementsByTagName('button')[0];
      if (rm) { li.removeChild(rm); }
      li.className = f.status;
      li.setAttribute('data-status', f.status);
      var b = L.file_status[f.status];
      var box = document.createElement('div');
      box.className = 'result';
      var badge = document.createElement('span');
      badge.className = 'badge tone-' + b.tone;
      badge.innerHTML = b.icon;  /* constant markup from the server's labels */
      badge.appendChild(text('span', 'word', b.zh + ' ' + b.en));
      box.appendChild(badge);
      if (f.status === 'refused') {
        var r = reasonFor(f.error && f.error.code, f.error && f.error.message);
        I.twoLines(box, r.zh, r.en, 'reason');
      } else if (f.status === 'duplicate' && f.duplicate_of) {
        box.appendChild(text('span', 'note', ' 之前已上傳過（批次 #' + f.duplicate_of.batch_id + '），不再重複讀取 · ' +
          'uploaded before (batch ' + f.duplicate_of.batch_id + '); not read again'));
      } else if (f.status === 'duplicate') {
        box.appendChild(text('span', 'note', ' 之前已收到，不再重複讀取 · already received; not read again'));
      } else {
        box.appendChild(text('span', 'note', ' ' + f.pages + ' 頁 · ' + f.pages + ' page' + (f.pages === 1 ? '' : 's')));
      }
      li.appendChild(box);
    }
  }

  function showResult(batch, refused) {
    while (resultBox.firstChild) { resultBox.removeChild(resultBox.firstChild); }
    var accepted = batch.files.length - refused;
    var div = document.createElement('div');
    div.className = 'alert ' + (refused ? 'alert-bad' : 'alert-ok');
    I.twoLines(div, '批次 #' + batch.id + ' 已建立：' + accepted + ' 個檔案已接受，' + refused + ' 個未接受（原因見上方清單）。',
      'Batch ' + batch.id + ' was created: ' + accepted + ' accepted, ' + refused +
      ' refused (the reasons are in the list above).', 'summary');
    var p = document.createElement('p');
    var a = document.createElement('a');
    a.href = '/batches/' + batch.id;
    a.id = 'go-to-batch';
    a.className = 'btn btn-primary';
    a.appendChild(document.createTextNode('前往批次 #' + batch.id + ' · Go to batch ' + batch.id + ' →'));
    p.appendChild(a);
    div.appendChild(p);
    resultBox.appendChild(div);
    resultBox.hidden = false;
    resultBox.focus();
  }

  function showError(status, body) {
    while (resultBox.firstChild) { resultBox.removeChild(resultBox.firstChild); }
    var div = document.createElement('div');
    div.className = 'alert alert-bad';
    div.setAttribute('role', 'alert');
    if (status === 0) {
      I.twoLines(div, '連線中斷，沒有上傳任何檔案。請再試一次。', 'The connection was lost; nothing was uploaded. Try again.', 'summary');
    } else if (body && body.error) {
      var r = L.reasons[body.error] || { zh: '沒有任何檔案被接受。', en: '' };
      I.twoLines(div, r.zh, I.sentence(body.detail) || r.en, 'summary');
      if (chosen.length === 1 && status !== 403) {
        markFiles([{ position: 0, status: 'refused', error: { code: body.error, message: body.detail } }]);
      }
    } else {
      I.twoLines(div, '上傳失敗（HTTP ' + status + '）。請再試一次，或分成較小的批次。',
        'The upload failed (HTTP ' + status + '). Try again, or upload fewer files at a time.', 'summary');
    }
    resultBox.appendChild(div);
    resultBox.hidden = false;
    resultBox.focus();
  }

  function showTooBig(names, limit) {
    /* checked here before sending: the server would stop the upload at the limit anyway (413) */
    while (resultBox.firstChild) { resultBox.removeChild(resultBox.firstChild); }
    var div = document.createElement('div');
    div.className = 'alert alert-bad';
    div.setAttribute('role', 'alert');
    var mib = (limit / 1048576).toFixed(1);
    I.twoLines(div, '檔案太大（每個檔案上限 ' + mib + ' MiB）：' + names.join('、') + '。請移除或分割後再上傳。',
      'Larger than the limit of ' + mib + ' MiB a file: ' + names.join(', ') + '. Remove or split them, then upload.',
      'summary');
    resultBox.appendChild(div);
    resultBox.hidden = false;
    resultBox.focus();
  }

  function send() {
    if (busy) { return; }
    if (!chosen.length) {
      progressBox.hidden = false;
      say('請先選擇要上傳的檔案', 'Choose the files to upload first.');
      input.focus();
      return;
    }
    var maxFile = parseInt(form.getAttribute('data-max-file-bytes') || '0', 10);
    var tooBig = [];
    for (var k = 0; k < chosen.length; k++) {
      if (maxFile && chosen[k].size > maxFile) {
        tooBig.push(chosen[k].name + ' (' + (chosen[k].size / 1048576).toFixed(1) + ' MiB)');
      }
    }
    if (tooBig.length) { showTooBig(tooBig, maxFile); return; }
    var data = new FormData();
    var total = 0;
    for (var i = 0; i < chosen.length; i++) { data.append('files', chosen[i], chosen[i].name); total += chosen[i].size; }
    setBusy(true);
    resultBox.hidden = true;
    progressBox.hidden = false;
    bar.max = 100;
    bar.value = 0;
    say('上傳中… 0%', 'Uploading… 0%');
    I.request('POST', form.getAttribute('data-api-url'), data, function (status, body) {
      if (status === 202 && body && body.id) {
        bar.value = 100;
        var refused = 0;
        for (var j = 0; j < body.files.length; j++) { if (body.files[j].status === 'refused') { refused++; } }
        if (!refused) {
          say('上傳完成，前往批次 #' + body.id + '…', 'Uploaded; opening batch ' + body.id + '…');
          window.location.href = '/batches/' + body.id;
          return;
        }
        markFiles(body.files);
        say('上傳完成', 'Uploaded.');
        busy = true;  /* this list is done: clear it to start another upload */
        clearButton.disabled = false;
        showResult(body, refused);
        return;
      }
      setBusy(false);
      if (status === 401) { window.location.href = '/login?next=/upload'; return; }
      say('上傳沒有完成', 'The upload did not go through.');
      showError(status, body);
    }, function (e) {
      if (!e.lengthComputable) { return; }
      var pct = Math.floor(e.loaded / e.total * 100);
      bar.value = pct;
      if (e.loaded >= e.total) {
        say('檔案已送出，伺服器正在檢查每個檔案…', 'Sent; the server is checking each file…');
      } else {
        say('已傳送 ' + I.humanSize(e.loaded) + ' / ' + I.humanSize(total) + '（' + pct + '%）',
          'Sent ' + I.humanSize(e.loaded) + ' of ' + I.humanSize(total) + ' (' + pct + '%)');
      }
    });
  }

  input.addEventListener('change', function () {
    addFiles(input.files);
    try { input.value = ''; } catch (e) { /* old browsers: the list keeps its own copy anyway */ }
  });
  list.addEventListener('click', function (e) {
    var t = e.target;
    while (t && t !== list && !(t.tagName === 'BUTTON' && t.className.indexOf('remove') >= 0)) { t = t.parentNode; }
    if (!t || t === list || busy) { return; }
    chosen.splice(parseInt(t.getAttribute('data-index'), 10), 1);
    render();
    (list.getElementsByTagName('button')[0] || input).focus();
  });
  clearButton.addEventListener('click', function () {
    chosen = [];
    setBusy(false);
    progressBox.hidden = true;
    resultBox.hidden = true;
    render();
    input.focus();
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    send();
  });

  if (canDrop) {
    var depth = 0;
    zone.addEventListener('dragenter', function (e) { e.preventDefault(); depth++; zone.className = 'dropzone dragging'; });
    zone.addEventListener('dragover', function (e) {
      e.preventDefault();
      if (e.dataTransfer) { e.dataTransfer.dropEffect = 'copy'; }
    });
    zone.addEventListener('dragleave', function () { depth = Math.max(0, depth - 1); if (!depth) { zone.className = 'dropzone'; } });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      e.stopPropagation();
      depth = 0;
      zone.className = 'dropzone';
      if (e.dataTransfer) { addFiles(e.dataTransfer.files); }
    });
    /* a file dropped beside the zone must not replace the page (and the list with it) */
    document.addEventListener('dragover', function (e) { e.preventDefault(); });
    document.addEventListener('drop', function (e) {
      e.preventDefault();
      if (e.dataTransfer) { addFiles(e.dataTransfer.files); }
    });
  }
  render();
}());
