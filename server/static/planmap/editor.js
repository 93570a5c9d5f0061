/* planmap project editor: draw or reshape an outline with Leaflet-Geoman, edit attributes, save through
   OGC API Features Part 4 (POST for a new project, PATCH with If-Match for an existing one). */
(function () {
  "use strict";
  var TOKEN_KEY = "planmap.token";
  var cfg = JSON.parse(document.getElementById("pm-edit-config").textContent);
  var T = cfg.text;
  var form = document.getElementById("pm-edit-form");
  var tokenInput = document.getElementById("pm-token");
  var result = document.getElementById("pm-result");
  var mode = document.getElementById("pm-mode");
  var deleteButton = document.getElementById("pm-delete");
  var saveButton = document.getElementById("pm-save");

  var map = L.map("pm-map", { preferCanvas: false }).setView([27.83, 112.75], 10);
  var projects = L.featureGroup().addTo(map);
  var current = null; /* { id: string|null, etag: string|null, shape: L.Layer|null } */

  if (tokenInput) {
    try { tokenInput.value = window.localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { /* storage off */ }
  }

  function show(text, ok) {
    result.textContent = text;
    result.className = "pm-result " + (ok ? "pm-ok" : "pm-error");
  }

  function token() {
    if (!tokenInput) return "";
    var value = tokenInput.value.trim();
    try { window.localStorage.setItem(TOKEN_KEY, value); } catch (e) { /* storage off */ }
    return value;
  }

  function authHeaders(extra) {
    var headers = { "Accept": "application/geo+json" };
    if (cfg.csrf) {
      headers["X-CSRF-Token"] = cfg.csrf; /* the password session's cookie authorises, with its CSRF token */
    } else {
      var value = token();
      if (value) headers.Authorization = "Bearer " + value;
    }
    Object.keys(extra || {}).forEach(function (k) { headers[k] = extra[k]; });
    return headers;
  }

  function styleOf(feature) {
    var color = cfg.colors[(feature && feature.properties && feature.properties.status) || ""] || "#2563eb";
    return { color: color, weight: 2, fillOpacity: 0.25 };
  }

  function failure(response) {
    return response.json().catch(function () { return null; }).then(function (body) {
      var detail = body && body.description ? body.description : response.statusText;
      throw { status: response.status, message: T.refused + " (" + response.status + "): " + detail };
    });
  }

  function fillForm(props) {
    cfg.fields.forEach(function (field) {
      var input = form.elements.namedItem(field.name);
      if (!input) return;
      var value = props ? props[field.name] : null;
      if (field.kind === "checkbox") input.checked = value === true;
      else if (field.kind === "json") input.value = value === null || value === undefined ? "" : JSON.stringify(value);
      else input.value = value === null || value === undefined ? "" : String(value);
    });
  }

  function readForm(forPatch) {
    var props = {};
    cfg.fields.forEach(function (field) {
      var input = form.elements.namedItem(field.name);
      if (!input) return;
      var value;
      if (field.kind === "checkbox") value = input.checked;
      else if (input.value.trim() === "") value = null;
      else if (field.kind === "number") value = Number(input.value);
      else if (field.kind === "json") {
        try { value = JSON.parse(input.value); } catch (e) { value = input.value; }
      } else value = input.value.trim();
      if (value !== null || forPatch) props[field.name] = value;
    });
    return props;
  }

  function stopEditing() {
    if (current && current.shape && current.shape.pm) current.shape.pm.disable();
    map.pm.disableDraw();
  }

  function select(id, shape) {
    stopEditing();
    current = { id: id, etag: null, shape: shape };
    return fetch(cfg.items + "/" + encodeURIComponent(id), { headers: authHeaders(), cache: "no-store" })
      .then(function (response) { return response.ok ? response : failure(response); })
      .then(function (response) {
        current.etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (feature) {
        fillForm(feature.properties);
        mode.textContent = T.editing + ": " + (feature.properties.name || id) + " (" + id + ")";
        deleteButton.hidden = false;
        if (shape.pm) shape.pm.enable({ allowSelfIntersection: false });
        return feature;
      })
      .catch(function (error) { show(error.message || T.network, false); });
  }

  function addProject(feature) {
    var shape = L.geoJSON(feature, { style: styleOf }).getLayers()[0];
    if (!shape) return null;
    shape.featureId = feature.id;
    shape.bindTooltip(String(feature.properties.name || feature.id));
    shape.on("click", function () { select(feature.id, shape); });
    projects.addLayer(shape);
    return shape;
  }

  function loadProjects() {
    return fetch(cfg.items + "?limit=10000", { headers: authHeaders(), cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : failure(response); })
      .then(function (collection) {
        projects.clearLayers();
        collection.features.forEach(addProject);
      });
  }

  function startNew() {
    stopEditing();
    current = { id: null, etag: null, shape: null };
    fillForm(null);
    deleteButton.hidden = true;
    mode.textContent = T.creating;
    show("", true);
    map.pm.enableDraw(cfg.draw, { allowSelfIntersection: false, snappable: true });
  }

  map.on("pm:create", function (event) {
    if (current && current.shape) map.removeLayer(current.shape);
    current = current || { id: null, etag: null, shape: null };
    current.shape = event.layer;
    event.layer.pm.enable({ allowSelfIntersection: false });
    mode.textContent = T.creating + " · " + T.drawn;
  });

  function geometryOf(shape) {
    var geojson = shape.toGeoJSON();
    return geojson.type === "FeatureCollection" ? geojson.features[0].geometry : geojson.geometry;
  }

  function save(event) {
    event.preventDefault();
    if (!current || !current.shape) { show(T.no_geometry, false); return; }
    var creating = current.id === null;
    var body = { type: "Feature", geometry: geometryOf(current.shape), properties: readForm(!creating) };
    var url = creating ? cfg.items : cfg.items + "/" + encodeURIComponent(current.id);
    var headers = authHeaders({ "Content-Type": "application/geo+json" });
    if (!creating) headers["If-Match"] = current.etag || "";
    saveButton.disabled = true;
    show(T.saving, true);
    fetch(url, { method: creating ? "POST" : "PATCH", headers: headers, body: JSON.stringify(body) })
      .then(function (response) { return response.ok ? response : failure(response); })
      .then(function (response) {
        var etag = response.headers.get("ETag");
        return response.json().then(function (feature) {
          stopEditing();
          if (current.shape) map.removeLayer(current.shape);
          projects.eachLayer(function (layer) { if (layer.featureId === feature.id) projects.removeLayer(layer); });
          var shape = addProject(feature);
          current = { id: feature.id, etag: etag, shape: shape };
          fillForm(feature.properties);
          if (shape && shape.pm) shape.pm.enable({ allowSelfIntersection: false });
          deleteButton.hidden = false;
          mode.textContent = T.editing + ": " + (feature.properties.name || feature.id) + " (" + feature.id + ")";
          show(T.saved + ": " + feature.id, true);
        });
      })
      .catch(function (error) { show(error.message || T.network, false); })
      .then(function () { saveButton.disabled = false; });
  }

  function remove() {
    if (!current || !current.id || !window.confirm(T.confirm_delete)) return;
    var id = current.id;
    fetch(cfg.items + "/" + encodeURIComponent(id), { method: "DELETE", headers: authHeaders({ "If-Match": current.etag || "" }) })
      .then(function (response) { return response.ok ? response : failure(response); })
      .then(function () {
        stopEditing();
        if (current.shape) projects.removeLayer(current.shape);
        current = null;
        fillForm(null);
        deleteButton.hidden = true;
        mode.textContent = "";
        show(T.deleted + ": " + id, true);
      })
      .catch(function (error) { show(error.message || T.network, false); });
  }

  if (document.documentElement.lang.indexOf("zh") === 0) map.pm.setLang("zh");
  var outlinesLoaded = fetch(cfg.counties, { headers: { "Accept": "application/geo+json" } })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (collection) {
      if (!collection) return;
      var outlines = L.geoJSON(collection, {
        filter: function (f) { return f.properties.level === "county"; },
        style: { color: "#374151", weight: 1.5, dashArray: "4 4", fill: false },
        interactive: false,
        pmIgnore: true
      }).addTo(map);
      map.fitBounds(outlines.getBounds(), { animate: false });
    });
  var projectsLoaded = loadProjects().catch(function (error) { show(error.message || T.network, false); });

  document.getElementById("pm-new").addEventListener("click", startNew);
  form.addEventListener("submit", save);
  deleteButton.addEventListener("click", remove);
  window.pmEditor = {
    map: map, projects: projects, select: select, startNew: startNew, loaded: false,
    current: function () { return current; }
  };
  Promise.all([outlinesLoaded, projectsLoaded]).then(function () { window.pmEditor.loaded = true; });
})();
