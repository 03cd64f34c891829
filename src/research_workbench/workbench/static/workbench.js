// The Workbench's small enhancements. Every page works without them: they only help.
(function () {
  "use strict";

  // An element with attributes ("text": its text, "on": its event listeners; true: present, false or null: absent)
  // and children (elements or text): the Cohort and Dataset Builders' pages build their parts with it.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "on") { Object.keys(attrs.on).forEach(function (e) { node.addEventListener(e, attrs.on[e]); }); }
      else if (attrs[k] === true) { node.setAttribute(k, ""); }
      else if (attrs[k] !== false && attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }
  window.RW = window.RW || {};
  window.RW.el = el;

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

    // A file input marked data-file-into puts the chosen file's text into that text box (forms post text only).
    document.querySelectorAll("input[type=file][data-file-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        var target = document.getElementById(input.getAttribute("data-file-into"));
        if (!input.files.length || !target) { return; }
        input.files[0].text().then(function (text) { target.value = text; target.dispatchEvent(new Event("input")); });
      });
    });

    // Drafts: a form marked data-draft keeps what was typed and chosen in this tab until it is sent.
    document.querySelectorAll("form[data-draft]").forEach(function (form) {
      var key = "draft:" + form.getAttribute("data-draft");
      var texts = form.querySelectorAll("input[type=text], input[type=email], input[type=url], input[type=number], textarea, select");
      var choices = form.querySelectorAll("input[type=checkbox], input[type=radio]");
      function id(box) { return box.name + "=" + box.value; }
      try {
        var saved = JSON.parse(sessionStorage.getItem(key) || "null");
        if (saved) {
          texts.forEach(function (f) { if (saved.texts && saved.texts[f.name] !== undefined && !f.value) { f.value = saved.texts[f.name]; } });
          if (saved.checked) { choices.forEach(function (c) { c.checked = saved.checked.indexOf(id(c)) >= 0; }); }
        }
      } catch (e) { /* storage unavailable or a draft from another version: nothing to restore */ }
      function save() {
        var data = {texts: {}, checked: []};
        texts.forEach(function (f) { data.texts[f.name] = f.value; });
        choices.forEach(function (c) { if (c.checked) { data.checked.push(id(c)); } });
        try { sessionStorage.setItem(key, JSON.stringify(data)); } catch (e) { /* full or blocked */ }
      }
      form.addEventListener("input", save);
      form.addEventListener("change", save);
      form.addEventListener("submit", function () { try { sessionStorage.removeItem(key); } catch (e) {} });
    });
  });
})();
