// Small behaviours shared by every page. No inline scripts: pages opt in with data- attributes.
(function () {
  "use strict";

  // <form data-confirm="..."> asks before it submits (keyboard and mouse alike).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // A plain form that is sending shows it: Pico draws a spinner on aria-busy buttons. Long work
  // (a commit of a large partner) then never looks like a dead click.
  document.addEventListener("submit", function (event) {
    if (event.defaultPrevented || event.target.hasAttribute("hx-post")) return;
    var button = event.submitter;
    if (button && button.tagName === "BUTTON") button.setAttribute("aria-busy", "true");
  });

  // A page restored from the back/forward cache must not keep a spinning button.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("button[aria-busy='true']").forEach(function (button) {
      button.removeAttribute("aria-busy");
    });
  });

  // After htmx swaps content in, move focus to an element that asks for it.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    if (!target || !target.querySelector) return;
    var focus = target.querySelector("[data-autofocus]");
    if (focus) focus.focus();
  });

  // After a swap the user asked for (a click or a submit, not a search typed or a lazy load),
  // focus moves to the new content: its first field in error, else its first heading, so the
  // keyboard carries on from what just appeared instead of from the top of the page.
  var swappedId = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    swappedId = event.detail && event.detail.target ? event.detail.target.id : null;
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail && event.detail.requestConfig;
    var trigger = config && config.triggeringEvent;
    if (!trigger || (trigger.type !== "submit" && trigger.type !== "click")) return;
    var content = event.detail.elt;
    if (!content || !content.isConnected) content = swappedId && document.getElementById(swappedId);
    if (!content || !content.querySelector || content.querySelector("[data-autofocus]")) return;
    var invalid = content.querySelector("[aria-invalid='true']");
    if (invalid) { invalid.focus(); return; }
    var heading = content.matches("h1, h2, h3") ? content : content.querySelector("h1, h2, h3");
    if (!heading || !visible(heading)) return;
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus();
  });

  // A page reached by a form's post shows the message the post left. Where the page marks the
  // content that the action changed (data-focus-after-action), focus moves there, so the
  // keyboard carries on from the new state (its next action) instead of from the top of the
  // page; a message of error takes focus first, to be read before anything else.
  document.addEventListener("DOMContentLoaded", function () {
    var flashes = document.querySelector("main .flashes");
    var marked = document.querySelector("[data-focus-after-action]");
    if (!flashes || !marked) return;
    var target = flashes.querySelector(".flash-error") ? flashes : marked;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  });

  // Enter in a field marked data-enter-event sends it an "enter" event that its hx-trigger
  // listens for: the policy forbids htmx's evaluated trigger filters (keyup[key=='Enter']).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || !event.target.closest) return;
    var field = event.target.closest("[data-enter-event]");
    if (!field || !window.htmx) return;
    event.preventDefault();
    window.htmx.trigger(field, "enter");
  });

  // Copying one shown amount copies its exact plain value (the <data> element's value), not
  // the rounded text with separators and symbol.
  document.addEventListener("copy", function (event) {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount !== 1 || !event.clipboardData) return;
    var node = selection.getRangeAt(0).commonAncestorContainer;
    var element = node.nodeType === 1 ? node : node.parentElement;
    var amount = element && element.closest ? element.closest("data.amount") : null;
    if (!amount && document.activeElement && document.activeElement.matches
        && document.activeElement.matches("data.amount") && selection.isCollapsed) {
      amount = document.activeElement;
    }
    var key = !amount && element && element.closest ? element.closest("code[data-full]") : null;
    if (!amount && !key) return;
    event.clipboardData.setData("text/plain", amount ? amount.value : key.dataset.full);
    event.preventDefault();
  });

  // A box that scrolls a wide table sideways is reachable by keyboard (arrow keys scroll it)
  // and named after its table, but only while it overflows: a table that fits is no tab stop.
  function visible(element) {
    return element.checkVisibility ? element.checkVisibility() : element.getClientRects().length > 0;
  }
  function scrollBoxes(root) {
    (root || document).querySelectorAll(".table-scroll, .overflow-auto, main table").forEach(function (box) {
      var style = window.getComputedStyle(box);
      var scrolls = (style.overflowX === "auto" || style.overflowX === "scroll")
        && visible(box) && box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        var caption = box.querySelector("caption");
        box.setAttribute("tabindex", "0");
        box.dataset.scrollBox = "1";
        if (box.tagName !== "TABLE") box.setAttribute("role", "region");
        if (!box.hasAttribute("aria-label")) {
          box.dataset.scrollLabel = "1";
          box.setAttribute("aria-label", (caption ? caption.textContent.trim() : "Table") + " (scrolls sideways)");
        }
      } else if (!scrolls && box.dataset.scrollBox) {
        box.removeAttribute("tabindex");
        if (box.dataset.scrollLabel) box.removeAttribute("aria-label");
        delete box.dataset.scrollLabel;
        if (box.tagName !== "TABLE") box.removeAttribute("role");
        delete box.dataset.scrollBox;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { scrollBoxes(); });
  document.addEventListener("htmx:afterSettle", function () { scrollBoxes(); });
  document.addEventListener("toggle", function () { scrollBoxes(); }, true);
  var resizing = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(scrollBoxes, 150);
  });
})();
