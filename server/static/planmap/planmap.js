/* planmap map helpers: status-styled overlays, Chinese popups, datum switching for GCJ-02 base maps,
   a locate button and the legend. Needs Leaflet 1.9 (and Leaflet.VectorGrid for vector-tile overlays). */
(function () {
  "use strict";
  var PM = (window.planmap = window.planmap || {});
  PM.overlays = [];
  PM.coordsys = "wgs84";

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(value) {
    if (value === null || value === undefined || value === "") return "";
    if (typeof value === "number") {
      return value.toLocaleString("zh-CN", { maximumFractionDigits: 2 });
    }
    if (typeof value === "boolean") return value ? "✓" : "✗";
    return String(value);
  }

  function statusOf(props, cfg) {
    if (props._status) return props._status;
    // Vector tiles carry the stored status only: derive "overdue" the way the server does.
    var s = props.status;
    if (cfg.overdue && props.due_date && props.due_date < cfg.today && cfg.done.indexOf(s) < 0) return "overdue";
    return s;
  }

  PM.popupHtml = function (props, cfg) {
    var st = statusOf(props, cfg);
    var html = '<div class="pm-popup"><div class="pm-popup-layer">' + esc(cfg.title) + "</div>";
    html += '<h4 class="pm-popup-name">' + esc(props[cfg.labelField] || props.id || "") + "</h4>";
    if (st) {
      html += '<div><span class="pm-swatch" style="background:' + (cfg.colors[st] || cfg.color) + '"></span>' +
        esc(cfg.statusLabels[st] || st) + "</div>";
    }
    if (typeof props.progress_pct === "number") {
      var pct = Math.max(0, Math.min(100, props.progress_pct));
      html += '<div class="pm-progress" title="' + pct.toFixed(0) + '%"><div style="width:' + pct + '%"></div></div>' +
        "<div>" + esc(cfg.text.progress) + " " + pct.toFixed(0) + "%</div>";
    }
    html += "<table>";
    cfg.fields.forEach(function (f) {
      var v = fmt(props[f.name]);
      if (v !== "") html += "<tr><th>" + esc(f.alias) + "</th><td>" + esc(v) + (f.unit ? " " + esc(f.unit) : "") + "</td></tr>";
    });
    html += "</table>";
    if (cfg.itemUrl && props.id !== undefined) {
      html += '<a class="pm-record" href="' + esc(cfg.itemUrl.replace("{fid}", encodeURIComponent(props.id))) +
        '" target="_blank">' + esc(cfg.text.record) + " →</a>";
    }
    return html + "</div>";
  };

  function styleFor(props, cfg) {
    var color = cfg.colors[statusOf(props, cfg)] || cfg.color;
    return {
      color: cfg.outline ? cfg.color : color, weight: cfg.weight, opacity: 0.9,
      fillColor: color, fillOpacity: cfg.outline ? 0.02 : cfg.fillOpacity || 0.45, className: "pm-" + cfg.id,
    };
  }

  function withParam(url, key, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + key + "=" + encodeURIComponent(value);
  }

  PM.geojson = function (map, cfg) {
    var layer = L.geoJSON(null, {
      style: function (f) { return styleFor(f.properties, cfg); },
      pointToLayer: function (f, latlng) {
        return L.circleMarker(latlng, Object.assign(styleFor(f.properties, cfg), { radius: 7, fillOpacity: 0.85, weight: 1.5, color: "#ffffff" }));
      },
      onEachFeature: function (f, l) {
        if (cfg.popup) l.bindPopup(function () { return PM.popupHtml(f.properties, cfg); }, { maxWidth: 340 });
      },
    });
    if (cfg.data) layer.addData(cfg.data);
    layer.planmap = cfg;
    layer.reload = function (coordsys) {
      if (!cfg.dataUrl) return Promise.resolve(layer);
      return fetch(withParam(cfg.dataUrl, "coordsys", coordsys))
        .then(function (r) { return r.json(); })
        .then(function (data) { layer.clearLayers(); layer.addData(data); return layer; });
    };
    PM.overlays.push(layer);
    return layer;
  };

  PM.vectorTiles = function (map, cfg) {
    var styles = {};
    styles[cfg.tileLayer] = function (props) { return Object.assign(styleFor(props, cfg), { fill: true }); };
    var layer = L.vectorGrid.protobuf(cfg.tileUrl, {
      vectorTileLayerStyles: styles, interactive: true, maxNativeZoom: 22, rendererFactory: L.canvas.tile,
      getFeatureId: function (f) { return f.properties.id; },
    });
    layer.on("click", function (e) {
      L.popup({ maxWidth: 340 }).setLatLng(e.latlng).setContent(PM.popupHtml(e.layer.properties, cfg)).openOn(map);
    });
    layer.planmap = cfg;
    PM.overlays.push(layer);
    return layer;
  };

  PM.watchBase = function (map) {
    // GCJ-02 base maps (AMap) are offset ~500-700 m from WGS84 in Xiangtan: reload overlays in their datum.
    map.on("baselayerchange", function (e) {
      var cs = e.layer.options.planmapCoordsys || "wgs84";
      if (cs === PM.coordsys) return;
      PM.coordsys = cs;
      PM.overlays.forEach(function (o) { if (o.reload) o.reload(cs); });
    });
  };

  PM.locate = function (map, labels) {
    var Control = L.Control.extend({
      options: { position: "topleft" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "leaflet-bar pm-locate");
        var a = L.DomUtil.create("a", "", div);
        a.href = "#"; a.title = labels.locate; a.setAttribute("role", "button"); a.innerHTML = "◎";
        L.DomEvent.on(a, "click", function (ev) {
          L.DomEvent.preventDefault(ev);
          map.locate({ setView: true, maxZoom: 16 });
        });
        L.DomEvent.disableClickPropagation(div);
        return div;
      },
    });
    var marker = null;
    map.on("locationfound", function (e) {
      if (marker) map.removeLayer(marker);
      marker = L.circle(e.latlng, { radius: e.accuracy, color: "#2563eb", weight: 1 }).addTo(map);
    });
    map.on("locationerror", function () { console.info(labels.failed); });
    return new Control().addTo(map);
  };

  PM.legend = function (map, html) {
    var Control = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        var div = L.DomUtil.create("div", "pm-legend");
        div.innerHTML = html;
        L.DomEvent.disableClickPropagation(div);
        return div;
      },
    });
    return new Control().addTo(map);
  };
})();
