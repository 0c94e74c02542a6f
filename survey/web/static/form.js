// Optional help on the form page; the form works the same without it.
// Shows how many questions are answered, and keeps answers in sessionStorage while the tab is
// open, so that a reload or a wrong turn does not lose them.
"use strict";
(function () {
  var form = document.querySelector("form[data-survey]");
  if (!form) return;
  var key = "survey-answers:" + form.getAttribute("data-survey");
  var bar = document.getElementById("progress-bar");
  var questions = form.querySelectorAll("[data-q]");
  var store = null;
  try {
    store = window.sessionStorage;
  } catch (e) {
    store = null;
  }

  // The answers and the consents; not the CSRF token.
  function fields() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.name !== "_csrf_token";
    });
  }

  function filled(el) {
    if (el.type === "radio" || el.type === "checkbox") return el.checked;
    return el.value.trim() !== "";
  }

  function answered(q) {
    return Array.prototype.some.call(q.querySelectorAll("input, select, textarea"), filled);
  }

  function progress() {
    if (!bar) return;
    var done = Array.prototype.filter.call(questions, answered).length;
    bar.textContent = done + " of " + questions.length + " questions answered";
    bar.hidden = false;
  }

  function save() {
    if (!store) return;
    var data = {};
    fields().forEach(function (el) {
      if (!filled(el)) return;
      (data[el.name] = data[el.name] || []).push(el.value);
    });
    try {
      store.setItem(key, JSON.stringify(data));
    } catch (e) {
      /* storage full or denied: the form still works */
    }
  }

  function restore() {
    // Only into an untouched form: answers sent back by the server after an error win.
    if (!store || fields().some(filled)) return;
    var data;
    try {
      data = JSON.parse(store.getItem(key) || "{}");
    } catch (e) {
      return;
    }
    fields().forEach(function (el) {
      var values = data[el.name];
      if (!values) return;
      if (el.type === "radio" || el.type === "checkbox") el.checked = values.indexOf(el.value) >= 0;
      else el.value = values[0];
    });
  }

  restore();
  progress();
  form.addEventListener("input", function () {
    save();
    progress();
  });
  form.addEventListener("change", function () {
    save();
    progress();
  });
  form.addEventListener("submit", function () {
    if (store) store.removeItem(key);
  });
})();
