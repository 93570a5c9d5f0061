/* planmap outbox: progress reports kept on the phone (IndexedDB) until the server has them, exactly once.

   Each report gets its own Idempotency-Key (a UUID) when it is made, and keeps it on every attempt, so a
   report whose answer was lost is replayed by the server, never recorded twice. It keeps the ETag of the
   version the reporter saw (If-Match); when the project moved meanwhile (412) it is sent again with the
   new ETag only if it does not take the project backwards, otherwise it waits in 需处理 for the user.
   Sent on load, on `online` and on a back-off timer (Background Sync is not available everywhere).
   Plain IndexedDB, no library: the few calls needed are wrapped below. */
(function () {
  "use strict";
  var DB_NAME = "planmap-field";
  var MAX_PX = 1600;
  var listeners = [];
  var flushing = null;
  var timer = null;
  var backoff = 5000;

  function openDb() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("outbox", { keyPath: "key" });
        req.result.createObjectStore("meta", { keyPath: "name" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function run(store, mode, action) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var req = action(tx.objectStore(store));
        tx.oncomplete = function () { db.close(); resolve(req ? req.result : undefined); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function all() {
    return run("outbox", "readonly", function (s) { return s.getAll(); }).then(function (rows) {
      return rows.sort(function (a, b) { return a.createdAt < b.createdAt ? -1 : 1; });
    });
  }
  function get(key) { return run("outbox", "readonly", function (s) { return s.get(key); }); }
  function put(rec) { return run("outbox", "readwrite", function (s) { return s.put(rec); }).then(changed); }
  function remove(key) { return run("outbox", "readwrite", function (s) { return s.delete(key); }).then(changed); }
  function getMeta(name) {
    return run("meta", "readonly", function (s) { return s.get(name); }).then(function (row) { return row ? row.value : null; });
  }
  function setMeta(name, value) { return run("meta", "readwrite", function (s) { return s.put({ name: name, value: value }); }); }

  function changed() {
    return all().then(function (rows) { listeners.forEach(function (cb) { cb(rows); }); });
  }

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  /* The photo's EXIF block (capture time, camera) is carried over to the smaller copy, with its
     orientation set to "upright" since the canvas has already turned the pixels. */
  function exifSegment(bytes) {
    if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
    var i = 2;
    while (i + 4 < bytes.length && bytes[i] === 0xff) {
      var marker = bytes[i + 1], len = (bytes[i + 2] << 8) | bytes[i + 3];
      if (marker === 0xe1 && bytes[i + 4] === 0x45 && bytes[i + 5] === 0x78) {
        var seg = bytes.slice(i, i + 2 + len);
        uprightOrientation(seg);
        return seg;
      }
      if (marker === 0xda) break;
      i += 2 + len;
    }
    return null;
  }

  function uprightOrientation(seg) {
    var t = 10;  // FFE1, length, "Exif\0\0"
    var view = new DataView(seg.buffer, seg.byteOffset, seg.byteLength);
    if (t + 8 > seg.length) return;
    var little = view.getUint16(t) === 0x4949;
    var ifd = t + view.getUint32(t + 4, little);
    if (ifd + 2 > seg.length) return;
    var n = view.getUint16(ifd, little);
    for (var k = 0; k < n && ifd + 2 + 12 * k + 12 <= seg.length; k++) {
      var entry = ifd + 2 + 12 * k;
      if (view.getUint16(entry, little) === 0x0112) view.setUint16(entry + 8, 1, little);
    }
  }

  function withExif(blob, exif) {
    if (!exif) return Promise.resolve(blob);
    return blob.arrayBuffer().then(function (buf) {
      var jpeg = new Uint8Array(buf);
      return new Blob([jpeg.slice(0, 2), exif, jpeg.slice(2)], { type: "image/jpeg" });
    });
  }

  /* Downscale a photo on the phone (longest side at most 1600 px, JPEG) before it is stored. */
  function downscale(file) {
    if (!file) return Promise.resolve(null);
    return Promise.all([file.arrayBuffer(), createImageBitmap(file)]).then(function (parts) {
      var bitmap = parts[1];
      var scale = Math.min(1, MAX_PX / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      var exif = exifSegment(new Uint8Array(parts[0]));
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.85); })
        .then(function (blob) { return withExif(blob, exif); });
    });
  }

  function formBody(rec) {
    var data = new FormData();
    Object.keys(rec.fields).forEach(function (name) { data.append(name, rec.fields[name]); });
    if (rec.photo) data.append("photo", rec.photo, rec.photoName || "photo.jpg");
    if (rec.position) {
      data.append("position_lon", rec.position.lon.toFixed(7));
      data.append("position_lat", rec.position.lat.toFixed(7));
      if (rec.position.accuracy) data.append("position_accuracy_m", rec.position.accuracy.toFixed(1));
    }
    data.append("captured_at", rec.capturedAt);
    return data;
  }

  function readJson(response) { return response.json().catch(function () { return null; }); }

  function latest(rec) {
    return fetch(rec.itemUrl, { headers: { "Accept": "application/geo+json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw { status: response.status };
        return response.json().then(function (feature) {
          return { etag: response.headers.get("ETag"), percent: (feature.properties || {}).progress_pct };
        });
      });
  }

  /* The project moved since the report was made: send it again with the new version only when it does not
     go backwards (its percent at least the latest; the server's own verdict too), else leave it to the user. */
  function resolveStale(rec, body) {
    return latest(rec).then(function (now) {
      var queued = rec.fields.percent === undefined ? null : Number(rec.fields.percent);
      var safe = body && body.resubmitSafe !== false;
      if (queued !== null && now.percent !== null && now.percent !== undefined) safe = safe && queued >= Number(now.percent);
      if (!safe || rec.resubmitted >= 3) {
        rec.state = "attention";
        var backwards = queued !== null && now.percent !== null && now.percent !== undefined && queued < Number(now.percent);
        rec.error = backwards ? "项目已更新为 " + now.percent + "%,本条 " + queued + "% 会使进度倒退"
          : (body && body.reason) || (body && body.description) || "412";
        rec.latestPercent = now.percent;
        return put(rec).then(function () { return { outcome: "attention", record: rec }; });
      }
      rec.etag = now.etag;
      rec.resubmitted = (rec.resubmitted || 0) + 1;
      return put(rec).then(function () { return attempt(rec); });
    });
  }

  /* Later reports on the same project were made on top of this one: they now start from its new version. */
  function chain(rec, etag) {
    if (!etag) return Promise.resolve();
    return all().then(function (rows) {
      return Promise.all(rows.filter(function (r) {
        return r.itemUrl === rec.itemUrl && r.etag === rec.etag && r.createdAt > rec.createdAt;
      }).map(function (r) { r.etag = etag; return put(r); }));
    });
  }

  function attempt(rec) {
    return getMeta("csrf").then(function (csrf) {
      var headers = { "X-CSRF-Token": csrf || "", "Idempotency-Key": rec.key, "Accept": "application/geo+json" };
      if (rec.etag) headers["If-Match"] = rec.etag;
      return fetch(rec.itemUrl + "/progress", { method: "POST", headers: headers, credentials: "same-origin", body: formBody(rec) });
    }).then(function (response) {
      return readJson(response).then(function (body) { return handle(rec, response, body); });
    }, function () {
      return { outcome: "queued", record: rec };  // no network, or the answer was lost: keep it, same key
    });
  }

  function handle(rec, response, body) {
    var status = response.status;
    if (response.ok) {
      var etag = response.headers.get("ETag");
      return chain(rec, etag).then(function () { return remove(rec.key); }).then(function () {
        return { outcome: status === 202 ? "review" : "sent", record: rec, body: body, etag: etag };
      });
    }
    if (status === 412) return resolveStale(rec, body);
    if (status === 428) return latest(rec).then(function (now) { rec.etag = now.etag; return put(rec); }).then(function () { return attempt(rec); });
    var code = body && body.code;
    if (status === 401 || (status === 403 && code === "CsrfRefused")) {
      rec.state = "login";  // the session expired while offline: keep the report, ask to sign in again
      return put(rec).then(function () { return { outcome: "login", record: rec, status: status, body: body }; });
    }
    if (status >= 500 || status === 429 || status === 408) return { outcome: "queued", record: rec, status: status };
    rec.state = "attention";
    rec.error = (body && body.description) || String(status);
    return put(rec).then(function () { return { outcome: "refused", record: rec, status: status, body: body }; });
  }

  function send(key) {
    return get(key).then(function (rec) { return rec ? attempt(rec) : { outcome: "gone" }; });
  }

  /* Send every queued report (oldest first); reports waiting for the user (需处理) stay where they are. */
  function flush() {
    if (flushing) return flushing;
    flushing = all().then(function (rows) {
      var results = [];
      return rows.reduce(function (p, rec) {
        return p.then(function () {
          if (rec.state === "attention") return null;
          return get(rec.key).then(function (fresh) {
            if (!fresh || fresh.state === "attention") return null;
            return attempt(fresh).then(function (r) { results.push(r); });
          });
        });
      }, Promise.resolve()).then(function () { return results; });
    }).then(function (results) {
      flushing = null;
      var waiting = results.some(function (r) { return r.outcome === "queued"; });
      schedule(waiting);
      return changed().then(function () { return results; });
    }, function (error) { flushing = null; schedule(true); throw error; });
    return flushing;
  }

  function schedule(waiting) {
    if (timer) clearTimeout(timer);
    timer = null;
    backoff = waiting ? Math.min(backoff * 2, 300000) : 5000;
    if (waiting) timer = setTimeout(flush, backoff);
  }

  function blobToDataUrl(blob) {
    return new Promise(function (resolve) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.readAsDataURL(blob);
    });
  }

  /* Download one queued report as JSON, its photo as a data URL, so nothing is lost if the phone is wiped. */
  function exportOne(key) {
    return get(key).then(function (rec) {
      return (rec.photo ? blobToDataUrl(rec.photo) : Promise.resolve(null)).then(function (photo) {
        var copy = {};
        Object.keys(rec).forEach(function (k) { if (k !== "photo") copy[k] = rec[k]; });
        copy.photo = photo;
        var blob = new Blob([JSON.stringify(copy, null, 2)], { type: "application/json" });
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = "planmap-report-" + rec.key + ".json";
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
      });
    });
  }

  function retry(key) {
    return get(key).then(function (rec) {
      if (!rec) return null;
      rec.state = "queued";
      rec.error = null;
      rec.resubmitted = 0;
      return put(rec).then(function () { return send(key); });
    });
  }

  window.PlanmapOutbox = {
    add: function (rec) { return put(rec); },
    all: all,
    remove: remove,
    retry: retry,
    send: send,
    flush: flush,
    exportOne: exportOne,
    downscale: downscale,
    newKey: newKey,
    getMeta: getMeta,
    setMeta: setMeta,
    onChange: function (cb) { listeners.push(cb); }
  };
  window.addEventListener("online", function () { backoff = 5000; flush(); });
})();
