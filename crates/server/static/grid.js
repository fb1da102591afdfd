// The desk's time grid: drag an appointment to another time of its agenda (pointer events,
// so mouse, pen and touch alike), confirm in a modal dialog, and the page's own move form
// does the rest (same service, same rules as the "Move…" page). Also: the phone's column
// picker without a reload, and the current-time line kept up to date.
(function () {
  'use strict';
  var grid = document.getElementById('grid');
  if (!grid) return;
  var dialog = document.getElementById('grid-confirm');
  var form = document.getElementById('grid-confirm-form');
  var live = document.getElementById('grid-live');
  var windowStart = parseInt(grid.dataset.windowStart, 10) || 0;
  var ROW_MIN = 5;

  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function say(text) { if (live) { live.textContent = ''; live.textContent = text; } }

  // --- phone: one column at a time, picked without a reload --------------------------------
  var pick = document.getElementById('grid-col');
  if (pick) {
    var pickButton = pick.form && pick.form.querySelector('button[type=submit]');
    if (pickButton) pickButton.hidden = true;
    pick.addEventListener('change', function () {
      grid.querySelectorAll('.tg-col').forEach(function (c) {
        c.classList.toggle('shown', c.dataset.col === pick.value);
      });
      var here = new URL(window.location.href);
      here.searchParams.set('col', pick.value);
      window.history.replaceState(null, '', here);
    });
  }

  // --- the current-time line ------------------------------------------------------------------
  function nowIn(zone) {
    var parts = {};
    new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date())
      .forEach(function (p) { parts[p.type] = p.value; });
    return { date: parts.year + '-' + parts.month + '-' + parts.day, min: parseInt(parts.hour, 10) * 60 + parseInt(parts.minute, 10),
      hhmm: parts.hour + ':' + parts.minute };
  }
  function tick() {
    grid.querySelectorAll('.tg-col .tg-body').forEach(function (body) {
      var now;
      try { now = nowIn(body.dataset.zone); } catch (e) { return; }
      var line = body.querySelector('.tg-now');
      var lastRow = 0;
      body.querySelectorAll('.tg-line').forEach(function (l) {
        var m = /ge-(\d+)/.exec(l.className); if (m) lastRow = Math.max(lastRow, parseInt(m[1], 10));
      });
      var row = 1 + Math.floor((now.min - windowStart) / ROW_MIN);
      var show = body.dataset.date === now.date && row >= 1 && row < lastRow;
      if (!show) { if (line) line.remove(); return; }
      if (!line) {
        line = document.createElement('li');
        line.className = 'tg-now';
        line.innerHTML = '<span class="tg-now-label"></span>';
        body.appendChild(line);
      }
      line.className = line.className.replace(/\bgs-\d+\b/g, '').trim() + ' gs-' + row;
      line.firstChild.textContent = (grid.dataset.now || '{time}').replace('{time}', now.hhmm);
    });
  }
  window.setInterval(tick, 60000);

  // --- drag and drop ------------------------------------------------------------------------
  var drag = null;
  var swallowClick = false;

  function rowHeight(body) {
    var h = parseFloat(window.getComputedStyle(body).gridAutoRows);
    return h > 0 ? h : 8.8;
  }
  function bodyAt(x, y) {
    var el = document.elementFromPoint(x, y);
    return el ? el.closest('.tg-col .tg-body') : null;
  }
  function timeAt(body, x, y) {
    var el = document.elementFromPoint(x, y);
    var free = el && el.closest('.tg-item.free');
    if (free && body.contains(free)) return free.dataset.time;
    var rect = body.getBoundingClientRect();
    var row = Math.max(0, Math.floor((y - rect.top) / rowHeight(body)));
    var min = Math.min(windowStart + row * ROW_MIN, 24 * 60 - ROW_MIN);
    return pad(Math.floor(min / 60)) + ':' + pad(min % 60);
  }
  function clearTargets() {
    grid.querySelectorAll('.drop-target, .drop-refused').forEach(function (b) {
      b.classList.remove('drop-target', 'drop-refused');
    });
    var ghost = grid.querySelector('.tg-ghost');
    if (ghost) ghost.remove();
  }
  function showGhost(body, y, time) {
    var ghost = grid.querySelector('.tg-ghost');
    if (!ghost || ghost.parentNode !== body) {
      if (ghost) ghost.remove();
      ghost = document.createElement('div');
      ghost.className = 'tg-ghost';
      ghost.setAttribute('aria-hidden', 'true');
      body.appendChild(ghost);
    }
    var rect = body.getBoundingClientRect();
    ghost.style.top = Math.max(0, y - rect.top) + 'px';
    ghost.textContent = time;
  }

  grid.addEventListener('dragstart', function (e) { if (e.target.closest && e.target.closest('.tg-item[data-id]')) e.preventDefault(); });
  grid.addEventListener('pointerdown', function (e) {
    var item = e.target.closest('.tg-item[data-id]');
    if (!item || e.button !== 0) return;
    drag = { item: item, x: e.clientX, y: e.clientY, on: false };
  });
  document.addEventListener('pointermove', function (e) {
    if (!drag) return;
    if (!drag.on) {
      if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) < 8) return;
      drag.on = true;
      drag.item.classList.add('dragging');
    }
    e.preventDefault();
    clearTargets();
    var body = bodyAt(e.clientX, e.clientY);
    if (!body) return;
    if (body.dataset.agenda !== drag.item.dataset.agenda) { body.classList.add('drop-refused'); return; }
    body.classList.add('drop-target');
    showGhost(body, e.clientY, body.dataset.date + ' ' + timeAt(body, e.clientX, e.clientY));
  });
  document.addEventListener('pointerup', function (e) {
    if (!drag) return;
    var d = drag;
    drag = null;
    if (!d.on) return;
    swallowClick = true;
    window.setTimeout(function () { swallowClick = false; }, 0);
    d.item.classList.remove('dragging');
    clearTargets();
    var body = bodyAt(e.clientX, e.clientY);
    if (!body) return;
    if (body.dataset.agenda !== d.item.dataset.agenda) { say(grid.dataset.otherAgenda); return; }
    var time = timeAt(body, e.clientX, e.clientY);
    if (body.dataset.date === d.item.dataset.date && time === d.item.dataset.time) return;
    confirmMove(d.item, body.dataset.date, time);
  });
  document.addEventListener('pointercancel', function () {
    if (drag) { drag.item.classList.remove('dragging'); drag = null; clearTargets(); }
  });
  grid.addEventListener('click', function (e) {
    if (swallowClick) { e.preventDefault(); e.stopPropagation(); }
  }, true);

  // --- the confirmation -----------------------------------------------------------------------
  var returnTo = null;
  function confirmMove(item, date, time) {
    if (!dialog || typeof dialog.showModal !== 'function') {
      // No dialog element: the Move… page asks instead, prefilled.
      var link = item.querySelector('.tg-move');
      if (link) window.location.href = link.href + '&date=' + date + '&time=' + encodeURIComponent(time);
      return;
    }
    var label = item.querySelector('.tg-label');
    var text = document.getElementById('grid-confirm-text');
    text.textContent = (text.dataset.template || '')
      .replace('{who}', label ? label.textContent.trim() : '')
      .replace('{date}', new Date(date + 'T12:00:00').toLocaleDateString(document.documentElement.lang, { weekday: 'long', day: 'numeric', month: 'long' }))
      .replace('{time}', time);
    form.action = '/pro/grid/move/' + encodeURIComponent(item.dataset.id);
    form.elements.date.value = date;
    form.elements.time.value = time;
    returnTo = item.querySelector('.tg-move') || item.querySelector('a');
    // Focused before the dialog opens, so the dialog's own closing (Escape, "No", the form)
    // gives it the focus back at once: the 'close' event comes later, in a task of its own.
    if (returnTo) returnTo.focus({ preventScroll: true });
    dialog.showModal();
    document.getElementById('grid-confirm-yes').focus();
  }
  if (dialog) {
    document.getElementById('grid-confirm-no').addEventListener('click', function () { dialog.close(); });
    // Browsers that do not give the focus back themselves.
    dialog.addEventListener('close', function () {
      if (returnTo && document.activeElement !== returnTo) returnTo.focus();
    });
    // Tab stays in the dialog (the page behind is inert; this keeps it off the browser's UI).
    dialog.addEventListener('keydown', function (e) {
      if (e.key !== 'Tab') return;
      var f = dialog.querySelectorAll('button');
      var first = f[0], last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    });
  }
})();
