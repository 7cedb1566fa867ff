/* FMS API reference: mounts Swagger UI on #swagger-ui.
 * Loaded as an external script (CSP: script-src 'self'); no inline JS needed.
 * Requires vendor/swagger-ui/swagger-ui-bundle.js to be loaded first. */
(function () {
  "use strict";

  var SAFE_METHODS = { GET: true, HEAD: true, OPTIONS: true, TRACE: true };

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  function init() {
    var el = document.getElementById("swagger-ui");
    if (!el) return;
    var specUrl = el.getAttribute("data-spec-url");
    if (!specUrl) {
      el.textContent = "API specification URL is not configured.";
      return;
    }
    if (typeof window.SwaggerUIBundle !== "function") {
      el.textContent = "Swagger UI failed to load.";
      return;
    }

    window.fmsSwaggerUI = window.SwaggerUIBundle({
      url: specUrl,
      domNode: el,
      deepLinking: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      tryItOutEnabled: false,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      requestInterceptor: function (req) {
        req.credentials = "same-origin";
        var method = (req.method || "GET").toUpperCase();
        if (!SAFE_METHODS[method]) {
          var token = csrfToken();
          if (token) {
            req.headers = req.headers || {};
            req.headers["X-CSRFToken"] = token;
          }
        }
        return req;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
