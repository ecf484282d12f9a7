/* verp: small page behaviours shared by every page (no dependencies, no inline code). */
(function () {
  "use strict";

  /** The CSRF token of this page (from <meta name="csrf-token">). */
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /**
   * fetch() for the JSON API: same-origin cookies, the CSRF header on state-changing
   * requests, and a JSON body when `body` is a plain object.
   */
  function api(url, options) {
    options = options || {};
    var method = (options.method || "GET").toUpperCase();
    var headers = new Headers(options.headers || {});
    headers.set("Accept", "application/json");
    if (method !== "GET" && method !== "HEAD") {
      headers.set("X-CSRFToken", csrfToken());
    }
    var body = options.body;
    if (body && typeof body === "object" && !(body instanceof Blob) && !(body instanceof FormData)) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(body);
    }
    return fetch(url, { method: method, headers: headers, body: body, credentials: "same-origin" });
  }

  /* Buttons with data-confirm ask before submitting their form; a form that is not yet
     filled in properly shows what is missing first, and asks nothing. */
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-confirm]") : null;
    if (!target) { return; }
    var form = target.form || target.closest("form");
    if (form && typeof form.reportValidity === "function" && !form.checkValidity()) {
      event.preventDefault();
      form.reportValidity();
      return;
    }
    if (!window.confirm(target.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  /* Buttons with data-print open the print dialog (certificates). */
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target.closest("[data-print]") : null;
    if (target) {
      window.print();
    }
  });

  /* Error summaries marked data-autofocus get focus so screen readers announce them. */
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-autofocus]");
    if (summary) {
      summary.focus();
    }
  });

  window.verp = { csrfToken: csrfToken, api: api };
})();
