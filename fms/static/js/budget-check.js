/* Requisition form: warn, live, when the budget is below top rate × weekly hours × weeks.
 * The same rule as fms.workforce.rules.budget_notice (the server repeats it on save); a
 * warning only, never a block. Loaded as an external script (CSP: script-src 'self'). */
(function () {
  "use strict";

  function value(id) {
    var el = document.getElementById(id);
    return el ? el.value.trim() : "";
  }

  function number(text) {
    return /^\d+(\.\d+)?$/.test(text) ? Number(text) : null;
  }

  function day(text) {
    var match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : null;
  }

  function format(amount) {
    return amount.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function check(notice) {
    var kind = value("kind");
    var rate = number(value("rate_max"));
    var hours = number(value("weekly_hours"));
    var budget = number(value("budget"));
    var start = day(value("start_date"));
    var end = day(value("end_date"));
    var text = "";
    if (kind !== "fixed" && rate !== null && hours !== null && budget !== null &&
        start !== null && end !== null && end >= start) {
      var weeks = ((end - start) / 86400000 + 1) / 7;
      var perWeek = kind === "daily" ? hours / 8 : hours;
      var most = Math.round(rate * perWeek * weeks * 100) / 100;
      if (budget < most) {
        text = "The budget (" + format(budget) + ") is below the top rate × weekly hours × weeks (" +
          format(most) + "). You can still save it; approvers will see it may not last.";
      }
    }
    notice.textContent = text;
    notice.hidden = !text;
  }

  function init() {
    var notice = document.getElementById("budget-notice");
    if (!notice) return;
    var form = notice.closest("form");
    form.addEventListener("input", function () { check(notice); });
    form.addEventListener("change", function () { check(notice); });
    check(notice);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
