// The review queue's "Budget used" column: the server prices every counted week of the
// queue's engagements for it, which takes longer than the queue itself, so the page shows
// at once and this fills the column in when the figures arrive.
(function () {
  "use strict";
  var script = document.currentScript;
  var cells = document.querySelectorAll("[data-budget-for]");
  if (!script || !cells.length) return;
  function show(cell, text, level) {
    var span = document.createElement("span");
    span.className = "ts-budget" + (level ? " " + level : "");
    span.title = "Submitted and approved spend against the engagement's budget cap";
    span.textContent = text;
    cell.replaceChildren(span);
  }
  fetch(script.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    })
    .then(function (used) {
      cells.forEach(function (cell) {
        var percent = used[cell.dataset.budgetFor];
        if (percent === undefined || percent === null) {
          show(cell, "—", "fms-muted");
        } else {
          show(cell, percent + " %", percent >= 100 ? "ts-budget-over" : percent >= 80 ? "ts-budget-warn" : "");
        }
      });
    })
    .catch(function () {
      cells.forEach(function (cell) { show(cell, "—", "fms-muted"); });
    });
})();
