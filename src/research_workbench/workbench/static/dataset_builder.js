// The Dataset Builder page: the selections live here as a dataset's content ({cohorts, all_participants,
// concept_sets, prepackaged, reviews, values, and genome_selection with the Whole genome variants set}); the server
// validates them, writes the code (the newest request wins: an older one still running is aborted), previews a table
// on demand and saves. Problems come back located under "content" and are shown beside the column they belong to.
(function () {
  "use strict";

  var root = document.getElementById("dataset-builder");
  if (!root) { return; }
  var cfg = JSON.parse(document.getElementById(root.getAttribute("data-config-id")).textContent);
  var $ = function (id) { return document.getElementById(id); };

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(url, body, signal, asText) {
    return fetch(url, {method: "POST", credentials: "same-origin", signal: signal, body: JSON.stringify(body),
                       headers: {"x-csrftoken": cookie("csrftoken"), "content-type": "application/json",
                                 "accept": asText ? "text/plain, application/json" : "application/json"}})
      .then(function (r) {
        var kind = r.headers.get("content-type") || "";
        if (r.ok && asText) { return r.text().then(function (text) { return {ok: true, status: r.status, text: text}; }); }
        if (kind.indexOf("application/json") < 0) {
          return {ok: false, status: r.status, data: {error: "the server answered " + r.status, problems: []}};
        }
        return r.json().then(function (data) { return {ok: r.ok, status: r.status, data: data}; });
      });
  }

  var el = window.RW.el;  // workbench.js: one element builder for the pages' scripts

  function copy(x) { return JSON.parse(JSON.stringify(x)); }
  function slug(text) { return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-"); }

  // -- the selections ------------------------------------------------------------------------------------------
  function fromContent(content) {
    content = content || {};
    return {cohorts: copy(content.cohorts || []), all_participants: !!content.all_participants,
            concept_sets: copy(content.concept_sets || []), prepackaged: copy(content.prepackaged || []),
            reviews: copy(content.reviews || []), values: copy(content.values || {}),
            genome_selection: usedSelection(content.genome_selection)};
  }

  // The variant selection's fields that say something (the server stores only those), or null.
  function usedSelection(selection) {
    var out = {}, any = false;
    Object.keys(selection || {}).sort().forEach(function (k) {
      var v = selection[k];
      if (v === null || v === undefined || (Array.isArray(v) && !v.length)) { return; }
      out[k] = copy(v);
      any = true;
    });
    return any ? out : null;
  }

  // The stored form (as the server normalises it), for "is anything unsaved?"
  function canonical(content) {
    var c = fromContent(content), out = {cohorts: c.cohorts, concept_sets: c.concept_sets, values: c.values};
    if (c.all_participants) { out.all_participants = true; }
    if (c.prepackaged.length) { out.prepackaged = c.prepackaged; }
    if (c.reviews.length) { out.reviews = c.reviews; }
    if (c.genome_selection) { out.genome_selection = c.genome_selection; }
    var keys = Object.keys(out).sort(), values = {};
    Object.keys(c.values).sort().forEach(function (d) { values[d] = c.values[d]; });
    out.values = values;
    return JSON.stringify(keys.map(function (k) { return [k, out[k]]; }));
  }

  var state = fromContent(cfg.saved);
  var saved = cfg.saved ? canonical(cfg.saved) : null;
  var datasetId = cfg.dataset, version = cfg.version;
  var meta = {name: cfg.name || "", description: cfg.description || ""};

  function pending() {
    if (saved === null) { return state.cohorts.length > 0 || state.all_participants || state.concept_sets.length > 0 ||
                                 state.prepackaged.length > 0 || Object.keys(state.values).length > 0; }
    return canonical(state) !== saved;
  }

  // A reference (an id, or a name written through the API) matches a resource of the page's lists.
  function refIndex(refs, resource) {
    for (var i = 0; i < refs.length; i++) {
      if (refs[i] === resource.id || (typeof refs[i] === "string" && refs[i].trim().toLowerCase() === resource.name.toLowerCase())) { return i; }
    }
    return -1;
  }
  function unmatched(refs, resources) {
    return refs.filter(function (ref) { return !resources.some(function (r) { return refIndex([ref], r) === 0; }); });
  }

  var prepackagedDomain = {};
  cfg.prepackaged.forEach(function (p) { prepackagedDomain[p.name] = p.domain; });
  var catalogueOrder = Object.keys(cfg.catalogue);

  // The domains the selections draw on: each chosen set's domain (demographics: PERSON).
  function justified() {
    var out = {};
    state.prepackaged.forEach(function (name) {
      var d = prepackagedDomain[name] || (name.indexOf("survey:") === 0 ? "SURVEY" : null);
      if (d) { out[d] = true; }
    });
    cfg.concept_sets.forEach(function (s) { if (refIndex(state.concept_sets, s) >= 0) { out[s.domain] = true; } });
    return out;
  }

  // What the Values column shows: the domains drawn on, and any domain whose columns are chosen already.
  function shownDomains() {
    var shown = justified();
    Object.keys(state.values).forEach(function (d) { shown[d] = true; });
    var known = catalogueOrder.filter(function (d) { return shown[d]; });
    return known.concat(Object.keys(shown).filter(function (d) { return catalogueOrder.indexOf(d) < 0; }));
  }

  function defaults(domain) {
    var entry = cfg.catalogue[domain];
    return entry ? entry.columns.filter(function (c) { return c.default; }).map(function (c) { return c.name; }) : [];
  }

  // After a set was added or removed: a domain newly drawn on starts with its default columns; one no longer drawn
  // on loses its columns.
  function settleDomains(before) {
    var now = justified();
    Object.keys(now).forEach(function (d) {
      if (!before[d] && !state.values[d] && cfg.catalogue[d]) { state.values[d] = defaults(d); }
    });
    Object.keys(before).forEach(function (d) { if (!now[d]) { delete state.values[d]; } });
  }

  function change(mutate) {
    if (!cfg.editable) { return; }
    var before = justified();
    mutate();
    settleDomains(before);
    // The variant selection belongs to the Whole genome variants set: it goes when the set goes.
    if (state.prepackaged.indexOf(cfg.genome.set) < 0) { state.genome_selection = null; }
    changed();
  }

  function toggleRef(list, resource, on) {
    var i = refIndex(list, resource);
    if (on && i < 0) { list.push(resource.id); }
    if (!on && i >= 0) { list.splice(i, 1); }
  }

  function content() {
    var out = copy(state);
    if (!out.genome_selection) { delete out.genome_selection; }
    return out;
  }

  // -- rendering -----------------------------------------------------------------------------------------------
  // A labelled checkbox; a hint (what the set holds) below the label, read as the box's description.
  function checkbox(id, label, checked, onchange, hint) {
    var attrs = {type: "checkbox", id: id, checked: checked, disabled: !cfg.editable, on: {change: onchange},
                 "aria-describedby": hint ? id + "-hint" : null};
    return el("div", {"class": "choice"}, [el("input", attrs), el("div", {}, [
      el("label", {"for": id, text: label}), hint ? el("span", {"class": "hint block", id: id + "-hint", text: hint}) : null])]);
  }

  function renderCohorts() {
    var box = $("cohorts");
    box.querySelectorAll(".choice, .hint").forEach(function (n) { n.remove(); });
    box.appendChild(checkbox("cohort-all", "All participants", state.all_participants, function (e) {
      var on = e.target.checked; change(function () { state.all_participants = on; });
    }));
    cfg.cohorts.forEach(function (c) {
      box.appendChild(checkbox("cohort-" + c.id, c.name, refIndex(state.cohorts, c) >= 0, function (e) {
        var on = e.target.checked; change(function () { toggleRef(state.cohorts, c, on); });
      }));
    });
    unmatched(state.cohorts, cfg.cohorts).forEach(function (ref, i) {
      box.appendChild(checkbox("cohort-missing-" + i, "Cohort " + JSON.stringify(ref) + " (deleted or not found)", true, function () {
        change(function () { state.cohorts = state.cohorts.filter(function (x) { return x !== ref; }); });
      }));
    });
    if (!cfg.cohorts.length) { box.appendChild(el("p", {"class": "hint", text: "This workspace has no cohorts yet."})); }
  }

  function renderConceptSets() {
    var pre = $("prepackaged");
    pre.querySelectorAll(".choice").forEach(function (n) { n.remove(); });
    cfg.prepackaged.forEach(function (p) {
      pre.appendChild(checkbox("prepackaged-" + slug(p.name), p.label, state.prepackaged.indexOf(p.name) >= 0, function (e) {
        var on = e.target.checked;
        change(function () {
          state.prepackaged = state.prepackaged.filter(function (x) { return x !== p.name; });
          if (on) { state.prepackaged.push(p.name); }
        });
      }, p.description));
    });
    // A set the page does not offer: of the Controlled Tier only (in a Registered Tier workspace), or not in this data version.
    var controlledOnly = cfg.controlled_only || [];
    state.prepackaged.filter(function (n) { return !prepackagedDomain[n]; }).forEach(function (name, i) {
      var why = controlledOnly.indexOf(name) >= 0 ? " (Controlled Tier only)" : " (not in this data version)";
      pre.appendChild(checkbox("prepackaged-other-" + i, name + why, true, function () {
        change(function () { state.prepackaged = state.prepackaged.filter(function (x) { return x !== name; }); });
      }));
    });
    var sets = $("concept-sets");
    sets.querySelectorAll(".choice, .hint").forEach(function (n) { n.remove(); });
    cfg.concept_sets.forEach(function (s) {
      sets.appendChild(checkbox("concept-set-" + s.id, s.name, refIndex(state.concept_sets, s) >= 0, function (e) {
        var on = e.target.checked; change(function () { toggleRef(state.concept_sets, s, on); });
      }, s.domain_label + " · " + s.concepts + " concept" + (s.concepts === 1 ? "" : "s")));
    });
    unmatched(state.concept_sets, cfg.concept_sets).forEach(function (ref, i) {
      sets.appendChild(checkbox("concept-set-missing-" + i, "Concept set " + JSON.stringify(ref) + " (deleted or not found)", true, function () {
        change(function () { state.concept_sets = state.concept_sets.filter(function (x) { return x !== ref; }); });
      }));
    });
    if (!cfg.concept_sets.length) { sets.appendChild(el("p", {"class": "hint", text: "This workspace has no concept sets yet."})); }
  }

  var valuesKey = null;
  function renderValues() {
    var domains = shownDomains(), box = $("values");
    var key = JSON.stringify(domains) + (cfg.editable ? "" : "ro");
    if (key !== valuesKey) {  // rebuilt only when the domains change, so focus stays where it is
      valuesKey = key;
      box.textContent = "";
      if (!domains.length) {
        box.appendChild(el("p", {"class": "hint", id: "values-empty", text: "Choose a concept set (or Demographics) to see its domain's columns."}));
      }
      domains.forEach(function (d) { box.appendChild(domainBox(d)); });
    }
    box.querySelectorAll("input[data-domain]").forEach(function (input) {
      var chosen = state.values[input.getAttribute("data-domain")] || [];
      input.checked = chosen.indexOf(input.value) >= 0;
    });
    box.querySelectorAll("[data-chosen-count]").forEach(function (n) {
      var d = n.getAttribute("data-chosen-count"), entry = cfg.catalogue[d];
      n.textContent = (state.values[d] || []).length + " of " + (entry ? entry.columns.length : 0) + " columns";
    });
  }

  function domainBox(domain) {
    var entry = cfg.catalogue[domain], id = "values-" + slug(domain);
    var box = el("fieldset", {"class": "domain", id: id, "data-values-domain": domain}, [
      el("legend", {text: entry ? entry.label : domain}),
      el("p", {"class": "hint", "data-chosen-count": domain}),
      el("div", {"class": "problems", id: "problems-values-" + slug(domain), "aria-live": "polite"})]);
    if (!entry) {
      box.appendChild(el("p", {"class": "field-error", text: domain + " has no dataset columns in this version."}));
      return box;
    }
    if (cfg.editable) {
      box.appendChild(el("div", {"class": "domain-actions"}, [
        el("button", {type: "button", "class": "secondary compact", text: "Select all",
                      "aria-label": "Select all columns of " + entry.label, on: {click: function () {
          change(function () { state.values[domain] = entry.columns.map(function (c) { return c.name; }); });
        }}}),
        el("button", {type: "button", "class": "secondary compact", text: "Deselect all",
                      "aria-label": "Deselect all columns of " + entry.label, on: {click: function () {
          change(function () { delete state.values[domain]; });
        }}})]));
    }
    var list = el("ul", {"class": "columns"});
    entry.columns.forEach(function (c) {
      var cid = id + "-" + c.name, did = cid + "-about";
      list.appendChild(el("li", {"class": "column"}, [
        el("div", {"class": "choice"}, [
          el("input", {type: "checkbox", id: cid, value: c.name, "data-domain": domain, disabled: !cfg.editable,
                       "aria-describedby": did, on: {change: function (e) {
            var on = e.target.checked;
            change(function () {  // in the catalogue's order: the table's columns read as the dictionary lists them
              var before = state.values[domain] || [];
              var chosen = entry.columns.map(function (x) { return x.name; }).filter(function (name) {
                return name === c.name ? on : before.indexOf(name) >= 0;
              });
              if (chosen.length) { state.values[domain] = chosen; } else { delete state.values[domain]; }
            });
          }}}),
          el("label", {"for": cid}, [c.name, " ", el("span", {"class": "column-type", text: c.type.toLowerCase()})])]),
        el("p", {"class": "column-about", id: did, text: c.description})]));
    });
    box.appendChild(list);
    return box;
  }

  function renderReviews() {
    var box = $("reviews");
    box.querySelectorAll(".choice, .hint").forEach(function (n) { n.remove(); });
    if (!cfg.reviews.length) {
      box.appendChild(el("p", {"class": "hint", text: "No review sets in this workspace: Cohort Review's statuses and annotations can be added once there is one."}));
    }
    cfg.reviews.forEach(function (r) {
      box.appendChild(checkbox("review-" + r.id, r.name + " (statuses and annotations)", refIndex(state.reviews, r) >= 0, function (e) {
        var on = e.target.checked; change(function () { toggleRef(state.reviews, r, on); });
      }));
    });
    unmatched(state.reviews, cfg.reviews).forEach(function (ref, i) {
      box.appendChild(checkbox("review-missing-" + i, "Review set " + JSON.stringify(ref) + " (deleted or not found)", true, function () {
        change(function () { state.reviews = state.reviews.filter(function (x) { return x !== ref; }); });
      }));
    });
  }

  // -- the Whole genome variants set's variant selection: a small form, shown while the set is chosen ------------
  var genomeLists = {rsids: /[\s,]+/, genes: /[\s,]+/, variant_ids: /[\s,]+/, regions: /[\s;]+/};
  var genomeInputs = Array.prototype.slice.call(document.querySelectorAll("[data-genome-field]"));

  function genomeValue(input) {
    var field = input.getAttribute("data-genome-field"), text = input.value.trim();
    if (genomeLists[field]) { return text ? text.split(genomeLists[field]).filter(function (x) { return x; }) : []; }
    return text === "" ? null : Number(text);
  }

  genomeInputs.forEach(function (input) {
    input.addEventListener("change", function () {
      change(function () {
        var selection = copy(state.genome_selection || {});
        selection[input.getAttribute("data-genome-field")] = genomeValue(input);
        state.genome_selection = usedSelection(selection);
      });
    });
  });

  function renderGenome() {
    var box = $("genome-selection");
    if (!box) { return; }
    var selection = state.genome_selection || {};
    box.hidden = state.prepackaged.indexOf(cfg.genome.set) < 0 && !state.genome_selection;
    genomeInputs.forEach(function (input) {
      input.disabled = !cfg.editable;
      if (input === document.activeElement) { return; }  // never rewrite what is being typed
      var v = selection[input.getAttribute("data-genome-field")];
      input.value = v === null || v === undefined ? "" : (Array.isArray(v) ? v.join(" ") : String(v));
    });
  }

  function render() {
    var active = document.activeElement && document.activeElement.id;
    renderCohorts();
    renderConceptSets();
    renderGenome();
    renderValues();
    renderReviews();
    if (active && $(active) && document.activeElement !== $(active)) { $(active).focus(); }
    renderPreviewTabs();
    $("save-status").textContent = cfg.editable && pending() ? "Unsaved changes" + (datasetId ? " (the saved version is " + version + ")." : ".") : (datasetId ? "Saved: version " + version + "." : "");
  }

  // -- problems, each beside its column ------------------------------------------------------------------------
  function placeOf(where) {
    var m;
    if (/^content\.cohorts|^content\.all_participants/.test(where)) { return $("problems-cohorts"); }
    if (/^content\.genome_selection/.test(where)) { return $("problems-genome-selection"); }
    if (/^content\.(concept_sets|prepackaged)/.test(where)) { return $("problems-concept-sets"); }
    if (/^content\.reviews/.test(where)) { return $("problems-reviews"); }
    if ((m = /^content\.values\.([A-Z_]+)/.exec(where)) && $("problems-values-" + slug(m[1]))) { return $("problems-values-" + slug(m[1])); }
    if (/^content\.values/.test(where)) { return $("problems-values"); }
    return null;
  }

  function showProblems(data) {
    root.querySelectorAll(".problems").forEach(function (n) { n.textContent = ""; });
    var problems = (data && data.problems) || [], general = [];
    problems.forEach(function (p) {
      var place = placeOf(p.where || "");
      if (place) { place.appendChild(el("p", {"class": "field-error", "data-where": p.where, text: p.message})); }
      else { general.push((p.where ? p.where + ": " : "") + p.message); }
    });
    if (!problems.length && data && data.error) { general.push(data.error); }
    return general;
  }

  function showError(text) {
    var box = $("dataset-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // -- tabs (the WAI-ARIA pattern: arrows move between tabs, Tab moves into the panel) -------------------------
  function tabs(list, items, selected, onselect, panelId) {
    var focused = list.contains(document.activeElement);
    list.textContent = "";
    items.forEach(function (item) {
      var on = item.key === selected;
      var tab = el("button", {type: "button", role: "tab", id: list.id + "-" + slug(item.key), "aria-selected": on ? "true" : "false",
                              "aria-controls": panelId, tabindex: on || (selected === null && item === items[0]) ? "0" : "-1",
                              "data-key": item.key, text: item.label, on: {click: function () { onselect(item.key); }}});
      list.appendChild(tab);
    });
    if (focused) { (list.querySelector("[aria-selected=true]") || list.firstChild || root).focus(); }
    list.onkeydown = function (e) {
      var all = Array.prototype.slice.call(list.querySelectorAll("[role=tab]")), i = all.indexOf(document.activeElement);
      if (i < 0) { return; }
      var next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1}[e.key];
      if (next === undefined) { return; }
      e.preventDefault();
      var target = all[(next + all.length) % all.length];
      target.focus();
      target.click();
    };
  }

  // -- code: follows the selections, the newest request wins ---------------------------------------------------
  var language = cfg.languages[0].key, codeTimer = null, codeRequest = null;
  function renderCodeTabs() {
    tabs($("code-tabs"), cfg.languages.map(function (l) { return {key: l.key, label: l.label}; }), language, function (key) {
      language = key;
      renderCodeTabs();
      $("code-panel").setAttribute("aria-labelledby", "code-tabs-" + slug(key));
      fetchCode();
    }, "code-panel");
  }

  function scheduleCode() {
    clearTimeout(codeTimer);
    codeTimer = setTimeout(fetchCode, 200);
  }

  function fetchCode() {
    clearTimeout(codeTimer);
    if (codeRequest) { codeRequest.abort(); }
    codeRequest = new AbortController();
    var mine = codeRequest;
    $("code-status").textContent = "Writing the code…";
    root.setAttribute("aria-busy", "true");
    var body = {content: content(), language: language, resource_id: datasetId};
    if (cfg.editable && meta.name) { body.name = meta.name; }
    api(cfg.urls.code, body, mine.signal, true).then(function (r) {
      if (mine !== codeRequest) { return; }
      codeRequest = null;
      root.removeAttribute("aria-busy");
      if (r.ok) {
        showProblems(null);
        $("code-text").textContent = r.text;
        $("code-status").textContent = (pending() ? "Code for the selections as they are now." : "Code for the saved version " + version + ".");
        root.setAttribute("data-code-language", language);
        return;
      }
      var general = showProblems(r.data);
      $("code-text").textContent = "";
      $("code-status").textContent = "No code yet: " + (general.length ? general.join("; ") : "complete the selections (see the problems above).");
    }).catch(function (err) {
      if (err && err.name === "AbortError") { return; }
      root.removeAttribute("aria-busy");
      $("code-status").textContent = "No code: the server could not be reached.";
    });
  }

  $("copy-code").addEventListener("click", function () {
    var text = $("code-text").textContent;
    if (!text) { $("code-status").textContent = "There is no code to copy yet."; return; }
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents($("code-text"));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { $("code-status").textContent = "Copied the code to the clipboard."; },
        function () { selectIt(); $("code-status").textContent = "The code is selected: press Control+C (or Command+C) to copy it."; });
    } else {
      selectIt();
      $("code-status").textContent = "The code is selected: press Control+C (or Command+C) to copy it.";
    }
  });

  // -- preview: a tab per table, loaded when chosen --------------------------------------------------------------
  var previewTable = null, previewRequest = null, tablesKey = null;
  function tablesOf() {
    var out = [];
    catalogueOrder.forEach(function (d) { if (state.values[d]) { out.push({key: d, label: cfg.catalogue[d].label}); } });
    Object.keys(state.values).forEach(function (d) { if (catalogueOrder.indexOf(d) < 0) { out.push({key: d, label: d}); } });
    state.reviews.forEach(function (ref) {
      var r = cfg.reviews.filter(function (x) { return refIndex([ref], x) === 0; })[0];
      if (r) { out.push({key: "review_" + r.id, label: "Review: " + r.name}); }
    });
    return out;
  }

  function renderPreviewTabs() {
    var tables = tablesOf(), key = JSON.stringify(tables) + "|" + canonical(state);
    if (key === tablesKey) { return; }  // the selections did not change: a preview shown stays
    var wasShown = previewTable !== null;
    tablesKey = key;
    if (previewRequest) { previewRequest.abort(); previewRequest = null; }
    previewTable = null;
    tabs($("preview-tabs"), tables, null, loadPreview, "preview-panel");
    $("preview-table").textContent = "";
    $("preview-status").textContent = wasShown ? "The selections changed: choose a table to see its rows again." : "";
    $("preview-hint").textContent = tables.length ? "Choose a table to see its first " + cfg.preview_rows + " rows."
                                                  : "Choose the columns of a domain to preview its rows.";
  }

  function loadPreview(table) {
    previewTable = table;
    tabs($("preview-tabs"), tablesOf(), table, loadPreview, "preview-panel");
    $("preview-panel").setAttribute("aria-labelledby", "preview-tabs-" + slug(table));
    if (previewRequest) { previewRequest.abort(); }
    previewRequest = new AbortController();
    var mine = previewRequest;
    $("preview-status").textContent = "Loading the first rows…";
    $("preview-table").textContent = "";
    api(cfg.urls.preview, {content: content(), table: table, resource_id: datasetId}, mine.signal).then(function (r) {
      if (mine !== previewRequest) { return; }
      previewRequest = null;
      if (!r.ok) {
        var general = showProblems(r.data);
        $("preview-status").textContent = "No preview: " + (general.length ? general.join("; ") : "see the problems above.");
        return;
      }
      var rows = r.data.rows, columns = r.data.columns;
      $("preview-status").textContent = rows.length ? "The first " + rows.length + " row" + (rows.length === 1 ? "" : "s") + " of " + table + "." : "No rows in " + table + " for these selections.";
      if (!rows.length) { return; }
      $("preview-table").appendChild(el("table", {"class": "data", id: "preview-rows"}, [
        el("caption", {text: table + ": first " + rows.length + " rows"}),
        el("thead", {}, [el("tr", {}, columns.map(function (c) { return el("th", {scope: "col", text: c}); }))]),
        el("tbody", {}, rows.map(function (row) {
          return el("tr", {}, columns.map(function (c) { return el("td", {text: row[c] === null || row[c] === undefined ? "" : String(row[c])}); }));
        }))]));
    }).catch(function (err) {
      if (err && err.name === "AbortError") { return; }
      $("preview-status").textContent = "No preview: the server could not be reached.";
    });
  }

  // -- saving --------------------------------------------------------------------------------------------------
  function changed() {
    render();
    scheduleCode();
  }

  if (cfg.editable) {
    var dialog = $("save-dialog");
    $("open-save").addEventListener("click", function () {
      $("dataset-name").value = meta.name;
      $("dataset-description").value = meta.description;
      ["dataset-name-error", "dataset-description-error", "save-error"].forEach(function (id) { $(id).textContent = ""; });
      $("dataset-name").removeAttribute("aria-invalid");
      $("dataset-description").removeAttribute("aria-invalid");
      dialog.showModal();
    });
    $("cancel-save").addEventListener("click", function () { dialog.close(); });
    $("save-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var name = $("dataset-name").value.trim(), description = $("dataset-description").value.trim();
      var problems = [];
      if (!name) { problems.push({where: "name", message: "Give the dataset a name."}); }
      if (!description) { problems.push({where: "description", message: "Say what the dataset holds and what it is for."}); }
      if (problems.length) { fieldProblems(problems); return; }
      var body = {name: name, description: description, content: content()};
      if (datasetId) { body.resource_id = datasetId; body.expected_version = version; }
      $("save").disabled = true;
      api(cfg.urls.save, body).then(function (r) {
        $("save").disabled = false;
        if (!r.ok) {
          if (r.status === 409) { $("save-error").textContent = r.data.error; return; }
          var rest = fieldProblems(r.data.problems || []);
          var general = showProblems({problems: rest});
          $("save-error").textContent = "Not saved: " + (general.length ? general.join("; ") : rest.length ? "see the problems beside the columns." : (r.data.error || r.status));
          return;
        }
        var wasNew = datasetId !== r.data.resource_id;
        datasetId = r.data.resource_id; version = r.data.version; saved = canonical(state);
        meta = {name: r.data.name, description: r.data.description};
        dialog.close();
        showError("");
        $("dataset-title").textContent = "Dataset: " + r.data.name;
        document.title = document.title.replace(/^[^·]*·/, r.data.name + " ·");
        if (wasNew) { window.history.replaceState(null, "", r.data.url); }
        render();
        $("save-status").textContent = "Saved as version " + version + ".";
        fetchCode();
      }).catch(function () {
        $("save").disabled = false;
        $("save-error").textContent = "Not saved: the server could not be reached. Your selections are still here.";
      });
    });
    window.addEventListener("beforeunload", function (e) {
      if (pending()) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  // Name and description problems go under their fields; the others are returned.
  function fieldProblems(problems) {
    var rest = [];
    ["name", "description"].forEach(function (f) {
      $("dataset-" + f + "-error").textContent = "";
      $("dataset-" + f).removeAttribute("aria-invalid");
    });
    problems.forEach(function (p) {
      if (p.where === "name" || p.where === "description") {
        $("dataset-" + p.where + "-error").textContent = p.message;
        $("dataset-" + p.where).setAttribute("aria-invalid", "true");
      } else { rest.push(p); }
    });
    return rest;
  }

  renderCodeTabs();
  $("code-panel").setAttribute("aria-labelledby", "code-tabs-" + slug(language));
  render();
  fetchCode();
})();
