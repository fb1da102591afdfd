// The desk's time grid: drag an appointment to another time of its agenda, or its bottom
// edge to another end (pointer events, so mouse, pen and touch alike), confirm in a modal
// dialog, and the page's own move or length form does the rest (same service, same rules as
// the "Move…" and "Change length…" pages). Also: the phone's column picker without a
// reload, and the current-time line kept up to date.
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
    var resize = !!e.target.closest('.tg-resize');
    drag = { item: item, x: e.clientX, y: e.clientY, on: false, resize: resize };
  });

  /** The length (minutes) the resize handle at `y` gives: whole rows, 5 minutes at least. */
  function lengthAt(d, y) {
    var body = d.item.closest('.tg-body');
    var rect = body.getBoundingClientRect();
    var row = Math.max(0, Math.round((y - rect.top) / rowHeight(body)));
    var end = Math.min(windowStart + row * ROW_MIN, 24 * 60);
    var t = d.item.dataset.time.split(':');
    var start = parseInt(t[0], 10) * 60 + parseInt(t[1], 10);
    return { body: body, minutes: Math.max(ROW_MIN, end - start) };
  }
  function hhmm(min) { return pad(Math.floor(min / 60) % 24) + ':' + pad(min % 60); }
  function endOf(item, minutes) {
    var t = item.dataset.time.split(':');
    return hhmm(parseInt(t[0], 10) * 60 + parseInt(t[1], 10) + minutes);
  }

  document.addEventListener('pointermove', function (e) {
    if (!drag) return;
    if (!drag.on) {
      if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) < (drag.resize ? 3 : 8)) return;
      drag.on = true;
      drag.item.classList.add(drag.resize ? 'resizing' : 'dragging');
    }
    e.preventDefault();
    clearTargets();
    if (drag.resize) {
      var l = lengthAt(drag, e.clientY);
      showGhost(l.body, e.clientY, endOf(drag.item, l.minutes) + ' · ' + l.minutes + ' min');
      return;
    }
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
    d.item.classList.remove('dragging', 'resizing');
    clearTargets();
    if (d.resize) {
      var minutes = lengthAt(d, e.clientY).minutes;
      if (String(minutes) !== d.item.dataset.minutes) confirmResize(d.item, minutes);
      return;
    }
    var body = bodyAt(e.clientX, e.clientY);
    if (!body) return;
    if (body.dataset.agenda !== d.item.dataset.agenda) { say(grid.dataset.otherAgenda); return; }
    var time = timeAt(body, e.clientX, e.clientY);
    if (body.dataset.date === d.item.dataset.date && time === d.item.dataset.time) return;
    confirmMove(d.item, body.dataset.date, time);
  });
  document.addEventListener('pointercancel', function () {
    if (drag) { drag.item.classList.remove('dragging', 'resizing'); drag = null; clearTargets(); }
  });
  grid.addEventListener('click', function (e) {
    if (swallowClick) { e.preventDefault(); e.stopPropagation(); }
  }, true);

  // --- the confirmation -----------------------------------------------------------------------
  var returnTo = null;
  /** The dialog's title, button and text for a move or a resize. */
  function dialogFor(kind, text) {
    var h = document.getElementById('grid-confirm-h');
    var yes = document.getElementById('grid-confirm-yes');
    h.textContent = h.dataset[kind] || h.textContent;
    yes.textContent = yes.dataset[kind] || yes.textContent;
    document.getElementById('grid-confirm-text').textContent = text;
  }
  function labelOf(item) {
    var label = item.querySelector('.tg-label');
    return label ? label.textContent.trim() : '';
  }
  function confirmResize(item, minutes) {
    var link = item.querySelector('.tg-resize-link');
    if (!link) return;
    if (!dialog || typeof dialog.showModal !== 'function') {
      // No dialog element: the Change length… page asks instead, prefilled.
      window.location.href = link.href + '&minutes=' + minutes;
      return;
    }
    var text = document.getElementById('grid-confirm-text');
    dialogFor('resize', (text.dataset.resize || '')
      .replace('{who}', labelOf(item))
      .replace('{minutes}', String(minutes))
      .replace('{end}', endOf(item, minutes)));
    form.action = '/pro/grid/resize/' + encodeURIComponent(item.dataset.id);
    form.elements.minutes.value = String(minutes);
    openDialog(link);
  }
  function confirmMove(item, date, time) {
    if (!dialog || typeof dialog.showModal !== 'function') {
      // No dialog element: the Move… page asks instead, prefilled.
      var link = item.querySelector('.tg-move');
      if (link) window.location.href = link.href + '&date=' + date + '&time=' + encodeURIComponent(time);
      return;
    }
    var text = document.getElementById('grid-confirm-text');
    dialogFor('move', (text.dataset.template || '')
      .replace('{who}', labelOf(item))
      .replace('{date}', new Date(date + 'T12:00:00').toLocaleDateString(document.documentElement.lang, { weekday: 'long', day: 'numeric', month: 'long' }))
      .replace('{time}', time));
    form.action = '/pro/grid/move/' + encodeURIComponent(item.dataset.id);
    form.elements.date.value = date;
    form.elements.time.value = time;
    openDialog(item.querySelector('.tg-move') || item.querySelector('a'));
  }
  function openDialog(back) {
    returnTo = back;
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
