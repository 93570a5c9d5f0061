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
  // The outbox keeps every report until the server has it (IndexedDB), under a key made when the report is
  // made: a retry after a lost answer reuses it, so the server records the report once.
  var outbox = window.PlanmapOutbox;
  var pendingKey = null;
  var baseEtag = form.getAttribute("data-etag") || null;
  outbox.setMeta("csrf", csrf);  // this page's session token: what queued reports are sent with

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

  function reportFields() {
    var fields = {};
    var names = water ? ["DO", "CODMn", "NH3N", "TP", "date", "note"] : ["status", "percent", "investment_done_wan", "date", "note"];
    names.forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field && field.value !== "") fields[name] = field.value;
    });
    return fields;
  }

  /* A new outbox record: its key and capture time are fixed now, its photo downscaled on the phone. */
  function newRecord() {
    var photo = form.elements.namedItem("photo");
    var file = photo && photo.files && photo.files.length ? photo.files[0] : null;
    return outbox.downscale(file).then(function (blob) {
      return {
        key: outbox.newKey(),
        layer: form.getAttribute("data-layer"),
        featureId: form.getAttribute("data-feature"),
        name: form.getAttribute("data-name"),
        itemUrl: itemUrl,
        etag: baseEtag,
        fields: reportFields(),
        photo: blob,
        photoName: file ? file.name.replace(/\.[^.]*$/, "") + ".jpg" : null,
        position: position ? { lon: position.longitude, lat: position.latitude, accuracy: position.accuracy } : null,
        capturedAt: new Date().toISOString(),
        createdAt: Date.now(),
        state: "queued"
      };
    });
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

  function answered(result) {
    var outcome = result.outcome;
    if (outcome === "sent") {
      pendingKey = null;
      baseEtag = result.etag || baseEtag;  // the next report on this page starts from the new version
      succeeded(result.body || {});
    } else if (outcome === "review") {
      pendingKey = null;
      pending();
    } else if (outcome === "gone") {
      pendingKey = null;
      show(msg.sent_before, true);
    } else if (outcome === "attention") {
      pendingKey = null;
      show(msg.attention, false);
    } else if (outcome === "login") {
      show(msg.e401, false);
    } else if (outcome === "refused") {
      pendingKey = null;
      outbox.remove(result.record.key);  // refused as it stands: the user fixes the form and sends again
      show(errorText(result.status, result.body), false);
    } else {
      show(result.status ? errorText(result.status, null) + " " + msg.queued : msg.queued, false);
    }
  }

  function submit(event) {
    event.preventDefault();
    button.disabled = true;
    show(msg.sending, true);
    // The same report tapped again (unchanged form) is the same outbox record: same key, never a second report.
    var ready = pendingKey ? Promise.resolve(pendingKey) : newRecord().then(function (rec) {
      return outbox.add(rec).then(function () { return rec.key; });
    });
    ready.then(function (key) {
      pendingKey = key;
      return outbox.send(key);
    }).then(answered).catch(function () { show(msg.queued, false); })
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
