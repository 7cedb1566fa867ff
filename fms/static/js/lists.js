// The list component's one behaviour: "select all rows on this page" for a bulk action.
document.querySelectorAll("[data-fms-select-all]").forEach(function (all) {
  all.addEventListener("change", function () {
    document.querySelectorAll("input[name=ids][form=fms-bulk]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
});
