// Drill-down rows the page already holds (a preview's periods by validator and component):
// a link marked data-drill-toggle shows or hides the row it controls. Without JavaScript the
// link opens the period's own page instead.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-drill-toggle]");
    if (!link) return;
    var target = document.getElementById(link.getAttribute("aria-controls"));
    if (!target) return;
    event.preventDefault();
    var open = link.getAttribute("aria-expanded") === "true";
    link.setAttribute("aria-expanded", open ? "false" : "true");
    target.hidden = open;
  });
})();
