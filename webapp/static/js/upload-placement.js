/* The upload form inside a group: show the family or the group-session questions for the
   kind of footage chosen, and keep "This recording may be used for" up to date: for a
   group session, the uses every family ticked as present agreed to; for a family's
   footage, the uses ticked on its consent form. */
(function () {
  "use strict";

  function init(form) {
    var kinds = form.querySelectorAll("input[name=kind]");
    var present = form.querySelectorAll("input[name=present]");
    var purposes = form.querySelectorAll("input[name=purposes]");
    var items = form.querySelectorAll("#allowed-purposes [data-purpose]");

    function placement() {
      var chosen = form.querySelector("input[name=kind]:checked");
      return chosen ? chosen.getAttribute("data-kind") : "";
    }

    function allowed(kind) {
      var result = null;
      if (kind === "session") {
        present.forEach(function (box) {
          if (!box.checked) { return; }
          var agreed = (box.getAttribute("data-purposes") || "").split(" ").filter(Boolean);
          result = result === null ? agreed : result.filter(function (p) { return agreed.indexOf(p) >= 0; });
        });
      } else if (kind === "family") {
        result = [];
        purposes.forEach(function (box) { if (box.checked) { result.push(box.value); } });
      }
      return result || [];
    }

    function update() {
      var kind = placement();
      form.querySelectorAll("[data-for]").forEach(function (el) {
        el.hidden = kind !== "" && el.getAttribute("data-for") !== kind;
      });
      var uses = allowed(kind);
      items.forEach(function (li) {
        var purpose = li.getAttribute("data-purpose");
        li.hidden = purpose === "" ? uses.length > 0 : uses.indexOf(purpose) < 0;
      });
    }

    form.addEventListener("change", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-placement]");
    if (form) { init(form); }
  });
})();
