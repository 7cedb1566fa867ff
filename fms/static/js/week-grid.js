// The week grid: live day and week totals, and arrow keys between cells.
// The server parses and totals the same way; this only helps while typing.
(function () {
  "use strict";
  var grid = document.querySelector("[data-week-grid]");
  if (!grid) return;
  var daily = grid.getAttribute("data-daily") === "1";
  var weekTotal = document.querySelector("[data-total-week]");

  function minutes(text) {
    var value = (text || "").trim();
    if (!value) return 0;
    var hm = /^(\d{1,2}):([0-5]\d)$/.exec(value);
    if (hm) return Number(hm[1]) * 60 + Number(hm[2]);
    if (/^(\d{1,2}(\.\d{1,4})?|\.\d{1,4})$/.test(value)) {
      var m = Math.round(Number(value) * 60 * 10000) / 10000;
      return Number.isInteger(m) ? m : null;
    }
    return null;
  }

  function hm(total) {
    var m = total % 60;
    return Math.floor(total / 60) + ":" + (m < 10 ? "0" : "") + m;
  }

  function cell(day, row) {
    return grid.querySelector('[data-day="' + day + '"][data-row="' + row + '"]');
  }

  function update() {
    var sum = 0, halves = 0, unknown = false;
    grid.querySelectorAll('[data-row="0"]').forEach(function (input) {
      var day = input.getAttribute("data-day");
      var out = grid.querySelector('[data-total-day="' + day + '"]');
      if (daily) {
        var half = { "0.5": 1, "1": 2 }[input.value] || 0;
        halves += half;
        if (out) out.textContent = half === 2 ? "Full day" : half === 1 ? "Half day" : "—";
        return;
      }
      var m = minutes(input.value);
      if (m === null) {
        unknown = true;
        if (out) out.textContent = "?";
      } else {
        sum += m;
        if (out) {
          out.textContent = hm(m);
          out.classList.toggle("ts-zero", m === 0);
        }
      }
    });
    if (!weekTotal) return;
    if (daily) {
      var days = halves / 2;
      weekTotal.textContent = days + (days === 1 ? " day" : " days");
    } else {
      weekTotal.textContent = unknown ? hm(sum) + " + ?" : hm(sum);
    }
  }

  function atEdge(input, forward) {
    if (input.tagName === "SELECT") return true;
    if (input.selectionStart !== input.selectionEnd) {
      return input.selectionStart === 0 && input.selectionEnd === input.value.length;
    }
    return forward ? input.selectionEnd === input.value.length : input.selectionStart === 0;
  }

  function move(from, dDay, dRow) {
    var day = Number(from.getAttribute("data-day"));
    var row = Number(from.getAttribute("data-row"));
    for (var step = 1; step <= 7; step++) {
      var target = cell(day + dDay * step, row + dRow * step);
      if (target) {
        target.focus();
        if (target.select && target.tagName === "INPUT") target.select();
        return true;
      }
      if (dRow) break; // rows exist in every open day; no skipping up or down
    }
    return false;
  }

  // "Copy last week" reloads the week from the server: say so before typed time is lost
  var dirty = false;
  function changed() {
    dirty = true;
    update();
  }
  var copy = document.querySelector("form[data-copy-week]");
  if (copy) {
    copy.addEventListener("submit", function (event) {
      var lose = "Your unsaved changes to this week will be lost. Copy last week anyway?";
      if (dirty && !window.confirm(lose)) event.preventDefault();
    });
  }

  grid.addEventListener("input", changed);
  grid.addEventListener("change", changed);
  grid.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.hasAttribute("data-day") || event.altKey || event.ctrlKey || event.metaKey) return;
    var key = event.key;
    var moved = false;
    if (key === "ArrowRight" && atEdge(target, true)) moved = move(target, 1, 0);
    else if (key === "ArrowLeft" && atEdge(target, false)) moved = move(target, -1, 0);
    else if (target.tagName === "INPUT" && key === "ArrowDown") moved = move(target, 0, 1);
    else if (target.tagName === "INPUT" && key === "ArrowUp") moved = move(target, 0, -1);
    if (moved) event.preventDefault();
  });
  update();
})();
