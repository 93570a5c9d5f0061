// Plans admin page: edit a plan's targets and county quotas, save with If-Match, copy to the next year.
(function () {
  "use strict";
  var COUNTIES = ["430302", "430304", "430321", "430381", "430382"];
  var state = { year: null, etag: null, plan: null };
  var $ = function (id) { return document.getElementById(id); };

  function csrfHeaders(extra) {
    var headers = Object.assign({ "Accept": "application/json" }, extra || {});
    var holder = document.getElementById("pm-plans");
    if (holder && holder.dataset.csrf) { headers["X-CSRF-Token"] = holder.dataset.csrf; }
    return headers;
  }

  function say(text, bad) {
    var el = $("message");
    el.textContent = text;
    el.style.color = bad ? "#b91c1c" : "#166534";
  }

  function problem(response) {
    return response.json().then(function (body) {
      return (body && (body.detail || body.description || body.title)) || response.statusText;
    }, function () { return response.statusText; });
  }

  function cell(value, attrs) {
    var td = document.createElement("td");
    var input = document.createElement("input");
    Object.keys(attrs || {}).forEach(function (k) { input.setAttribute(k, attrs[k]); });
    input.value = value === undefined || value === null ? "" : value;
    td.appendChild(input);
    return td;
  }

  function quotaSum(tr) {
    var sum = 0;
    tr.querySelectorAll("input.quota").forEach(function (i) { sum += Number(i.value || 0); });
    tr.querySelector(".quota-sum").textContent = String(Math.round(sum * 1000) / 1000);
  }

  function targetRow(t) {
    var tr = document.createElement("tr");
    tr.dataset.layer = t.layer;
    var layerCell = document.createElement("td");
    layerCell.textContent = t.layer;
    tr.appendChild(layerCell);
    tr.appendChild(cell(t.quote_zh, { "class": "quote", size: 28 }));
    tr.appendChild(cell(t.value, { "class": "value", type: "number", min: "0", step: "any", size: 8 }));
    tr.appendChild(cell(t.unit_zh, { "class": "unit", size: 3 }));
    var measure = document.createElement("td");
    var select = document.createElement("select");
    select.className = "measure";
    ["count", "sum", "compliant"].forEach(function (m) {
      var o = document.createElement("option");
      o.value = m; o.textContent = m; o.selected = m === t.measure;
      select.appendChild(o);
    });
    measure.appendChild(select);
    tr.appendChild(measure);
    tr.appendChild(cell(t.field, { "class": "field", size: 8 }));
    tr.appendChild(cell(t.due, { "class": "due", type: "date" }));
    COUNTIES.forEach(function (c) {
      var q = (t.quotas || {})[c];
      tr.appendChild(cell(q, { "class": "quota", "data-county": c, type: "number", min: "0", step: "any", size: 7 }));
    });
    var sum = document.createElement("td");
    sum.className = "quota-sum";
    tr.appendChild(sum);
    var remove = document.createElement("td");
    var button = document.createElement("button");
    button.type = "button"; button.textContent = "移除";
    button.addEventListener("click", function () { tr.remove(); });
    remove.appendChild(button);
    tr.appendChild(remove);
    tr.addEventListener("input", function () { quotaSum(tr); });
    tr.dataset.unitEn = t.unit_en || "";
    tr.dataset.extra = JSON.stringify({ done_statuses: t.done_statuses, secondary: t.secondary || {} });
    quotaSum(tr);
    return tr;
  }

  function fill(plan, etag) {
    state = { year: plan.year, etag: etag, plan: plan };
    $("editor").hidden = false;
    $("ed-year").textContent = plan.year;
    $("ed-version").textContent = plan.version;
    $("ed-title").value = plan.title_zh || "";
    $("ed-title-en").value = plan.title_en || "";
    $("ed-status").value = plan.status;
    $("ed-source").value = plan.source_zh || "";
    $("ed-quota-note").value = plan.quota_note || "";
    $("ed-yellow").value = (plan.lights || {}).yellow_lag_pts === undefined ? 10 : plan.lights.yellow_lag_pts;
    $("ed-red").value = (plan.lights || {}).red_lag_pts === undefined ? 30 : plan.lights.red_lag_pts;
    var body = document.querySelector("#targets tbody");
    body.textContent = "";
    plan.targets.forEach(function (t) { body.appendChild(targetRow(t)); });
    loadHistory(plan.year);
  }

  function collect() {
    var targets = [];
    document.querySelectorAll("#targets tbody tr").forEach(function (tr) {
      var extra = JSON.parse(tr.dataset.extra || "{}");
      var quotas = {};
      tr.querySelectorAll("input.quota").forEach(function (i) {
        if (i.value !== "") { quotas[i.dataset.county] = Number(i.value); }
      });
      var t = {
        layer: tr.dataset.layer,
        quote_zh: tr.querySelector(".quote").value,
        value: Number(tr.querySelector(".value").value),
        unit_zh: tr.querySelector(".unit").value,
        unit_en: tr.dataset.unitEn || tr.querySelector(".unit").value,
        measure: tr.querySelector(".measure").value,
        due: tr.querySelector(".due").value,
        quotas: quotas,
        secondary: extra.secondary || {}
      };
      var field = tr.querySelector(".field").value;
      if (field) { t.field = field; }
      if (extra.done_statuses && t.measure !== "compliant") { t.done_statuses = extra.done_statuses; }
      targets.push(t);
    });
    var lights = Object.assign({}, state.plan.lights || {});
    lights.yellow_lag_pts = Number($("ed-yellow").value);
    lights.red_lag_pts = Number($("ed-red").value);
    return {
      year: state.year,
      title_zh: $("ed-title").value,
      title_en: $("ed-title-en").value,
      status: $("ed-status").value,
      source_zh: $("ed-source").value,
      quota_note: $("ed-quota-note").value,
      lights: lights,
      targets: targets
    };
  }

  function open(year) {
    return fetch("/plans/" + year, { headers: csrfHeaders(), credentials: "same-origin" }).then(function (r) {
      if (!r.ok) { return problem(r).then(function (m) { say(m, true); }); }
      var etag = r.headers.get("ETag");
      return r.json().then(function (plan) { fill(plan, etag); say(""); });
    });
  }

  function loadHistory(year) {
    fetch("/plans/" + year + "/history", { headers: csrfHeaders(), credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.json() : { revisions: [] };
    }).then(function (doc) {
      var list = $("history");
      list.textContent = "";
      doc.revisions.forEach(function (rev) {
        var li = document.createElement("li");
        li.textContent = "v" + rev.version + " " + rev.action + " · " + rev.author + " · " + rev.recorded_at;
        list.appendChild(li);
      });
    });
  }

  function save() {
    var init = {
      method: "PUT",
      credentials: "same-origin",
      headers: csrfHeaders({ "Content-Type": "application/json", "If-Match": state.etag }),
      body: JSON.stringify(collect())
    };
    fetch("/plans/" + state.year, init).then(function (r) {
      if (!r.ok) { return problem(r).then(function (m) { say("未保存 Not saved: " + m, true); }); }
      var etag = r.headers.get("ETag");
      return r.json().then(function (plan) { fill(plan, etag); say("已保存 Saved (version " + plan.version + ")"); });
    });
  }

  function copy(year) {
    var init = { method: "POST", credentials: "same-origin", headers: csrfHeaders() };
    fetch("/plans/" + year + "/copy?to=" + (Number(year) + 1), init).then(function (r) {
      if (!r.ok) { return problem(r).then(function (m) { say(m, true); }); }
      window.location.reload();
    });
  }

  function remove() {
    var init = { method: "DELETE", credentials: "same-origin", headers: csrfHeaders({ "If-Match": state.etag }) };
    fetch("/plans/" + state.year, init).then(function (r) {
      if (!r.ok) { return problem(r).then(function (m) { say(m, true); }); }
      window.location.reload();
    });
  }

  document.querySelectorAll("button.edit").forEach(function (b) {
    b.addEventListener("click", function () { open(b.dataset.year); });
  });
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.addEventListener("click", function () { copy(b.dataset.year); });
  });
  $("save").addEventListener("click", save);
  $("delete").addEventListener("click", remove);
  $("add-target").addEventListener("click", function () {
    var layer = $("new-layer").value;
    var due = state.year ? state.year + "-12-31" : "";
    document.querySelector("#targets tbody").appendChild(
      targetRow({ layer: layer, quote_zh: "", value: 1, unit_zh: "个", unit_en: "", measure: "count", due: due, quotas: {} })
    );
  });
})();
