// Drag-and-drop upload for forms marked data-dropzone (see templates/macros/dropzone.html).
// A dropped or picked file is put in the form's file input and the form is sent through htmx,
// which reports upload progress (htmx:xhr:progress) to the form's <progress>.
(function () {
  "use strict";

  function zoneForm(element) {
    return element && element.closest ? element.closest("form[data-dropzone]") : null;
  }

  // A file dropped before the form is complete (no provider, say) is not sent: each field
  // that is missing says so under itself and is marked, and the first one takes the focus.
  function markInvalid(form) {
    var invalid = Array.prototype.slice.call(form.querySelectorAll(":invalid"));
    invalid.forEach(function (field) {
      if (field.matches("[data-drop-input]")) return;
      field.setAttribute("aria-invalid", "true");
      var feedback = field.id && document.getElementById(field.id + "-feedback");
      if (feedback) {
        var message = document.createElement("small");
        message.className = "error";
        message.setAttribute("role", "alert");
        message.textContent = field.dataset.requiredMessage || field.validationMessage;
        feedback.replaceChildren(message);
      }
      field.addEventListener("input", function clear() {
        field.removeAttribute("aria-invalid");
        if (feedback) feedback.replaceChildren();
        field.removeEventListener("input", clear);
      });
    });
    var first = invalid.filter(function (f) { return !f.matches("[data-drop-input]"); })[0];
    if (first) first.focus();
    return invalid.length === 0;
  }

  function send(form) {
    var input = form.querySelector("[data-drop-input]");
    if (!input || !input.files || !input.files.length) return;
    var name = form.querySelector("[data-drop-file-name]");
    if (name) name.textContent = input.files[0].name;
    if (!form.checkValidity() && !markInvalid(form)) return;
    if (window.htmx) {
      window.htmx.trigger(form, "submit");
    } else {
      form.submit();
    }
  }

  document.addEventListener("dragover", function (event) {
    var target = event.target.closest && event.target.closest("[data-drop-target]");
    if (!target) return;
    event.preventDefault();
    target.classList.add("dragover");
  });

  document.addEventListener("dragleave", function (event) {
    var target = event.target.closest && event.target.closest("[data-drop-target]");
    if (target) target.classList.remove("dragover");
  });

  document.addEventListener("drop", function (event) {
    var target = event.target.closest && event.target.closest("[data-drop-target]");
    if (!target) return;
    event.preventDefault();
    target.classList.remove("dragover");
    var form = zoneForm(target);
    var input = form && form.querySelector("[data-drop-input]");
    if (!input || !event.dataTransfer || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    send(form);
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-drop-target]");
    if (!target) return;
    var input = zoneForm(target).querySelector("[data-drop-input]");
    if (input) input.click();
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target.closest && event.target.closest("[data-drop-target]");
    if (!target || (event.key !== "Enter" && event.key !== " ")) return;
    event.preventDefault();
    var input = zoneForm(target).querySelector("[data-drop-input]");
    if (input) input.click();
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-drop-input]")) {
      send(zoneForm(event.target));
    }
  });

  function progressOf(event) {
    var form = zoneForm(event.target);
    return form ? form.querySelector("[data-drop-progress]") : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var bar = progressOf(event);
    if (bar) { bar.hidden = false; bar.value = 0; }
  });

  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = progressOf(event);
    if (bar && event.detail.lengthComputable) {
      bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = zoneForm(event.target);
    if (!form) return;
    var bar = form.querySelector("[data-drop-progress]");
    if (bar) { bar.value = 100; bar.hidden = true; }
    var input = form.querySelector("[data-drop-input]");
    if (input) input.value = "";
  });
})();
