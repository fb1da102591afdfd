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

  // The hold's countdown: minutes and seconds left, then the expiry text.
  document.querySelectorAll("[data-expires]").forEach(function (el) {
    var end = parseInt(el.getAttribute("data-expires"), 10) * 1000;
    var out = el.querySelector("[data-remaining]");
    if (!end || !out) return;
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
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

  // Selecting a relative's name field picks "new relative".
  var newRelative = document.getElementById("for-new");
  var relName = document.getElementById("relative_name");
  if (newRelative && relName) relName.addEventListener("input", function () { newRelative.checked = true; });
})();
