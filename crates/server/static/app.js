// careslot: a little progressive enhancement. Every page works without it.
(function () {
  "use strict";

  // "Near me": fills the hidden lat/lon of a search form from the browser's position.
  document.querySelectorAll("[data-geo-form]").forEach(function (form) {
    var button = form.querySelector("[data-near-me]");
    if (!button || !("geolocation" in navigator)) return;
    var lat = form.querySelector("[data-geo-lat]");
    var lon = form.querySelector("[data-geo-lon]");
    var status = form.querySelector("[data-geo-status]");
    var where = form.querySelector("#where");
    button.hidden = false;
    button.addEventListener("click", function () {
      if (status) status.textContent = "…";
      navigator.geolocation.getCurrentPosition(function (pos) {
        lat.value = pos.coords.latitude.toFixed(5);
        lon.value = pos.coords.longitude.toFixed(5);
        if (where) where.value = "";
        if (status) status.textContent = "✓";
        if (where) form.submit();
      }, function () {
        if (status) status.textContent = "✗";
      }, { timeout: 10000, maximumAge: 600000 });
    });
    // Typing a place replaces a previous position.
    if (where) where.addEventListener("input", function () { lat.value = ""; lon.value = ""; });
  });

  // Copy buttons (the invitation link): shown only where the script runs; without it the
  // field stays selectable by hand.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector("[data-copy-status]");
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { if (status) status.textContent = button.getAttribute("data-copied-text") || "✓"; };
      field.select();
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(field.value).then(done, function () {
          if (document.execCommand("copy")) done();
        });
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });

  // The hold's countdown: minutes and seconds left, then the expiry text.
  document.querySelectorAll("[data-expires]").forEach(function (el) {
    var end = parseInt(el.getAttribute("data-expires"), 10) * 1000;
    var out = el.querySelector("[data-remaining]");
    if (!end || !out) return;
    function tick() {
      // Rounded up, as the expiry is: "lapsed" shows only once the server says so too.
      var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if (left === 0) {
        el.classList.add("expired");
        out.textContent = el.getAttribute("data-expired-text") || "";
        // No Confirm on a lapsed hold: the forms give way to the next times (the server
        // refuses a lapsed hold anyway and shows the same offer).
        document.querySelectorAll("[data-hold-forms]").forEach(function (f) { f.hidden = true; });
        document.querySelectorAll("[data-hold-lapsed]").forEach(function (n) { n.hidden = false; });
        return;
      }
      var m = Math.floor(left / 60), s = left % 60;
      out.textContent = "(" + m + ":" + (s < 10 ? "0" : "") + s + ")";
      setTimeout(tick, 1000);
    }
    tick();
  });

  // A result card's strip: "+N" shows all of a day's times and "Earlier/Later days" move
  // the three days, in place. The links work without this (the same search, with that card
  // moved or expanded); here the card's strip is taken from that page and swapped in.
  document.addEventListener("click", function (ev) {
    var link = ev.target instanceof Element ? ev.target.closest("a[data-strip-link]") : null;
    if (!link || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    var card = link.closest(".result[id]");
    var box = card && card.querySelector("[data-strip-box]");
    if (!box || !window.fetch || !window.DOMParser) return;
    ev.preventDefault();
    var expand = link.getAttribute("data-expand");
    var href = link.href;
    var strip = box.querySelector("[data-strip]");
    if (strip) strip.setAttribute("aria-busy", "true");
    fetch(href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (!res.ok) throw new Error(String(res.status));
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(card.id);
        var newBox = fresh && fresh.querySelector("[data-strip-box]");
        if (!newBox) throw new Error("no strip");
        var shown = expand ? box.querySelectorAll('[data-day="' + expand + '"] .slot').length : 0;
        box.replaceWith(newBox);
        var target = null;
        if (expand) {
          // The first time that was hidden behind "+N".
          target = newBox.querySelectorAll('[data-day="' + expand + '"] .slot')[shown];
        }
        target = target || newBox.querySelector("[data-strip]");
        if (target) target.focus();
      })
      .catch(function () { window.location.href = href; });
  });

  // Selecting a relative's name field picks "new relative".
  var newRelative = document.getElementById("for-new");
  var relName = document.getElementById("relative_name");
  if (newRelative && relName) relName.addEventListener("input", function () { newRelative.checked = true; });
})();
