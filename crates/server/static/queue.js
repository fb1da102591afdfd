// careslot waiting room: asks where the visitor's ticket stands (the ticket is in an
// HttpOnly cookie that the request carries), shows the new place and wait, and reloads the
// page once admitted: the server then sends the visitor on. Without JavaScript the page
// refreshes itself instead.
(function () {
  "use strict";
  var box = document.querySelector("[data-queue]");
  if (!box || !window.fetch) return;
  var position = box.querySelector("[data-queue-position]");
  var eta = box.querySelector("[data-queue-eta]");
  var soon = box.getAttribute("data-eta-soon") || "";
  var minutes = box.getAttribute("data-eta-minutes") || "{min}";
  var delay = parseInt(box.getAttribute("data-poll-ms"), 10) || 2000;

  function show(s) {
    if (position) position.textContent = String(s.position);
    if (eta) eta.textContent = s.eta_s < 60 ? soon : minutes.replace("{min}", String(Math.ceil(s.eta_s / 60)));
  }

  function poll() {
    fetch("/api/v1/queue/status", { credentials: "same-origin", cache: "no-store", headers: { accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (s) {
        if (s.admitted) {
          window.location.reload();
          return;
        }
        show(s);
        delay = Math.max(500, s.poll_after_ms || 2000);
        setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(30000, delay * 2);
        setTimeout(poll, delay);
      });
  }

  setTimeout(poll, delay);
})();
