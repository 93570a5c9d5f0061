// Plan dashboard: fetch /dashboard/data for a day and draw cards, lights, the red list, county quotas and the map;
// the slider steps through the plan year's month ends (play / pause / step). All text is set as text, never HTML.
(function () {
  "use strict";
  var root = document.getElementById("pm-dashboard");
  var plan = root.dataset.plan;
  var colors = { green: root.dataset.green, yellow: root.dataset.yellow, red: root.dataset.red };
  var LIGHT_ZH = { green: "绿灯", yellow: "黄灯", red: "红灯" };
  var map = window[root.dataset.map];
  var markers = L.layerGroup().addTo(map);
  var months = [];
  var timer = null;
  var loading = null;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function num(value, digits) {
    if (value === null || value === undefined) { return "—"; }
    return Number(value).toLocaleString("zh-CN", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }

  function dots(counts) {
    var span = el("span", null, "pm-dots");
    ["green", "yellow", "red"].forEach(function (light) {
      var dot = el("span", counts ? counts[light] : 0, "pm-dot " + light);
      dot.title = LIGHT_ZH[light];
      span.appendChild(dot);
      span.appendChild(document.createTextNode(" "));
    });
    return span;
  }

  function drawCards(cards) {
    var box = document.getElementById("pm-cards");
    box.textContent = "";
    cards.forEach(function (c) {
      var card = el("div", null, "pm-card");
      card.dataset.layer = c.layer;
      card.appendChild(el("h3", c.title_zh));
      var big = el("div", null, "pm-big");
      big.appendChild(el("span", num(c.done), "pm-done"));
      big.appendChild(document.createTextNode(" / " + num(c.target) + " " + c.unit_zh));
      card.appendChild(big);
      var bar = el("div", null, "pm-bar");
      var fill = el("span");
      fill.style.width = Math.min(100, c.pct || 0) + "%";
      bar.appendChild(fill);
      card.appendChild(bar);
      card.appendChild(el("div", "完成 " + num(c.pct, 1) + "% · " + c.done_features + "/" + c.features + " 个项目", "pm-pct"));
      if (c.lights) { card.appendChild(dots(c.lights)); }
      card.title = c.quote_zh;
      box.appendChild(card);
    });
  }

  function drawPoints(points, layers) {
    markers.clearLayers();
    points.forEach(function (p) {
      var light = p[3] || "none";
      var marker = L.circleMarker([p[5], p[4]], {
        radius: 5, weight: 1, color: "#374151", fillOpacity: 0.9,
        fillColor: colors[light] || "#9ca3af", className: "pm-light-marker pm-light-" + light
      });
      var tip = el("span", (layers[p[0]] || p[0]) + " · " + p[2] + " · " + (LIGHT_ZH[light] || "未亮灯"));
      marker.bindTooltip(tip);
      markers.addLayer(marker);
    });
  }

  function drawRed(red) {
    document.getElementById("pm-red-count").textContent = "(" + red.count + ")";
    var body = document.querySelector("#pm-red tbody");
    body.textContent = "";
    red.projects.forEach(function (r) {
      var tr = el("tr");
      tr.dataset.id = r.id;
      var name = el("td");
      var link = el("a", r.name + " · " + r.layer_title);
      link.href = "/collections/" + encodeURIComponent(r.layer) + "/items/" + encodeURIComponent(r.id) + "?f=html";
      name.appendChild(link);
      tr.appendChild(name);
      tr.appendChild(el("td", r.county_name));
      tr.appendChild(el("td", r.owner));
      tr.appendChild(el("td", r.reason === "overdue" ? "逾期 " + num(r.lag_pts, 1) : num(r.lag_pts, 1)));
      tr.appendChild(el("td", r.due_date));
      body.appendChild(tr);
    });
  }

  function drawCounties(counties, cards) {
    var table = document.getElementById("pm-counties");
    var head = table.querySelector("thead");
    var body = table.querySelector("tbody");
    head.textContent = "";
    body.textContent = "";
    var tr = el("tr");
    tr.appendChild(el("th", "区县"));
    tr.appendChild(el("th", "亮灯"));
    cards.forEach(function (c) { tr.appendChild(el("th", c.title_zh + "(" + c.unit_zh + ")")); });
    head.appendChild(tr);
    counties.forEach(function (county) {
      var row = el("tr");
      row.dataset.county = county.county;
      row.appendChild(el("td", county.name));
      var lights = el("td");
      lights.appendChild(dots(county.lights));
      row.appendChild(lights);
      cards.forEach(function (c) {
        var t = county.targets[c.layer];
        var text = !t ? "—" : num(t.done) + (t.quota === null ? "" : " / " + num(t.quota) + " (" + num(t.pct_quota, 1) + "%)");
        row.appendChild(el("td", text));
      });
      body.appendChild(row);
    });
  }

  function draw(doc) {
    months = doc.months;
    document.getElementById("pm-day").textContent = doc.as_of;
    document.getElementById("pm-time-pct").textContent = num(doc.time_pct, 1);
    var index = months.indexOf(doc.as_of);
    if (index >= 0) { document.getElementById("pm-month").value = String(index); }
    var total = document.getElementById("pm-lights-total");
    total.textContent = "全市 " + doc.lights.projects + " 个项目: ";
    total.appendChild(dots(doc.lights));
    drawCards(doc.cards);
    drawPoints(doc.points, doc.layers);
    drawRed(doc.red);
    drawCounties(doc.counties, doc.cards);
    document.getElementById("pm-investment").textContent = doc.investment
      ? doc.investment.sentence + "(年度计划 " + num(doc.investment.plan_wan) + " 万元)"
      : "仅计划管理人员可见";
    root.dataset.shown = doc.as_of;
  }

  function load(day) {
    var status = document.getElementById("pm-status");
    status.textContent = "加载中…";
    var url = "/dashboard/data?plan=" + encodeURIComponent(plan) + "&as_of=" + encodeURIComponent(day);
    loading = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (doc) { draw(doc); status.textContent = ""; })
      .catch(function (err) { status.textContent = "加载失败: " + err.message; stop(); });
    return loading;
  }

  function go(index) {
    if (!months.length) { return Promise.resolve(); }
    var i = Math.max(0, Math.min(months.length - 1, index));
    document.getElementById("pm-month").value = String(i);
    return load(months[i]);
  }

  function current() { return Number(document.getElementById("pm-month").value); }

  function stop() {
    if (timer) { clearTimeout(timer); timer = null; }
    document.getElementById("pm-play").textContent = "▶ 播放";
  }

  function tick() {
    if (current() >= months.length - 1) { stop(); return; }
    go(current() + 1).then(function () { if (timer) { timer = setTimeout(tick, 800); } });
  }

  document.getElementById("pm-play").addEventListener("click", function () {
    if (timer) { stop(); return; }
    this.textContent = "❚❚ 暂停";
    if (current() >= months.length - 1) { go(0); }
    timer = setTimeout(tick, 300);
  });
  document.getElementById("pm-step").addEventListener("click", function () { stop(); go(current() + 1); });
  document.getElementById("pm-step-back").addEventListener("click", function () { stop(); go(current() - 1); });
  document.getElementById("pm-month").addEventListener("change", function () { stop(); go(current()); });

  load(root.dataset.asOf);
})();
