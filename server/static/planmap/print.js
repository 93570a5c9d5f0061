// The 打印 (print) link of map pages: carries the page's layers and county into /map/print.pdf.
(function () {
  var page = new URLSearchParams(window.location.search);
  document.querySelectorAll("a.pm-print").forEach(function (link) {
    var params = new URLSearchParams();
    var layers = link.getAttribute("data-layers") || page.get("layers") || page.get("layer");
    if (layers) params.set("layers", layers);
    var county = page.get("county");
    if (county && county.indexOf(",") < 0) params.set("county", county);
    if (page.get("plan")) params.set("plan", page.get("plan"));
    link.href = "/map/print.pdf" + (params.toString() ? "?" + params.toString() : "");
  });
})();
