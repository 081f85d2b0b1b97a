// Boots the vendored Swagger UI on the API reference page (no inline script, for the CSP).
document.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("api-docs");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    // Without deep links an operation's path is text, not a link inside the button that
    // opens the operation (a control inside a control: keyboard and screen readers trip).
    deepLinking: false,
    validatorUrl: null,
    tryItOutEnabled: false,
    persistAuthorization: false,
    onComplete: function () {
      // The servers menu comes without a label of its own.
      var servers = document.getElementById("servers");
      if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
    },
  });
});
