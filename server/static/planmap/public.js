/* planmap public project page: the project's place on planmap's own basemap (no other site is contacted). */
(function () {
  "use strict";
  var holder = document.getElementById("pm-public-map");
  var geometry = JSON.parse(document.getElementById("pm-public-geometry").textContent);
  document.querySelectorAll(".pm-swatch").forEach(function (el) {
    el.style.backgroundColor = el.getAttribute("data-color");
  });
  if (!holder || !geometry || !geometry.type) return;
  var map = L.map(holder, { scrollWheelZoom: false, attributionControl: false });
  L.tileLayer("/basemap/{z}/{x}/{y}.png", { maxZoom: 18 }).addTo(map);
  var shape = L.geoJSON(geometry, {
    style: function () { return { color: "#b91c1c", weight: 3, fillOpacity: 0.25 }; },
    pointToLayer: function (feature, latlng) { return L.circleMarker(latlng, { radius: 8, color: "#b91c1c" }); }
  }).addTo(map);
  var bounds = shape.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { maxZoom: 15, padding: [20, 20] });
})();
