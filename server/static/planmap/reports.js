// The report form: its kind and format choose the URL; an empty county is left out of the query.
(function () {
  var form = document.getElementById("make-report");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var kind = document.getElementById("report-kind").value;
    var format = document.getElementById("report-format").value;
    var params = new URLSearchParams();
    ["plan", "as_of", "county"].forEach(function (name) {
      var value = form.elements[name].value;
      if (value) params.set(name, value);
    });
    window.location.href = "/reports/" + encodeURIComponent(kind) + "." + format + "?" + params.toString();
  });
})();
