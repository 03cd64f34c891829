// The concept set builder in the page: search as you type, add, remove and toggle descendants without a round trip,
// and paste codes through the criteria API. Without this script every button submits the builder's form and the
// server does the same (routes/concept_sets.py); the tray travels in one hidden field either way ("201826s 45533023n
// 201820d": concept id, then s standard, n source, d standard with its descendants). The import page: a chosen file
// is read into the JSON box.
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, url, body, signal) {
    var options = {method: method, credentials: "same-origin", signal: signal,
                   headers: {"x-csrftoken": cookie("csrftoken"), "accept": "application/json"}};
    if (body !== undefined) {
      options.headers["content-type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return {ok: r.ok, data: data}; });
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  function fmt(n) { return n === null || n === undefined || n === "" ? "—" : Number(n).toLocaleString("en-US"); }
  function problemText(data, fallback) {
    var problems = (data && data.problems) || [];
    return problems.length ? problems.map(function (p) { return p.message; }).join("; ") : ((data && data.error) || fallback);
  }

  function importPage() {
    document.querySelectorAll("input[type=file][data-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) { return; }
        var reader = new FileReader();
        reader.onload = function () { document.getElementById(input.getAttribute("data-into")).value = reader.result; };
        reader.readAsText(file);
      });
    });
  }

  function builder(form) {
    var trayInput = document.getElementById("tray");
    var body = document.querySelector("#tray-table tbody");
    var countOut = document.getElementById("tray-count");
    var limit = parseInt(form.getAttribute("data-limit"), 10);
    var domain = form.getAttribute("data-domain");
    var status = el("p", {"class": "problem", role: "status", "aria-live": "polite", id: "tray-status"});
    body.parentNode.parentNode.parentNode.insertBefore(status, body.parentNode.parentNode);

    function tokens() { return trayInput.value.split(/\s+/).filter(Boolean); }
    function key(token) { var id = token.slice(0, -1), side = token.slice(-1); return id + (side === "n" ? "n" : "s"); }
    function find(token) { var k = key(token); return tokens().filter(function (t) { return key(t) === k; })[0]; }
    function save(list) {
      trayInput.value = list.join(" ");
      countOut.textContent = list.length;
      var empty = body.querySelector("tr.empty");
      if (empty && list.length) { empty.remove(); }
      if (!empty && !list.length) {
        body.appendChild(el("tr", {"class": "empty"}, [el("td", {colspan: "3", text: "Nothing yet: add concepts from the search, the tree or pasted codes."})]));
      }
      markOffered();
    }

    // Buttons offering a concept already in the set say so instead.
    function markOffered() {
      form.querySelectorAll("button[name=add]").forEach(function (b) {
        var inSet = !!find(b.value);
        b.disabled = inSet;
        b.textContent = inSet ? "In the set" : (b.getAttribute("data-label") || b.textContent);
      });
    }

    function row(token, info) {
      var standard = token.slice(-1) !== "n", descendants = token.slice(-1) === "d";
      var name = info.name || ("concept " + token.slice(0, -1));
      var head = el("th", {scope: "row"}, [name, el("span", {"class": "code",
        text: (info.vocabulary || "") + " " + (info.code || "") + (standard ? "" : " · source")})]);
      var n = info.count === null || info.count === undefined || info.count === "" ? null : Number(info.count);
      var actions = el("td", {"class": "row-actions"});
      if (standard) {
        actions.appendChild(el("button", {type: "submit", name: "descendants", value: token, "class": "link toggle",
          "aria-pressed": descendants ? "true" : "false", "aria-label": "Include descendants of " + name, text: "Include descendants"}));
        actions.appendChild(document.createTextNode(" "));
      }
      actions.appendChild(el("button", {type: "submit", name: "remove", value: token, "class": "link", "aria-label": "Remove " + name, text: "Remove"}));
      return el("tr", {"data-token": token}, [head,
        el("td", {text: n === null ? "no participants" : fmt(n) + " participant" + (n === 1 ? "" : "s")}), actions]);
    }

    function add(token, info) {
      if (find(token)) { return false; }
      var list = tokens();
      if (list.length >= limit) {
        status.textContent = "A concept set holds at most " + fmt(limit) + " concepts: remove some first.";
        return false;
      }
      list.push(token);
      body.appendChild(row(token, info));
      save(list);
      return true;
    }

    function remove(token) {
      var list = tokens().filter(function (t) { return t !== token; });
      var gone = body.querySelector('tr[data-token="' + token + '"]');
      if (gone) { gone.remove(); }
      status.textContent = "";
      save(list);
    }

    function toggle(button) {
      var token = button.value, next = token.slice(0, -1) + (token.slice(-1) === "d" ? "s" : "d");
      save(tokens().map(function (t) { return t === token ? next : t; }));
      var tr = button.closest("tr");
      tr.setAttribute("data-token", next);
      tr.querySelectorAll("button").forEach(function (b) { b.value = next; });
      button.setAttribute("aria-pressed", next.slice(-1) === "d" ? "true" : "false");
    }

    function info(button) {
      return {name: button.getAttribute("data-name"), vocabulary: button.getAttribute("data-vocabulary"),
              code: button.getAttribute("data-code"), count: button.getAttribute("data-count")};
    }

    function addButton(token, concept, label, cls) {
      return el("button", {type: "submit", name: "add", value: token, "class": cls, "data-label": label, text: label,
                           "aria-label": label + ": " + concept.name, "data-name": concept.name, "data-vocabulary": concept.vocabulary_id,
                           "data-code": concept.code, "data-count": concept.count === null ? "" : concept.count});
    }

    // -- search as you type
    var q = document.getElementById("q"), results = document.getElementById("search-results");
    var timer = null, controller = null;
    function search() {
      if (controller) { controller.abort(); }
      var term = q.value.trim();
      if (!term) { results.textContent = ""; return; }
      controller = new AbortController();
      var url = form.getAttribute("data-search") + "?q=" + encodeURIComponent(term) + "&domain=" + encodeURIComponent(domain) + "&limit=50";
      api("GET", url, undefined, controller.signal).then(function (r) {
        results.textContent = "";
        if (!r.ok) { results.appendChild(el("li", {"class": "field-error", text: problemText(r.data, "The search failed.")})); return; }
        if (!r.data.results.length) { results.appendChild(el("li", {"class": "hint", text: "No match for “" + term + "”."})); }
        r.data.results.forEach(function (h) {
          var li = el("li", {}, [h.fuzzy ? el("span", {"class": "badge", text: "close spelling"}) : null, h.fuzzy ? " " : null,
            el("span", {text: h.name + " · " + h.vocabulary_id + " " + h.code + (h.is_standard ? "" : " (source)") + " · " + fmt(h.count) + " participants"}), " ",
            addButton(h.concept_id + (h.is_standard ? "s" : "n"), h, "Add", "secondary compact")]);
          h.maps_to.forEach(function (t) {
            li.appendChild(el("div", {"class": "maps-to"}, ["→ maps to " + t.vocabulary_id + " " + t.code + " " + t.name + " ",
              addButton(t.concept_id + "s", t, "Add the standard concept", "link")]));
          });
          results.appendChild(li);
        });
        markOffered();
      }).catch(function () {});
    }
    q.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, 150); });

    // -- pasted codes through the API: each code's standard concepts (or itself), of this set's domain
    var codes = document.getElementById("codes"), map = document.getElementById("map"), report = document.getElementById("codes-report");
    function paste() {
      report.textContent = "Matching…";
      api("POST", form.getAttribute("data-codes"), {text: codes.value, map_to_standard: map.checked, domain: domain}).then(function (r) {
        report.textContent = "";
        if (!r.ok) { report.appendChild(el("p", {"class": "field-error", text: problemText(r.data, "The codes could not be matched.")})); return; }
        var other = r.data.other_domain || [], added = el("ul", {}), n = 0;
        r.data.matches.forEach(function (m) {
          if (!m.concepts.length || other.indexOf(m.input) >= 0) { return; }
          var names = [];
          m.concepts.forEach(function (c) {
            var targets = map.checked && !c.standard && c.maps_to.length ? c.maps_to : [c];
            targets.forEach(function (t) {
              if (t.domain && t.domain !== domain && !(domain === "SURVEY" && t.domain === "OBSERVATION") &&
                  !(domain === "PHYSICAL_MEASUREMENT" && t.domain === "MEASUREMENT")) { return; }
              add(t.concept_id + (t.standard ? "s" : "n"), {name: t.name, vocabulary: t.vocabulary_id, code: t.code, count: t.count});
              names.push(t.vocabulary_id + " " + t.code + " " + t.name);
            });
          });
          if (names.length) { n += 1; added.appendChild(el("li", {text: m.input + " → " + names.join("; ") + (m.status === "ambiguous" ? " (in more than one vocabulary)" : "")})); }
        });
        report.appendChild(el("p", {text: n + " code" + (n === 1 ? "" : "s") + " added."}));
        if (n) { report.appendChild(added); }
        var unmatched = r.data.matches.filter(function (m) { return !m.concepts.length; });
        if (unmatched.length) {
          report.appendChild(el("p", {"class": "problem", text: "Not matched:"}));
          report.appendChild(el("ul", {"class": "unmatched"}, unmatched.map(function (m) { return el("li", {text: m.input + ": " + m.problem}); })));
        }
        if (other.length) { report.appendChild(el("p", {"class": "problem", text: "Of another domain, not added: " + other.join(", ")})); }
        if (r.data.duplicates.length) { report.appendChild(el("p", {"class": "hint", text: "Repeated, counted once: " + r.data.duplicates.join(", ")})); }
        codes.value = "";
      });
    }

    form.addEventListener("click", function (e) {
      var b = e.target.closest("button");
      if (!b || !form.contains(b)) { return; }
      if (b.name === "add") { e.preventDefault(); add(b.value, info(b)); }
      else if (b.name === "remove") { e.preventDefault(); remove(b.value); }
      else if (b.name === "descendants") { e.preventDefault(); toggle(b); }
      else if (b.name === "action" && b.value === "paste") { e.preventDefault(); paste(); }
      else if (b.name === "action" && b.value === "search") { e.preventDefault(); search(); }
      else if (b.name === "action" && b.value === "clear") {
        e.preventDefault();
        tokens().forEach(remove);
      }
    });
    // Enter in a text box would press the form's first button (Search): search in the page instead.
    form.addEventListener("submit", function (e) {
      if (e.submitter && e.submitter.name === "action" && e.submitter.value === "search") { e.preventDefault(); search(); }
    });
    markOffered();
  }

  document.addEventListener("DOMContentLoaded", function () {
    importPage();
    var form = document.getElementById("concept-set-form");
    if (form) { builder(form); }
  });
})();
