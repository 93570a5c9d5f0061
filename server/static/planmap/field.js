/* planmap field app: registers the service worker, shows 可离线 / 待发送 / 需处理, downloads a county for
   offline use (size shown first), lists the nearby projects from the downloaded data when offline, and
   sends the outbox on load and when the network returns. */
(function () {
  "use strict";
  var box = document.getElementById("pm-fieldapp");
  var outbox = window.PlanmapOutbox;
  if (!box || !outbox) return;
  var DATA_CACHE = "planmap-data", PAGES_CACHE = "planmap-pages";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function mb(bytes) { return (bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1) + " MB"; }

  function age(ms) {
    var minutes = Math.floor((Date.now() - ms) / 60000);
    if (minutes < 1) return "刚刚";
    if (minutes < 60) return minutes + " 分钟前";
    if (minutes < 1440) return Math.floor(minutes / 60) + " 小时前";
    return Math.floor(minutes / 1440) + " 天前";
  }

  var status = el("p", { "class": "pm-fieldapp-status" });
  var net = el("span", { id: "pm-net" });
  var ready = el("span", { id: "pm-offline-ready" });
  var badge = el("span", { id: "pm-outbox-badge", "class": "pm-badge" });
  var attention = el("span", { id: "pm-attention-badge", "class": "pm-badge pm-error" });
  [net, ready, badge, attention].forEach(function (n) { status.appendChild(n); status.appendChild(document.createTextNode(" ")); });
  var login = el("p", { id: "pm-login-needed", "class": "pm-error", hidden: "" });
  var list = el("ol", { id: "pm-outbox-list", "class": "pm-outbox" });
  box.appendChild(status);
  box.appendChild(login);
  box.appendChild(list);

  function showNet() {
    net.textContent = navigator.onLine ? "在线" : "离线中";
    net.className = navigator.onLine ? "pm-ok" : "pm-error";
  }

  function showReady() {
    return outbox.getMeta("offline").then(function (meta) {
      var controlled = navigator.serviceWorker && navigator.serviceWorker.controller;
      if (meta && controlled) {
        ready.textContent = "可离线 · " + (meta.name || meta.county) + " · 数据更新于 " + age(meta.at);
        ready.setAttribute("data-at", String(meta.at));
        ready.className = "pm-ok";
      } else {
        ready.textContent = controlled ? "未下载离线数据" : "";
        ready.className = "";
      }
      return meta;
    });
  }

  function button(label, action, rec) {
    var b = el("button", { type: "button", "class": "pm-link-button", "data-action": action, "data-key": rec.key }, label);
    return b;
  }

  function showOutbox(rows) {
    var queued = rows.filter(function (r) { return r.state !== "attention"; });
    var waiting = rows.filter(function (r) { return r.state === "attention"; });
    badge.textContent = queued.length ? "待发送 " + queued.length : "";
    attention.textContent = waiting.length ? "需处理 " + waiting.length : "";
    list.textContent = "";
    rows.forEach(function (rec) {
      var item = el("li", { "data-key": rec.key, "data-state": rec.state });
      var pct = rec.fields.percent !== undefined ? " " + rec.fields.percent + "%" : "";
      var label = (rec.state === "attention" ? "需处理:" : "待发送:") + (rec.name || rec.featureId) + pct;
      var made = new Date(rec.capturedAt).toLocaleString("zh-CN", { hour12: false });
      item.appendChild(el("span", {}, label + " · " + made));
      if (rec.state === "attention" && rec.error) item.appendChild(el("span", { "class": "pm-sub" }, " " + rec.error));
      item.appendChild(button("重试", "retry", rec));
      item.appendChild(button("删除", "delete", rec));
      item.appendChild(button("导出", "export", rec));
      list.appendChild(item);
    });
    var expired = rows.filter(function (r) { return r.state === "login"; });
    login.hidden = !expired.length;
    login.textContent = "";
    if (expired.length) {
      login.appendChild(document.createTextNode("登录已过期,待发送的上报已保留。"));
      var next = "/map/report/" + encodeURIComponent(expired[0].layer) + "/" + encodeURIComponent(expired[0].featureId);
      login.appendChild(el("a", { href: "/login?next=" + encodeURIComponent(next), id: "pm-login-again" }, "请重新登录"));
    }
  }

  list.addEventListener("click", function (event) {
    var target = event.target;
    var key = target.getAttribute("data-key");
    var action = target.getAttribute("data-action");
    if (!key) return;
    if (action === "retry") outbox.retry(key).then(function () { return outbox.flush(); });
    else if (action === "delete" && window.confirm("删除这条未发送的上报?")) outbox.remove(key);
    else if (action === "export") outbox.exportOne(key);
  });

  function fetchInto(cacheName, url, key) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(url + ": " + response.status);
      return response.blob().then(function (blob) {
        var copy = new Response(blob, { status: response.status, headers: response.headers });
        return caches.open(cacheName).then(function (cache) { return cache.put(key || url, copy); }).then(function () { return blob.size; });
      });
    });
  }

  /* Fetch every URL of the plan, four at a time, into the service worker's caches. */
  function download(plan, progress) {
    var jobs = plan.projects.layers.map(function (l) { return [DATA_CACHE, l.url]; });
    plan.pages.urls.forEach(function (u) { jobs.push([PAGES_CACHE, u, location.origin + u]); });
    plan.tiles.list.forEach(function (t) {
      jobs.push([DATA_CACHE, plan.tiles.template.replace("{z}", t[0]).replace("{x}", t[1]).replace("{y}", t[2])]);
    });
    var done = 0, bytes = 0, next = 0;
    function worker() {
      if (next >= jobs.length) return Promise.resolve();
      var job = jobs[next++];
      return fetchInto(job[0], job[1], job[2]).then(function (size) {
        bytes += size; done += 1;
        progress(done, jobs.length);
        return worker();
      });
    }
    return Promise.all([worker(), worker(), worker(), worker()]).then(function () {
      var meta = {
        county: plan.county, name: plan.name, at: Date.now(), bytes: bytes,
        projects: plan.projects.count, tiles: plan.tiles.count, layers: plan.projects.layers
      };
      return outbox.setMeta("offline", meta).then(function () { return meta; });
    });
  }

  function setUpDownload() {
    var form = document.getElementById("pm-offline-download");
    if (!form) return;
    var select = form.querySelector("select[name=county]");
    var zoom = form.querySelector("select[name=max_zoom]");
    var size = document.getElementById("pm-offline-size");
    var confirm = document.getElementById("pm-offline-confirm");
    var plan = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      size.textContent = "计算中…";
      confirm.hidden = true;
      var q = "county=" + encodeURIComponent(select.value) + (zoom ? "&max_zoom=" + encodeURIComponent(zoom.value) : "");
      fetch("/offline/area?" + q, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) return r.json().then(function (b) { throw new Error(b.description || r.status); });
        return r.json();
      }).then(function (p) {
        plan = p;
        size.textContent = "约 " + mb(p.totalBytes) + ":项目 " + p.projects.count + " 个(" + mb(p.projects.bytes) +
          "),页面 " + p.pages.count + " 个,底图瓦片 " + p.tiles.count + " 张(约 " + mb(p.tiles.bytes) + ")";
        size.setAttribute("data-bytes", String(p.totalBytes));
        confirm.hidden = false;
      }).catch(function (e) { size.textContent = "无法计算:" + e.message; });
    });
    confirm.addEventListener("click", function () {
      if (!plan) return;
      confirm.disabled = true;
      download(plan, function (done, total) { size.textContent = "下载中 " + done + "/" + total; }).then(function (meta) {
        size.textContent = "已下载 " + mb(meta.bytes) + "(" + meta.projects + " 个项目," + meta.tiles + " 张瓦片)";
        size.setAttribute("data-done", "true");
        confirm.hidden = true;
        confirm.disabled = false;
        return showReady();
      }).catch(function (e) { size.textContent = "下载失败:" + e.message; confirm.disabled = false; });
    });
  }

  function distanceM(lon1, lat1, lon2, lat2) {
    var r = Math.PI / 180, dlat = (lat2 - lat1) * r, dlon = (lon2 - lon1) * r;
    var a = Math.sin(dlat / 2) * Math.sin(dlat / 2) + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
    return 6371008.8 * 2 * Math.asin(Math.sqrt(a));
  }

  function firstPoint(coords) {
    while (Array.isArray(coords[0])) coords = coords[0];
    return coords;
  }

  /* With no network the cached nearby page shows an older list: list the downloaded projects by distance instead. */
  function offlineNearby(meta) {
    var target = document.getElementById("pm-offline-list");
    var q = new URLSearchParams(location.search);
    if (!target || navigator.onLine || !meta || !q.get("lon") || !q.get("lat")) return;
    var lon = Number(q.get("lon")), lat = Number(q.get("lat"));
    var radius = Number(q.get("radius_m") || 2000);
    caches.open(DATA_CACHE).then(function (cache) {
      return Promise.all(meta.layers.map(function (l) {
        return cache.match(l.url).then(function (r) { return r ? r.json() : { features: [] }; }).then(function (fc) {
          return fc.features.map(function (f) {
            var p = firstPoint(f.geometry.coordinates);
            return { layer: l.layer, id: f.properties.id, name: f.properties.name || f.properties.id, d: distanceM(lon, lat, p[0], p[1]) };
          });
        });
      }));
    }).then(function (groups) {
      var rows = [].concat.apply([], groups).filter(function (r) { return r.d <= radius; });
      rows.sort(function (a, b) { return a.d - b.d; });
      target.textContent = "";
      target.appendChild(el("h2", {}, "离线数据中的附近项目(" + rows.length + ")"));
      var ol = el("ol", { "class": "pm-near" });
      rows.slice(0, 50).forEach(function (r) {
        var li = el("li", { "data-id": r.id, "data-layer": r.layer });
        var dist = r.d < 1000 ? Math.round(r.d) + " 米" : (r.d / 1000).toFixed(1) + " 公里";
        li.appendChild(el("a", { href: "/map/report/" + encodeURIComponent(r.layer) + "/" + encodeURIComponent(r.id), "class": "pm-report-link" }, dist + " " + r.name));
        ol.appendChild(li);
      });
      target.appendChild(ol);
      var stale = document.querySelector(".pm-near:not(#pm-offline-list .pm-near)");
      if (stale) {  // the cached page's list was made for another position
        stale.hidden = true;
        if (stale.previousElementSibling && stale.previousElementSibling.tagName === "H2") stale.previousElementSibling.hidden = true;
      }
    });
  }

  outbox.onChange(showOutbox);
  window.addEventListener("online", showNet);
  window.addEventListener("offline", showNet);
  showNet();
  setUpDownload();
  var registered = "serviceWorker" in navigator
    ? navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () { return navigator.serviceWorker.ready; })
    : Promise.resolve();
  registered.then(function () {
    box.setAttribute("data-sw", navigator.serviceWorker && navigator.serviceWorker.controller ? "controlled" : "ready");
    return showReady();
  }).then(offlineNearby);
  if (navigator.serviceWorker) navigator.serviceWorker.addEventListener("controllerchange", function () {
    box.setAttribute("data-sw", "controlled");
    showReady();
  });
  outbox.all().then(showOutbox);
  outbox.flush();
})();
