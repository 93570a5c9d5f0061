/* planmap field report form: read the item's ETag, then POST the report with If-Match, signed in by the
   session cookie and carrying the session's CSRF token (the page holds it; no token is kept in the browser). */
(function () {
  "use strict";
  var form = document.getElementById("pm-report-form");
  var csrf = form.getAttribute("data-csrf");
  var result = document.getElementById("pm-result");
  var button = document.getElementById("pm-submit");
  var msg = JSON.parse(document.getElementById("pm-report-messages").textContent);
  var itemUrl = form.getAttribute("data-item");
  var water = form.getAttribute("data-water") === "true";

  try { window.localStorage.removeItem("planmap.token"); } catch (e) { /* storage off */ }

  // The phone's position goes with the report as evidence; a report made without a fix is still accepted.
  var position = null;
  if (navigator.geolocation) {
    navigator.geolocation.getCurrentPosition(function (pos) { position = pos.coords; },
      function () { position = null; }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  // One key per report: a retry after a lost answer reuses it, so the server records the report once.
  var pendingKey = null;
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function show(text, ok) {
    result.textContent = text;
    result.className = "pm-result " + (ok ? "pm-ok" : "pm-error");
  }

  function errorText(status, body) {
    var key = { 400: "e400", 401: "e401", 403: "e403", 404: "e404", 412: "e412", 413: "e413", 428: "e428" }[status];
    var detail = body && body.description ? body.description : "";
    if (status === 400 || !key) return (key ? msg[key] : msg.eother) + detail;
    return msg[key] + (detail ? " (" + detail + ")" : "");
  }

  function readJson(response) {
    return response.json().catch(function () { return null; });
  }

  function failed(response) {
    return readJson(response).then(function (body) { throw { status: response.status, body: body }; });
  }

  function reportBody() {
    var data = new FormData();
    var names = water ? ["DO", "CODMn", "NH3N", "TP", "date", "note"] : ["status", "percent", "investment_done_wan", "date", "note"];
    names.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && field.value !== "") data.append(name, field.value);
    });
    var photo = form.elements.namedItem("photo");
    if (photo && photo.files && photo.files.length) data.append("photo", photo.files[0]);
    if (position) {
      data.append("position_lon", position.longitude.toFixed(7));
      data.append("position_lat", position.latitude.toFixed(7));
      if (position.accuracy) data.append("position_accuracy_m", position.accuracy.toFixed(1));
    }
    return data;
  }

  function succeeded(feature) {
    var p = feature.properties || {};
    var label = msg.statuses[p.status] || p.status || "—";
    var pct = p.progress_pct === null || p.progress_pct === undefined ? "—" : String(p.progress_pct);
    document.getElementById("pm-current-status").textContent = label;
    document.getElementById("pm-current-percent").textContent = pct;
    show(msg.ok + ":" + msg.now + " " + label + "," + msg.progress + " " + pct + "%", true);
  }

  function pending() {
    var state = document.getElementById("pm-review-state");
    var label = document.getElementById("pm-review-status");
    if (state && label) {
      label.textContent = msg.pending;
      label.className = "";
      state.hidden = false;
    }
    show(msg.pending + ":" + msg.pending_note, true);
  }

  function submit(event) {
    event.preventDefault();
    button.disabled = true;
    show(msg.sending, true);
    var body = reportBody();
    pendingKey = pendingKey || newKey();
    fetch(itemUrl, { headers: { "Accept": "application/geo+json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) return failed(response);
        var etag = response.headers.get("ETag") || "";
        return fetch(itemUrl + "/progress", {
          method: "POST",
          headers: { "X-CSRF-Token": csrf, "If-Match": etag, "Idempotency-Key": pendingKey },
          credentials: "same-origin",
          body: body
        });
      })
      .then(function (response) {
        if (!response.ok) return failed(response);
        pendingKey = null;  // recorded: the next report gets its own key
        if (response.status === 202) return response.json().then(pending);
        return response.json().then(succeeded);
      })
      .catch(function (error) {
        if (error && error.status) show(errorText(error.status, error.body), false);
        else show(msg.enet, false);
      })
      .then(function () { button.disabled = false; });
  }

  form.addEventListener("submit", submit);
  // An edited report is another report: it must not reuse the key of the one that may have been recorded.
  form.addEventListener("input", function () { pendingKey = null; });
  form.addEventListener("change", function () { pendingKey = null; });
  var status = form.elements.namedItem("status");
  var percent = form.elements.namedItem("percent");
  if (status && percent) {
    status.addEventListener("change", function () {
      if (status.value === "completed") percent.value = "100";
      else if (status.value === "planned") percent.value = "0";
    });
  }
})();
