// Draws each chart whose Plotly figure JSON the page carries in a data-figure attribute.
// Used by the dashboard (served) and inlined into the offline HTML report.
"use strict";
(function () {
  if (window.Plotly) {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var figure = JSON.parse(el.getAttribute("data-figure"));
      // No mode bar: each chart has SVG and PDF links for print instead.
      window.Plotly.newPlot(el, figure.data, figure.layout, {
        displayModeBar: false,
        responsive: true,
      });
    });
  }
  // Empty filter fields stay out of the address, so that links stay short.
  var form = document.querySelector("form[data-filters]");
  if (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && el.type !== "checkbox" && el.value === "") el.disabled = true;
      });
    });
  }
})();
