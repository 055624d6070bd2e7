/* Placement page: click the four corners of a page the pipeline could not line up. The form
   posts the chosen template page and, once four points are set, the points as fractions of the
   scan's width and height ("x,y x,y x,y x,y"), clockwise from the form's top-left. A guide (the
   blank form page) marks the corner to click next. Keyboard: focus the scan, move the cross-hair
   with the arrow keys (Shift: finer steps), Enter or Space sets a point, Backspace undoes.
   Without this script the page still works as a plain form (the template picker). ES5. */
(function () {
  'use strict';
  var root = document.getElementById('place');
  var pad = document.getElementById('corner-pad');
  var scan = document.getElementById('scan');
  if (!root || !pad || !scan || !window.JSON) { return; }
  var data = JSON.parse(document.getElementById('place-data').textContent);
  var select = document.getElementById('target');
  var pointsInput = document.getElementById('points');
  var readPoints = document.getElementById('read-points');
  var nextText = document.getElementById('next-point');
  var guide = document.getElementById('guide');
  var guideImage = document.getElementById('guide-image');
  var ZH = ['左上', '右上', '右下', '左下'];
  var EN = ['top-left', 'top-right', 'bottom-right', 'bottom-left'];
  var START = [[0.06, 0.05], [0.94, 0.05], [0.94, 0.95], [0.06, 0.95]];  /* where the cross-hair starts */
  var points = [];
  var cursor = null;
  var SVGNS = 'http://www.w3.org/2000/svg';

  function el(tag, cls, txt) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (txt !== undefined && txt !== null) { e.appendChild(document.createTextNode(txt)); }
    return e;
  }
  function en(txt) { var s = el('span', '', txt); s.setAttribute('lang', 'en'); return s; }
  function clamp(v) { return Math.max(0, Math.min(1, v)); }
  function target() { return data.targets[select.value] || null; }
  function kindWords(t) {
    return t && t.points_kind === 'corners' ? ['紙張的角', 'corner of the paper'] : ['定位方塊', 'registration square'];
  }
  function place(node, x, y) { node.style.left = (x * 100) + '%'; node.style.top = (y * 100) + '%'; }

  /* ---------------------------------------------------------------- drawing */
  var layer = el('div', 'point-layer');
  var svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('class', 'point-lines');
  svg.setAttribute('viewBox', '0 0 1000 1000');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('aria-hidden', 'true');
  var poly = document.createElementNS(SVGNS, 'polygon');
  svg.appendChild(poly);
  layer.appendChild(svg);
  var cross = el('span', 'cross-hair');
  cross.setAttribute('aria-hidden', 'true');
  cross.hidden = true;
  layer.appendChild(cross);
  pad.appendChild(layer);

  function draw() {
    var old = layer.getElementsByClassName ? layer.getElementsByClassName('point-marker') : [];
    for (var k = old.length - 1; k >= 0; k--) { layer.removeChild(old[k]); }
    var coords = [];
    for (var i = 0; i < points.length; i++) {
      var m = el('span', 'point-marker', String(i + 1));
      m.setAttribute('aria-hidden', 'true');
      m.setAttribute('data-point', String(i + 1));
      place(m, points[i][0], points[i][1]);
      layer.appendChild(m);
      coords.push(Math.round(points[i][0] * 1000) + ',' + Math.round(points[i][1] * 1000));
    }
    poly.setAttribute('points', coords.join(' '));
    poly.setAttribute('class', points.length === 4 ? 'closed' : 'open');
    pointsInput.value = points.length === 4 ? points.map(function (p) {
      return p[0].toFixed(6) + ',' + p[1].toFixed(6);
    }).join(' ') : '';
    readPoints.disabled = points.length !== 4;
    root.setAttribute('data-points', String(points.length));
    drawGuide();
    say();
  }

  function drawGuide() {
    var t = target();
    var old = guide.getElementsByClassName ? guide.getElementsByClassName('guide-mark') : [];
    for (var k = old.length - 1; k >= 0; k--) { guide.removeChild(old[k]); }
    if (!t) { return; }
    for (var i = 0; i < 4; i++) {
      var m = el('span', 'guide-mark' + (i === points.length ? ' next' : (i < points.length ? ' done' : '')),
                 String(i + 1));
      m.setAttribute('aria-hidden', 'true');
      place(m, t.points_mm[i][0] / t.page_size_mm[0], t.points_mm[i][1] / t.page_size_mm[1]);
      guide.appendChild(m);
    }
  }

  function say() {
    while (nextText.firstChild) { nextText.removeChild(nextText.firstChild); }
    var w = kindWords(target());
    if (points.length < 4) {
      var n = points.length;
      nextText.appendChild(el('strong', '', '下一點：' + (n + 1) + ' ' + ZH[n] + '的' + w[0] + ' '));
      nextText.appendChild(en('Next: ' + (n + 1) + ', the ' + EN[n] + ' ' + w[1] + ' of the form'));
    } else {
      nextText.appendChild(el('strong', '', '四點都已點選，可以用它們讀取。 '));
      nextText.appendChild(en('All four points are set: read the page with them.'));
    }
  }

  /* ---------------------------------------------------------------- input */
  function add(x, y) {
    if (points.length >= 4) { return; }
    points.push([clamp(x), clamp(y)]);
    cursor = points.length < 4 ? START[points.length].slice() : cursor;
    showCursor();
    draw();
  }
  function undo() { if (points.length) { points.pop(); draw(); } }

  scan.addEventListener('click', function (e) {
    var r = scan.getBoundingClientRect();
    if (!r.width || !r.height) { return; }
    add((e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
  });

  function showCursor() {
    if (!cursor || document.activeElement !== pad) { cross.hidden = true; return; }
    cross.hidden = false;
    place(cross, cursor[0], cursor[1]);
  }
  pad.setAttribute('tabindex', '0');
  pad.setAttribute('role', 'group');
  pad.setAttribute('aria-describedby', 'corner-help next-point');
  pad.setAttribute('aria-label', '掃描的頁面：點選四個角 The scanned page: set its four corners');
  pad.addEventListener('focus', function () {
    if (!cursor) { cursor = START[Math.min(points.length, 3)].slice(); }
    showCursor();
  });
  pad.addEventListener('blur', function () { cross.hidden = true; });
  pad.addEventListener('keydown', function (e) {
    var key = e.key || '';
    var code = e.keyCode;
    var step = e.shiftKey ? 0.001 : 0.005;
    var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step],
                  Left: [-step, 0], Right: [step, 0], Up: [0, -step], Down: [0, step] };
    var byCode = { 37: [-step, 0], 39: [step, 0], 38: [0, -step], 40: [0, step] };
    var mv = moves[key] || byCode[code];
    if (mv) {
      cursor = cursor || START[Math.min(points.length, 3)].slice();
      cursor = [clamp(cursor[0] + mv[0]), clamp(cursor[1] + mv[1])];
      showCursor();
      e.preventDefault();
    } else if (key === 'Enter' || key === ' ' || key === 'Spacebar' || code === 13 || code === 32) {
      if (cursor) { add(cursor[0], cursor[1]); }
      e.preventDefault();
    } else if (key === 'Backspace' || key === 'Delete' || code === 8 || code === 46) {
      undo();
      e.preventDefault();
    }
  });

  document.getElementById('undo-point').addEventListener('click', undo);
  document.getElementById('clear-points').addEventListener('click', function () { points = []; draw(); });
  select.addEventListener('change', function () {
    var opt = select.options[select.selectedIndex];
    if (opt && opt.getAttribute('data-image')) { guideImage.src = opt.getAttribute('data-image'); }
    draw();
  });
  document.getElementById('place-form').addEventListener('submit', function (e) {
    var button = e.submitter || document.activeElement;
    if (button && button.value === 'points' && points.length !== 4) { e.preventDefault(); }
  });

  if (data.points && data.points.length === 4) {  /* the clicks given last time */
    for (var i = 0; i < 4; i++) { points.push([data.points[i][0], data.points[i][1]]); }
  }
  document.getElementById('corners').hidden = false;
  pad.className += ' active';
  draw();
}());
