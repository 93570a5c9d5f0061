// Import page: upload a data file, see where its rows land (as given and corrected from GCJ-02/BD-09), map
// its columns and status values, run the dry run, then commit and follow the progress. Text from the file is
// always set with textContent; the job id is kept in the address so that a reload finds the job again.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var state = { job: null, choices: null, preview: null, map: null, groups: {} };
  var RUNNING = { dry_running: true, committing: true };
  var PHASES = { queued: "排队中", checking: "读取并校验中", writing: "校验完成，正在写入", done: "完成", failed: "失败" };

  function headers(extra) {
    var h = Object.assign({ "Accept": "application/json" }, extra || {});
    var holder = $("pm-import");
    if (holder && holder.dataset.csrf) { h["X-CSRF-Token"] = holder.dataset.csrf; }
    return h;
  }

  function say(text, bad) {
    var el = $("message");
    el.textContent = text || "";
    el.style.color = bad ? "#b91c1c" : "#166534";
  }

  function call(method, url, body) {
    var options = { method: method, headers: headers(), credentials: "same-origin" };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (doc) { return doc; }, function () { return {}; }).then(function (doc) {
        if (!response.ok) {
          var why = (doc && (doc.description || doc.detail || doc.title)) || response.statusText;
          throw new Error(typeof why === "string" ? why : JSON.stringify(why));
        }
        return doc;
      });
    });
  }

  function jobUrl(suffix) { return "/admin/import/jobs/" + encodeURIComponent(state.job.id) + (suffix || ""); }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function option(value, text, selected) {
    var o = el("option", text, { value: value });
    if (selected) { o.selected = true; }
    return o;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  // ---- step 2: what the file holds, and the preview map ----
  var DATUM = { wgs84: "WGS84（未发现偏移）", gcj02: "GCJ-02（高德/腾讯坐标）", bd09: "BD-09（百度坐标）" };
  var BASIS = {
    stored: "与图层中同编号要素的位置比对", name: "根据文件名或列名", none: "无偏移迹象", projected: "投影坐标，不涉及偏移"
  };

  function showInspection(job) {
    var found = job.inspection || {};
    $("step-inspect").hidden = false;
    $("i-name").textContent = job.file_name || "";
    $("i-format").textContent = found.format || "";
    $("i-rows").textContent = String(found.rows || 0);
    $("i-crs").textContent = (found.crs || "未知") + (found.crs_source === "inferred" ? "（根据坐标范围推断）" : "（文件声明）");
    var datum = found.datum || {};
    var offsets = datum.offsets_m || {};
    var detail = Object.keys(offsets).map(function (k) { return k + " " + Math.round(offsets[k]) + " m"; }).join("，");
    $("i-datum").textContent = (DATUM[datum.guess] || datum.guess || "") + " · " + (BASIS[datum.basis] || "") +
      (datum.matched ? "（" + datum.matched + " 个同编号要素，中位偏差 " + detail + "）" : "");
    $("coordsys").value = found.geographic === false ? "wgs84" : (datum.guess || "wgs84");
    $("coordsys").disabled = found.geographic === false;
    var layers = found.file_layers || [];
    $("file-layer-row").hidden = layers.length < 2;
    clear($("file-layer"));
    layers.forEach(function (name) { $("file-layer").appendChild(option(name, name, name === found.file_layer)); });
    clear($("i-warnings"));
    (found.warnings || []).forEach(function (w) { $("i-warnings").appendChild(el("li", w)); });
    return call("GET", jobUrl("/preview")).then(function (preview) {
      state.preview = preview;
      drawPreview();
      return call("GET", jobUrl("/mapping"));
    }).then(showMapping);
  }

  function popup(props) {
    var box = el("div");
    box.appendChild(el("strong", "第 " + props._row + " 行" + (props._inside === false ? "（湘潭市范围外）" : "")));
    Object.keys(props).forEach(function (k) {
      if (k.charAt(0) === "_" || props[k] === null) { return; }
      box.appendChild(el("div", k + "：" + props[k], { "class": "pm-import-prop" }));
    });
    return box;
  }

  function group(collection, color, rows) {
    return L.geoJSON(collection, {
      style: function (feature) {
        var outside = rows && rows[feature.properties._row] === false;
        return { color: outside ? "#b91c1c" : color, weight: 2, fillOpacity: 0.2 };
      },
      pointToLayer: function (feature, latlng) {
        var outside = rows && rows[feature.properties._row] === false;
        return L.circleMarker(latlng, { radius: 6, color: outside ? "#b91c1c" : color, weight: 2, fillOpacity: 0.6 });
      },
      onEachFeature: function (feature, layer) {
        var props = feature.properties || {};
        var full = (state.preview.as_is.features[props._row - 1] || {}).properties || props;
        layer.bindPopup(function () { return popup(full); });
        if (full.name) { layer.bindTooltip(function () { return el("span", full.name); }); }
      }
    });
  }

  function drawPreview() {
    if (!state.map) {
      state.map = L.map("preview-map", { attributionControl: false });
      L.tileLayer("/basemap/{z}/{x}/{y}.png", { maxZoom: 18 }).addTo(state.map);
    }
    Object.keys(state.groups).forEach(function (k) { state.map.removeLayer(state.groups[k]); });
    var inside = {};
    var outside = 0;
    state.preview.as_is.features.forEach(function (f) {
      inside[f.properties._row] = f.properties._inside;
      if (f.properties._inside === false) { outside += 1; }
    });
    $("outside-count").textContent = outside ? "预览的前 " + state.preview.as_is.features.length + " 行中有 " + outside +
      " 行在湘潭市范围外（红色）" : "";
    var datum = $("coordsys").value;
    state.groups = { asIs: group(state.preview.as_is, "#1d4ed8", inside) };
    if (datum !== "wgs84" && state.preview[datum]) {
      state.groups.corrected = group(state.preview[datum], "#ea580c", null);
    }
    $("show-corrected").disabled = !state.groups.corrected;
    $("show-corrected").checked = !!state.groups.corrected;
    $("show-as-is").checked = true;
    toggleGroups();
    // frame the rows inside the city: one stray row in another province would shrink them to a dot
    var bounds = L.latLngBounds([]);
    [state.groups.asIs, state.groups.corrected].forEach(function (g) {
      if (!g) { return; }
      g.eachLayer(function (layer) {
        if (inside[layer.feature.properties._row] === false) { return; }
        bounds.extend(layer.getBounds ? layer.getBounds() : layer.getLatLng());
      });
    });
    if (!bounds.isValid()) { bounds = state.groups.asIs.getBounds(); }
    if (bounds.isValid()) { state.map.fitBounds(bounds, { maxZoom: 16, padding: [20, 20] }); }
    else { state.map.setView([27.83, 112.94], 10); }
  }

  function toggleGroups() {
    [["asIs", "show-as-is"], ["corrected", "show-corrected"]].forEach(function (pair) {
      var layer = state.groups[pair[0]];
      if (!layer) { return; }
      if ($(pair[1]).checked) { layer.addTo(state.map); } else { state.map.removeLayer(layer); }
    });
  }

  // ---- step 3: mapping table and status values ----
  function fieldLabel(f) { return f.alias_zh + " (" + f.name + ")"; }

  function sample(column) {
    var rows = (state.preview && state.preview.as_is.features) || [];
    for (var i = 0; i < rows.length; i += 1) {
      var v = rows[i].properties[column];
      if (v !== null && v !== undefined && v !== "") { return v; }
    }
    return "";
  }

  function showMapping(choices) {
    state.choices = choices;
    $("step-mapping").hidden = false;
    var body = $("mapping").querySelector("tbody");
    clear(body);
    choices.columns.forEach(function (column) {
      var tr = el("tr");
      tr.dataset.column = column;
      tr.appendChild(el("td", column));
      tr.appendChild(el("td", sample(column)));
      var select = el("select", null, { "class": "pm-field" });
      select.appendChild(option("", "（不导入）", !choices.auto[column]));
      choices.fields.forEach(function (f) { select.appendChild(option(f.name, fieldLabel(f), choices.auto[column] === f.name)); });
      select.addEventListener("change", showValues);
      var td = el("td");
      td.appendChild(select);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    showValues();
  }

  function statusColumn() {
    var rows = $("mapping").querySelectorAll("tbody tr");
    for (var i = 0; i < rows.length; i += 1) {
      if (rows[i].querySelector("select.pm-field").value === "status") { return rows[i].dataset.column; }
    }
    return null;
  }

  function knownStatus(value) {
    var v = String(value).trim();
    var found = state.choices.statuses.filter(function (s) {
      return s.value === v || s.label_zh === v || s.label_en.toLowerCase() === v.toLowerCase();
    });
    return found.length ? found[0].value : "";
  }

  function showValues() {
    var column = statusColumn();
    var values = column ? state.choices.values[column] : null;
    $("values-box").hidden = !column || !state.choices.statuses.length;
    $("values-column").textContent = column || "";
    var body = $("values").querySelector("tbody");
    clear(body);
    if (!column) { return; }
    if (!values) {
      body.appendChild(el("tr")).appendChild(el("td", "该列的取值过多，无法逐一对应", { colspan: "2" }));
      return;
    }
    values.forEach(function (value) {
      var tr = el("tr");
      tr.dataset.value = value;
      tr.appendChild(el("td", value));
      var select = el("select", null, { "class": "pm-status" });
      var known = knownStatus(value);
      select.appendChild(option("", "（按原值）", !known));
      state.choices.statuses.forEach(function (s) {
        select.appendChild(option(s.value, s.label_zh + " (" + s.value + ")", known === s.value));
      });
      var td = el("td");
      td.appendChild(select);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function collectMapping() {
    var mapping = {};
    var status = statusColumn();
    $("mapping").querySelectorAll("tbody tr").forEach(function (tr) {
      var target = tr.querySelector("select.pm-field").value;
      if (tr.dataset.column === status) { return; }
      mapping[tr.dataset.column] = target || null;
    });
    if (status) {
      var values = {};
      $("values").querySelectorAll("tbody tr[data-value]").forEach(function (tr) {
        var chosen = tr.querySelector("select.pm-status").value;
        if (chosen) { values[tr.dataset.value] = chosen; }
      });
      mapping.status = Object.keys(values).length ? { column: status, values: values } : { column: status };
    }
    return mapping;
  }

  function restoreMapping(mapping) {
    var rules = {};
    Object.keys(mapping || {}).forEach(function (key) {
      var entry = mapping[key];
      if (entry && typeof entry === "object" && entry.column) { rules[entry.column] = { field: key, values: entry.values || {} }; }
    });
    $("mapping").querySelectorAll("tbody tr").forEach(function (tr) {
      var column = tr.dataset.column;
      var select = tr.querySelector("select.pm-field");
      if (rules[column]) { select.value = rules[column].field; }
      else if (Object.prototype.hasOwnProperty.call(mapping, column)) { select.value = mapping[column] || ""; }
    });
    showValues();
    var status = statusColumn();
    var values = status && rules[status] ? rules[status].values : {};
    $("values").querySelectorAll("tbody tr[data-value]").forEach(function (tr) {
      if (values[tr.dataset.value]) { tr.querySelector("select.pm-status").value = values[tr.dataset.value]; }
    });
  }

  // ---- step 4 and 5: dry run, report, commit ----
  function poll() {
    return new Promise(function (resolve, reject) {
      function again() {
        call("GET", jobUrl()).then(function (job) {
          state.job = job;
          showProgress(job);
          if (RUNNING[job.status]) { setTimeout(again, 300); } else { resolve(job); }
        }, reject);
      }
      again();
    });
  }

  function showProgress(job) {
    if (job.status !== "committing" && job.status !== "done" && !(job.status === "failed" && job.result)) { return; }
    $("step-commit").hidden = false;
    var p = job.progress || {};
    var share = { queued: 0, checking: 10, writing: 70, done: 100, failed: 100 }[p.phase] || 0;
    $("progress").value = share;
    $("progress-text").textContent = (PHASES[p.phase] || p.phase || "") +
      (p.total ? "：" + p.done + " / " + p.total + " 行" : "");
  }

  function issueRow(issue) {
    var tr = el("tr");
    [issue.row, issue.location, issue.id, issue.column].forEach(function (v) { tr.appendChild(el("td", v === null ? "" : v)); });
    tr.appendChild(el("td", issue.problem_zh, { title: issue.problem }));
    return tr;
  }

  function showReport(report) {
    $("step-report").hidden = false;
    $("summary").textContent = report.summary_zh;
    ["added", "updated", "unchanged", "removed"].forEach(function (k) { $("c-" + k).textContent = String(report[k]); });
    $("c-skipped").textContent = String(report.skipped_rows);
    clear($("warnings"));
    (report.warnings_zh || []).forEach(function (w) { $("warnings").appendChild(el("li", w)); });
    var body = $("issues").querySelector("tbody");
    clear(body);
    report.problems.concat(report.skipped).forEach(function (issue) { body.appendChild(issueRow(issue)); });
    $("skipped-csv").hidden = !report.skipped.length;
    $("skipped-csv").setAttribute("href", jobUrl("/skipped.csv"));
    $("commit").disabled = report.status !== "dry_run";
  }

  function showResult(job) {
    showProgress(job);
    if (job.status === "done") {
      say("");
      $("result").textContent = job.result.summary_zh;
      $("result").style.color = "#166534";
    } else if (job.status === "failed") {
      var result = job.result;
      var first = result && result.problems.length ? "：" + result.problems[0].problem_zh : "";
      $("result").textContent = result ? result.summary_zh + first : "导入失败：" + (job.error || "");
      $("result").style.color = "#b91c1c";
    }
  }

  function dryRun() {
    say("试导入中…");
    $("dry-run").disabled = true;
    var body = {
      mapping: collectMapping(),
      mode: $("mode").value,
      on_invalid: $("on-invalid").value,
      coordsys: $("coordsys").value,
      source: $("source").value || null
    };
    call("POST", jobUrl("/dry-run"), body).then(poll).then(function (job) {
      if (job.status === "failed") { throw new Error(job.error || "试导入失败"); }
      say("试导入完成");
      showReport(job.report);
    }).catch(function (err) { say("试导入失败：" + err.message, true); }).then(function () {
      $("dry-run").disabled = false;
    });
  }

  function commit() {
    $("commit").disabled = true;
    $("step-commit").hidden = false;
    $("result").textContent = "";
    call("POST", jobUrl("/commit")).then(function (job) { state.job = job; showProgress(job); return poll(); })
      .then(showResult)
      .catch(function (err) { say("导入失败：" + err.message, true); $("commit").disabled = false; });
  }

  function show(job) {
    state.job = job;
    history.replaceState(null, "", "#job=" + job.id);
    $("target").value = job.layer;
    return showInspection(job).then(function () {
      if (job.choices) {
        restoreMapping(job.choices.mapping);
        $("coordsys").value = job.choices.coordsys;
        drawPreview();
        $("mode").value = job.choices.mode;
        $("on-invalid").value = job.choices.on_invalid;
        $("source").value = job.choices.source || "";
      }
      if (RUNNING[job.status]) { return poll().then(show); }
      if (job.report) { showReport(job.report); }
      if (job.result || job.status === "done") { showResult(job); }
      return null;
    });
  }

  function upload(event) {
    event.preventDefault();
    var file = $("file").files[0];
    if (!file) { say("请选择文件", true); return; }
    var form = new FormData();
    form.append("target", $("target").value);
    form.append("file", file, file.name);
    ["step-inspect", "step-mapping", "step-report", "step-commit"].forEach(function (id) { $(id).hidden = true; });
    say("上传并识别中…");
    $("upload").disabled = true;
    call("POST", "/admin/import/jobs", form).then(show).then(function () { say("文件已识别"); })
      .catch(function (err) { say("文件无法导入：" + err.message, true); })
      .then(function () { $("upload").disabled = false; });
  }

  function reinspect(body) {
    say("重新识别中…");
    call("POST", jobUrl("/inspect"), body).then(show).then(function () {
      say("文件已识别");
      $("step-report").hidden = true;
      $("step-commit").hidden = true;
    }).catch(function (err) { say(err.message, true); });
  }

  $("upload-form").addEventListener("submit", upload);
  $("dry-run").addEventListener("click", dryRun);
  $("commit").addEventListener("click", commit);
  $("coordsys").addEventListener("change", drawPreview);
  $("show-as-is").addEventListener("change", toggleGroups);
  $("show-corrected").addEventListener("change", toggleGroups);
  $("file-layer").addEventListener("change", function () { reinspect({ file_layer: $("file-layer").value }); });
  $("target").addEventListener("change", function () { if (state.job) { reinspect({ layer: $("target").value }); } });
  $("restart").addEventListener("click", function () { history.replaceState(null, "", "#"); location.reload(); });

  var saved = /^#job=([0-9a-f]{32})$/.exec(location.hash);
  if (saved) {
    state.job = { id: saved[1] };
    call("GET", jobUrl()).then(show).catch(function () { history.replaceState(null, "", "#"); state.job = null; });
  }
})();
