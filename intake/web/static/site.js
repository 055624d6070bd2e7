/* Shared by every page. ES5 only (old devices): no arrow functions, no fetch, no template strings. */
(function () {
  'use strict';
  var root = document.documentElement;
  root.className += (root.className ? ' ' : '') + 'js';

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  /* <time datetime="ISO"> in the device's own time zone (the server writes UTC). */
  function localTimes(scope) {
    var times = (scope || document).getElementsByTagName('time');
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute('datetime'));
      if (isNaN(d.getTime())) { continue; }
      times[i].textContent = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
        pad(d.getHours()) + ':' + pad(d.getMinutes());
      times[i].title = times[i].getAttribute('datetime');
    }
  }

  /* The session's CSRF token (<meta name="csrf-token">): every change the pages' scripts send
     carries it as X-CSRF-Token (intake/auth/csrf.py). */
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }
  function protect(xhr, method) {
    if (method !== 'GET' && method !== 'HEAD') { xhr.setRequestHeader('X-CSRF-Token', csrfToken()); }
  }

  /* JSON request with the session cookie. cb(status, body or null). */
  function request(method, url, body, cb, onUploadProgress) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url, true);
    xhr.setRequestHeader('Accept', 'application/json');
    protect(xhr, method);
    if (onUploadProgress && xhr.upload) { xhr.upload.onprogress = onUploadProgress; }
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      var data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { data = null; }
      cb(xhr.status, data);
    };
    xhr.send(body || null);
    return xhr;
  }

  function humanSize(n) {  /* mirrors labels.human_size */
    if (n < 1024) { return n + ' B'; }
    if (n < 1024 * 1024) { return Math.round(n / 1024) + ' KB'; }
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  /* "the file is damaged" -> "The file is damaged." (mirrors labels.sentence) */
  function sentence(s) {
    s = (s || '').replace(/^\s+|\s+$/g, '');
    if (!s) { return ''; }
    if (/^[a-z]+(\s|$)/.test(s)) { s = s.charAt(0).toUpperCase() + s.slice(1); }  /* not "scan-2.pdf: ..." */
    return /[.!?。]$/.test(s) ? s : s + '.';
  }

  /* <p class=cls>zh</p><p lang=en>en</p>, as text nodes (never HTML from the server's data). */
  function twoLines(parent, zh, en, cls) {
    var a = document.createElement('p');
    a.className = cls || 'reason';
    a.appendChild(document.createTextNode(zh));
    parent.appendChild(a);
    if (en) {
      var b = document.createElement('p');
      b.className = (cls || 'reason') + '-en';
      b.setAttribute('lang', 'en');
      b.appendChild(document.createTextNode(en));
      parent.appendChild(b);
    }
  }

  localTimes(document);
  window.Intake = { request: request, csrfToken: csrfToken, protect: protect, humanSize: humanSize, sentence: sentence, twoLines: twoLines,
                    localTimes: localTimes };
}());
