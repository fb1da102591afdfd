// The map of search results (issue 17 point 2): this page's results as markers whose popups
// link to the practitioner. The list stays the page; the map is an extra view, shown on
// demand. Leaflet (vendored, ~150 KB) is fetched on the first opening only, and the tiles
// come from the configured server: without either, nothing here changes the list.
(function () {
  'use strict';
  var box = document.querySelector('[data-map]');
  if (!box) return;
  var toggle = box.querySelector('[data-map-toggle]');
  var canvas = box.querySelector('[data-map-canvas]');
  if (!toggle || !canvas) return;
  var map = null;
  var loading = null;

  // Leaflet's stylesheet and script, once.
  function loadLeaflet() {
    if (window.L) return Promise.resolve();
    if (loading) return loading;
    loading = new Promise(function (resolve, reject) {
      var css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = box.dataset.leafletCss;
      document.head.appendChild(css);
      var js = document.createElement('script');
      js.src = box.dataset.leafletJs;
      js.onload = function () { resolve(); };
      js.onerror = function () { loading = null; reject(new Error('leaflet')); };
      document.head.appendChild(js);
    });
    return loading;
  }

  function escapeHtml(text) {
    var span = document.createElement('span');
    span.textContent = text || '';
    return span.innerHTML;
  }

  function build() {
    // No fading: a popup is legible (and checkable) the moment it opens.
    map = window.L.map(canvas, { scrollWheelZoom: false, fadeAnimation: false });
    window.L.tileLayer(box.dataset.tiles, {
      maxZoom: 19,
      attribution: escapeHtml(box.dataset.attribution)
    }).addTo(map);
    var points = [];
    document.querySelectorAll('.results [data-lat]').forEach(function (card) {
      var lat = parseFloat(card.dataset.lat);
      var lon = parseFloat(card.dataset.lon);
      var link = card.querySelector('.result-name');
      if (!isFinite(lat) || !isFinite(lon) || !link) return;
      var name = link.textContent;
      var popup = document.createElement('a');
      popup.href = link.getAttribute('href');
      popup.textContent = name;
      window.L.marker([lat, lon], { title: name, alt: name, keyboard: true })
        .bindPopup(popup)
        .addTo(map);
      points.push([lat, lon]);
    });
    if (points.length) {
      map.fitBounds(points, { padding: [24, 24], maxZoom: 15 });
    } else {
      map.setView([46.6, 2.4], 5);
    }
  }

  toggle.addEventListener('click', function () {
    var open = canvas.hidden;
    canvas.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    toggle.textContent = open ? toggle.dataset.hide : toggle.dataset.show;
    if (!open) return;
    if (map) {
      map.invalidateSize();
      return;
    }
    loadLeaflet().then(function () {
      if (!map) build();
    }, function () {
      canvas.hidden = true;
      toggle.setAttribute('aria-expanded', 'false');
      toggle.textContent = toggle.dataset.show;
    });
  });
  box.hidden = false;
})();
