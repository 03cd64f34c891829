// The Workbench's small enhancements. Every page works without them: they only help.
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // htmx requests carry the CSRF token as a header (plain forms post it as a field).
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["x-csrftoken"] = cookie("csrftoken");
  });

  document.addEventListener("DOMContentLoaded", function () {
    // "Read to the end": the accept box is enabled once the document has been scrolled to its end.
    document.querySelectorAll("[data-read-to-end]").forEach(function (box) {
      var accept = document.getElementById(box.getAttribute("data-read-to-end"));
      if (!accept || accept.checked) { return; }
      var hint = document.createElement("p");
      hint.className = "hint";
      hint.id = accept.id + "-read-hint";
      hint.textContent = "Scroll to the end of the document to accept it.";
      accept.setAttribute("aria-describedby", hint.id);
      accept.parentNode.appendChild(hint);
      function check() {
        if (box.scrollTop + box.clientHeight >= box.scrollHeight - 4) {
          accept.disabled = false;
          hint.textContent = "";
          box.removeEventListener("scroll", check);
        }
      }
      accept.disabled = true;
      box.addEventListener("scroll", check);
      check();
    });

    // Character counters beside long text fields.
    document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var out = document.getElementById(area.getAttribute("data-counter"));
      var max = area.getAttribute("maxlength");
      function update() { out.textContent = area.value.length + " of " + max + " characters"; }
      area.addEventListener("input", update);
    });

    // Drafts: a form marked data-draft keeps what was typed in this tab until it is sent.
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      var key = "draft:" + form.getAttribute("data-draft");
      var fields = form.querySelectorAll("input[type=text], input[type=email], input[type=url], textarea");
      try {
        var saved = JSON.parse(sessionStorage.getItem(key) || "{}");
        fields.forEach(function (f) { if (!f.value && saved[f.name]) { f.value = saved[f.name]; } });
      } catch (e) { /* storage unavailable: nothing to restore */ }
      form.addEventListener("input", function () {
        var data = {};
        fields.forEach(function (f) { data[f.name] = f.value; });
        try { sessionStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* full or blocked */ }
      });
      form.addEventListener("submit", function () { try { sessionStorage.removeItem(key); } catch (e) {} });
    });
  });
})();
