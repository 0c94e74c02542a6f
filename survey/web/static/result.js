// Draws each chart whose Plotly figure JSON the page carries in a data-figure attribute.
"use strict";
document.querySelectorAll("[data-figure]").forEach(function (el) {
  if (!window.Plotly) return;
  var figure = JSON.parse(el.getAttribute("data-figure"));
  window.Plotly.newPlot(el, figure.data, figure.layout, {
    displayModeBar: false,
    responsive: true,
  });
});
