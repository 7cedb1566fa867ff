/* Engagement form: say, as soon as a freelancer or supplier is chosen, what happens to the
 * supplier (the server applies the same rule: fms.workforce.engagements._check_party).
 * Nothing is changed for the person; only the note under the supplier field is.
 * Loaded as an external script (CSP: script-src 'self'). */
(function () {
  "use strict";

  function init() {
    var form = document.querySelector("[data-supplier-note]");
    if (!form) return;
    var note = document.getElementById("supplier-note");
    var supplierValue = document.getElementById("supplier_id");
    var supplierText = document.getElementById("supplier_id_text");
    var freelancer = null;

    function update() {
      var text = "";
      if (freelancer) {
        var chosen = supplierValue.value;
        if (!chosen && !freelancer.supplier_id) {
          text = freelancer.label + " works directly: the engagement has no supplier.";
        } else if (!chosen) {
          text = "The engagement goes through " + freelancer.supplier + ", " +
            freelancer.label + "'s supplier.";
        } else if (String(freelancer.supplier_id || "") !== chosen) {
          text = freelancer.label + " comes through " + freelancer.supplier + ", not " +
            supplierText.value + ": you will be asked to confirm.";
        }
      }
      note.textContent = text;
      note.hidden = !text;
    }

    form.addEventListener("combobox:select", function (event) {
      if (event.target.querySelector("#freelancer_id")) freelancer = event.detail;
      update();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
