// Optional help on the form page; the form works the same without it.
// Shows how many questions are answered, and keeps answers in sessionStorage while the tab is
// open, so that a reload or a wrong turn does not lose them.
"use strict";
(function () {
  var form = document.querySelector("form[data-survey]");
  if (!form) return;
  var key = "survey-answers:" + form.getAttribute("data-survey");
  var bar = document.getElementById("progress-bar");
  var questions = form.querySelectorAll(".q:not(.cb)");
  var store = null;
  try {
    store = window.sessionStorage;
  } catch (e) {
    store = null;
  }

  // The answers and the consents: not the hidden fields (the CSRF token, the order of the
  // questions) nor the buttons, whose values are always there.
  function fields() {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && el.type !== "hidden" && el.type !== "submit" && el.type !== "button";
    });
  }

  // What the server will read: a choice exactly as offered, typed text without its margins.
  function valueOf(el) {
    var typed = el.tagName === "TEXTAREA" || el.type === "text" || el.type === "number";
    return typed ? el.value.trim() : el.value;
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
    var shown = Array.prototype.filter.call(questions, function (q) {
      return !q.closest("[hidden]");
    });
    var done = shown.filter(answered).length;
    bar.textContent = done + " of " + shown.length + " questions answered";
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

  // Display conditions (data-show-if): hide what the answers so far do not show, as the server
  // will (it drops answers to hidden questions). Without JavaScript every question shows, with
  // its condition in words.
  var conditional = form.querySelectorAll("[data-show-if]");

  function chosen(name) {
    return Array.prototype.filter
      .call(form.elements, function (el) {
        return el.name === name && filled(el) && !el.closest("[hidden]");
      })
      .map(valueOf);
  }

  function holds(c) {
    var values = chosen(c.item);
    if (c.answered !== undefined && c.answered !== null && (values.length > 0) !== c.answered) return false;
    if (c["in"]) {
      if (!values.some(function (v) { return c["in"].indexOf(v) >= 0; })) return false;
    }
    var bounded = c.at_least !== undefined && c.at_least !== null || c.below !== undefined && c.below !== null;
    if (bounded) {
      var n = values.length === 1 && values[0] !== "na" ? Number(values[0]) : NaN;
      if (isNaN(n)) return false;
      if (c.at_least !== undefined && c.at_least !== null && n < c.at_least) return false;
      if (c.below !== undefined && c.below !== null && n >= c.below) return false;
    }
    return true;
  }

  function show() {
    // In document order: a condition on a question hidden just now sees it unanswered.
    Array.prototype.forEach.call(conditional, function (el) {
      var visible = holds(JSON.parse(el.getAttribute("data-show-if")));
      el.hidden = !visible;
      var hint = el.querySelector(".cond");
      if (hint) hint.hidden = true; // the condition is applied live; no need to read it
    });
  }

  restore();
  show();
  progress();
  form.addEventListener("input", function () {
    save();
    progress();
  });
  form.addEventListener("change", function () {
    show();
    save();
    progress();
  });
  form.addEventListener("submit", function () {
    if (store) store.removeItem(key);
  });
})();
