// The Cohort Builder page: the definition lives here, every change is kept (undo/redo, a server-side draft) and
// counted (the newest request wins: an older one still running is aborted). The server validates and counts; this
// file only edits the All of Us request shape (includes/excludes of groups of items of search parameters).
(function () {
  "use strict";

  var root = document.getElementById("builder");
  if (!root) { return; }
  var cfg = JSON.parse(document.getElementById(root.getAttribute("data-config-id")).textContent);
  var $ = function (id) { return document.getElementById(id); };
  var HISTORY_LIMIT = 200;

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function api(method, url, body, signal) {
    var options = {method: method, headers: {"x-csrftoken": cookie("csrftoken"), "accept": "application/json"},
                   credentials: "same-origin", signal: signal};
    if (body !== undefined) {
      options.headers["content-type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (r) {
      if (r.status === 204) { return {ok: true, status: 204, data: null}; }
      return r.json().catch(function () { return {}; }).then(function (data) { return {ok: r.ok, status: r.status, data: data}; });
    });
  }

  var el = window.RW.el;  // workbench.js: one element builder for the pages' scripts

  function uid(prefix) { return prefix + Math.random().toString(36).slice(2, 10); }
  function copy(x) { return JSON.parse(JSON.stringify(x)); }
  function fmt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }

  // -- state, history, drafts ----------------------------------------------------------------------------------
  var empty = {includes: [], excludes: [], dataFilters: []};
  var saved = cfg.saved ? copy(cfg.saved) : copy(empty);
  var state = {name: cfg.name || "", definition: copy(saved)};
  var version = cfg.version;
  var cohortId = cfg.cohort;
  var draftKey = "cohort-builder:" + cfg.namespace + ":" + (cohortId || "new");
  if (cfg.draft && JSON.stringify(cfg.draft.definition) !== JSON.stringify(saved)) {
    state.definition = copy(cfg.draft.definition);
    state.name = cfg.draft.name || state.name;
    note("Your unsaved draft (" + new Date(cfg.draft.updated_at).toLocaleString() + ") is restored.", true);
  }
  ["includes", "excludes", "dataFilters"].forEach(function (k) { if (!state.definition[k]) { state.definition[k] = []; } });
  var history = [copy(state)], position = 0;
  try {  // the undo history of this tab survives a reload
    var kept = JSON.parse(sessionStorage.getItem(draftKey) || "null");
    if (kept && kept.history && JSON.stringify(kept.history[kept.position]) === JSON.stringify(state)) {
      history = kept.history; position = kept.position;
    }
  } catch (e) { /* storage unavailable */ }

  function note(text, discardable) {
    $("draft-status").textContent = text;
    $("discard").hidden = !discardable;
  }

  function change(mutate, keepDraft) {
    var next = copy(state);
    mutate(next);
    if (JSON.stringify(next) === JSON.stringify(state)) { return; }
    history = history.slice(0, position + 1);
    history.push(copy(next));
    if (history.length > HISTORY_LIMIT) { history.shift(); }
    position = history.length - 1;
    state = next;
    changed(keepDraft);
  }

  function move(step) {
    if (position + step < 0 || position + step >= history.length) { return; }
    position += step;
    state = copy(history[position]);
    changed();
  }

  function changed(keepDraft) {  // keepDraft: the server's draft is already right (just discarded)
    try { sessionStorage.setItem(draftKey, JSON.stringify({history: history, position: position})); } catch (e) {}
    render();
    scheduleResults();
    if (!keepDraft) { scheduleDraft(); }
  }

  var draftTimer = null;
  function scheduleDraft() {
    if (!cfg.editable) { return; }
    clearTimeout(draftTimer);
    note("Saving draft…", false);
    draftTimer = setTimeout(function () {
      api("POST", cfg.urls.draft, {cohort: cohortId, base_version: version, name: state.name, definition: state.definition})
        .then(function (r) {
          if (r.ok) { note("Draft saved " + new Date(r.data.saved_at).toLocaleTimeString() + " (not yet a version: Save makes one)", true); }
          else { note("The draft could not be saved: " + ((r.data && (r.data.error || r.data.detail)) || r.status), true); }
        }).catch(function () { note("The draft could not be saved (offline?); your work is kept in this tab.", true); });
    }, 500);
  }

  // -- results: the newest request wins ------------------------------------------------------------------------
  var resultsTimer = null, inflight = null, last = null;
  function scheduleResults() {
    clearTimeout(resultsTimer);
    resultsTimer = setTimeout(fetchResults, 150);
  }

  function fetchResults() {
    if (inflight) { inflight.abort(); }
    if (!state.definition.includes.length) {
      last = null;
      $("total-count").textContent = "–";
      $("results-state").textContent = "Add an include group to see a count.";
      $("sentence").textContent = "";
      $("funnel").textContent = "";
      $("chart").textContent = "";
      return;
    }
    inflight = new AbortController();
    $("results-state").textContent = "Counting…";
    root.setAttribute("aria-busy", "true");
    api("POST", cfg.urls.results, {definition: state.definition}, inflight.signal).then(function (r) {
      inflight = null;
      root.removeAttribute("aria-busy");
      if (!r.ok) {
        var problems = (r.data && r.data.problems) || [];
        $("results-state").textContent = "Not counted: " + (problems.length ? problems.map(function (p) {
          return (p.where ? p.where + ": " : "") + p.message; }).join("; ") : (r.data && (r.data.error || r.data.detail)) || r.status);
        return;
      }
      last = r.data;
      $("results-state").textContent = "(" + r.data.milliseconds + " ms)";
      showResults();
    }).catch(function (err) {
      if (err && err.name === "AbortError") { return; }  // a newer definition is being counted
      root.removeAttribute("aria-busy");
      $("results-state").textContent = "Not counted: the server could not be reached.";
    });
  }

  function showResults() {
    if (!last) { return; }
    $("total-count").textContent = fmt(last.count);
    $("sentence").textContent = last.sentence;
    document.querySelectorAll("[data-count-group]").forEach(function (n) {
      var c = last.groups[n.getAttribute("data-count-group")];
      n.textContent = c === null || c === undefined ? "not counted" : fmt(c) + (c === 1 ? " participant" : " participants");
    });
    document.querySelectorAll("[data-count-item]").forEach(function (n) {
      var c = last.items[n.getAttribute("data-count-item")];
      n.textContent = c === null || c === undefined ? "" : fmt(c);
    });
    drawFunnel(last.attrition);
    drawChart();
  }

  // -- charts: SVG with a table beside (toggle) ----------------------------------------------------------------
  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) { n.textContent = text; }
    return n;
  }

  function withTable(container, title, chart, table) {
    container.textContent = "";
    var toggle = el("button", {type: "button", "class": "link", "aria-pressed": "false", text: "Show as table"});
    table.hidden = true;
    toggle.addEventListener("click", function () {
      var showTable = table.hidden;
      table.hidden = !showTable; chart.style.display = showTable ? "none" : "";
      toggle.textContent = showTable ? "Show as chart" : "Show as table";
      toggle.setAttribute("aria-pressed", String(showTable));
    });
    container.appendChild(chart);
    container.appendChild(table);
    container.appendChild(toggle);
  }

  function drawFunnel(steps) {
    // One row per step: what it is, a bar of the participants left (relative to everyone), and the number.
    var max = Math.max.apply(null, steps.map(function (s) { return s.remaining; }).concat([1]));
    var rows = el("ol", {"class": "funnel", "aria-label": "Attrition: participants left after each step"}, steps.map(function (s) {
      var bar = svg("svg", {viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true", "class": "funnel-bar"});
      bar.appendChild(svg("rect", {x: 0, y: 0, width: Math.max(0.5, 100 * s.remaining / max), height: 10, "class": "bar bar-" + s.kind}));
      return el("li", {"class": "step-" + s.kind}, [
        el("span", {"class": "funnel-label", text: ({include: "AND ", exclude: "NOT "}[s.kind] || "") + s.label}),
        bar, el("span", {"class": "funnel-count", text: fmt(s.remaining)})]);
    }));
    var table = el("table", {"class": "data"}, [
      el("caption", {text: "Participants left after each step"}),
      el("thead", {}, [el("tr", {}, [el("th", {scope: "col", text: "Step"}), el("th", {scope: "col", text: "Matches"}),
                                     el("th", {scope: "col", text: "Remaining"})])]),
      el("tbody", {}, steps.map(function (s) {
        var verb = {all: "", filter: "", include: "and ", exclude: "not "}[s.kind];
        return el("tr", {}, [el("th", {scope: "row", text: verb + s.label}), el("td", {text: fmt(s.matched)}),
                              el("td", {text: fmt(s.remaining)})]);
      }))]);
    withTable($("funnel"), "Attrition", rows, table);
  }

  function drawChart() {
    var key = $("chart-by").value, rows = (last && last.demographics[key]) || [];
    var values = [], bands = [];
    rows.forEach(function (r) {
      if (values.indexOf(r.name) < 0) { values.push(r.name); }
      if (bands.indexOf(r.age_band) < 0) { bands.push(r.age_band); }
    });
    bands.sort();
    var totals = values.map(function (v) { return rows.filter(function (r) { return r.name === v; }).reduce(function (a, r) { return a + r.count; }, 0); });
    var max = Math.max.apply(null, totals.concat([1]));
    var width = 320, bar = 18, gap = 40, label = 14;
    var chart = svg("svg", {viewBox: "0 0 " + width + " " + Math.max(gap, values.length * gap + 24), role: "img",
                            "aria-label": $("chart-by").selectedOptions[0].textContent + ": " +
                              values.map(function (v, i) { return v + " " + totals[i]; }).join("; ")});
    values.forEach(function (v, i) {
      var y = i * gap, x = 0;
      chart.appendChild(svg("text", {x: 0, y: y + label - 2, "class": "bar-label"}, v + " (" + fmt(totals[i]) + ")"));
      bands.forEach(function (b, j) {
        var r = rows.filter(function (r) { return r.name === v && r.age_band === b; })[0];
        if (!r) { return; }
        var w = Math.max(1, (width - 10) * r.count / max);
        var rect = svg("rect", {x: x, y: y + label, width: w, height: bar, "class": "seg seg-" + (j % 8)});
        rect.appendChild(svg("title", {}, v + ", " + b + ": " + r.count));
        chart.appendChild(rect);
        x += w;
      });
    });
    // A swatch of the band's colour, then the band in ink (white on some of the colours is below WCAG AA)
    var legend = bands.map(function (b, j) {
      return el("span", {}, [el("span", {"class": "legend seg-" + (j % 8), "aria-hidden": "true", text: "\u00a0"}), b + " "]); });
    var table = el("table", {"class": "data"}, [
      el("caption", {text: $("chart-by").selectedOptions[0].textContent + " by age band"}),
      el("thead", {}, [el("tr", {}, [el("th", {scope: "col", text: "Value"})].concat(bands.map(function (b) {
        return el("th", {scope: "col", text: b}); })))]),
      el("tbody", {}, values.map(function (v) {
        return el("tr", {}, [el("th", {scope: "row", text: v})].concat(bands.map(function (b) {
          var r = rows.filter(function (r) { return r.name === v && r.age_band === b; })[0];
          return el("td", {text: r ? fmt(r.count) : "0"});
        })));
      }))]);
    withTable($("chart"), "Demographics", el("div", {}, [chart, el("p", {"class": "legend-row"}, legend)]), table);
  }

  // -- describing what is on the page --------------------------------------------------------------------------
  var OPS = {EQUAL: "=", NOT_EQUAL: "≠", LESS_THAN: "<", GREATER_THAN: ">", LESS_THAN_OR_EQUAL_TO: "≤",
             GREATER_THAN_OR_EQUAL_TO: "≥", BETWEEN: "between", IN: "in"};
  var MODIFIER_LABELS = {AGE_AT_EVENT: "age at event", EVENT_DATE: "event date", NUM_OF_OCCURRENCES: "occurrences",
                         ENCOUNTERS: "visit type"};
  function comparison(x) {
    return x.operator === "BETWEEN" ? x.operands[0] + "–" + x.operands[1] : OPS[x.operator] + " " + x.operands.join(", ");
  }
  function paramText(p) {
    var text = p.name || (p.conceptId ? "concept " + p.conceptId : p.domain.toLowerCase().replace(/_/g, " "));
    if (p.code) { text += " (" + p.type + " " + p.code + ")"; }
    (p.attributes || []).forEach(function (a) {
      if (a.name === "NUM") { text += ", value " + comparison(a); }
      else if (a.name === "CAT") { text += ", answer " + (p.answerName || a.operands.join(", ")); }
      else if (a.name.indexOf("AGE") === 0) { text += " " + comparison(a); }
    });
    return text;
  }
  function itemText(item) {
    var text = item.searchParameters.map(paramText).join(" or ");
    (item.modifiers || []).forEach(function (m) { text += "; " + MODIFIER_LABELS[m.name] + " " + comparison(m); });
    return text;
  }

  // -- rendering the groups ------------------------------------------------------------------------------------
  var undoToast = null;
  function render() {
    $("cohort-name").value = state.name;
    $("undo").disabled = position === 0;
    $("redo").disabled = position >= history.length - 1;
    document.querySelectorAll("[data-filter]").forEach(function (box) {
      box.checked = state.definition.dataFilters.indexOf(box.getAttribute("data-filter")) >= 0;
      box.disabled = !cfg.editable;
    });
    ["includes", "excludes"].forEach(function (side) {
      var box = $(side);
      box.textContent = "";
      var groups = state.definition[side];
      if (!groups.length) { box.appendChild(el("p", {"class": "hint", text: "No groups yet."})); }
      groups.forEach(function (group, g) { box.appendChild(groupCard(side, group, g)); });
    });
    document.querySelectorAll(".add-group").forEach(function (b) { b.hidden = !cfg.editable; });
    if (!cfg.editable) { root.querySelectorAll(".builder-bar button").forEach(function (b) { b.disabled = true; }); }
    showResults();
  }

  function button(text, handler, extra) {
    var attrs = {type: "button", "class": "secondary compact", text: text, on: {click: handler}};
    Object.keys(extra || {}).forEach(function (k) { attrs[k] = extra[k]; });
    if (!cfg.editable) { attrs.disabled = true; }
    return el("button", attrs);
  }

  function groupCard(side, group, g) {
    var title = (side === "includes" ? "Include group " : "Exclude group ") + (g + 1) + (group.name ? ": " + group.name : "");
    var headingId = "h-" + group.id;
    var card = el("article", {"class": "group" + (group.suppressed ? " suppressed" : ""), "data-group": group.id,
                              "aria-labelledby": headingId}, [
      el("header", {}, [
        el("h3", {id: headingId, text: title}),
        el("span", {"class": "count", "data-count-group": group.id, "aria-live": "polite"}),
      ]),
    ]);
    if (group.suppressed) { card.appendChild(el("p", {"class": "hint", text: "Suppressed: kept here but not counted."})); }
    var actions = el("div", {"class": "actions"}, [
      button("Add criteria", function () { openCriteria(side, group.id); }),
      button("Rename", function () {
        var name = window.prompt("Name of " + title, group.name || "");
        if (name !== null) { change(function (s) { findGroup(s, group.id).name = name.trim() || undefined; }); }
      }),
      button(group.temporal ? "Make not temporal" : "Make temporal", function () {
        change(function (s) {
          var gr = findGroup(s, group.id);
          if (gr.temporal) {
            gr.temporal = false; delete gr.mention; delete gr.time; delete gr.timeValue;
            gr.items.forEach(function (it) { delete it.temporalGroup; });
          } else {
            gr.temporal = true; gr.mention = "ANY_MENTION"; gr.time = "X_DAYS_BEFORE"; gr.timeValue = 30;
            gr.items.forEach(function (it, i) { it.temporalGroup = i === 0 ? 0 : 1; });
          }
        });
      }),
      button(group.suppressed ? "Count it again" : "Suppress from count", function () {
        change(function (s) { var gr = findGroup(s, group.id); gr.suppressed = !gr.suppressed || undefined; });
      }),
      button("Delete group", function () {
        change(function (s) { s.definition[side] = s.definition[side].filter(function (x) { return x.id !== group.id; }); });
        offerUndo("Deleted " + title + ".");
      }),
    ]);
    card.appendChild(actions);
    if (group.temporal) { card.appendChild(temporalSettings(group)); }
    var list = el("ul", {"class": "items"});
    group.items.forEach(function (item) { list.appendChild(itemRow(group, item)); });
    card.appendChild(list);
    return card;
  }

  function temporalSettings(group) {
    function select(label, value, options, onchange) {
      var id = uid("t");
      var s = el("select", {id: id, disabled: !cfg.editable, on: {change: function () { onchange(s.value); }}},
        options.map(function (o) { return el("option", {value: o[0], selected: o[0] === value, text: o[1]}); }));
      return el("span", {"class": "field-inline"}, [el("label", {"for": id, text: label}), s]);
    }
    var days = el("input", {type: "number", min: "0", id: uid("d"), value: group.timeValue === undefined ? "" : group.timeValue,
                            disabled: !cfg.editable || group.time === "DURING_SAME_ENCOUNTER_AS",
                            on: {change: function () { change(function (s) { findGroup(s, group.id).timeValue = Math.max(0, parseInt(days.value || "0", 10)); }); }}});
    return el("div", {"class": "temporal"}, [
      select("Mention", group.mention, [["ANY_MENTION", "Any mention of"], ["FIRST_MENTION", "First mention of"], ["LAST_MENTION", "Last mention of"]],
             function (v) { change(function (s) { findGroup(s, group.id).mention = v; }); }),
      el("span", {"class": "hint", text: "the first criteria, "}),
      select("Relation", group.time, [["X_DAYS_BEFORE", "at least X days before"], ["X_DAYS_AFTER", "at least X days after"],
                                      ["WITHIN_X_DAYS_OF", "within X days of"], ["DURING_SAME_ENCOUNTER_AS", "during the same visit as"]],
             function (v) { change(function (s) { var gr = findGroup(s, group.id); gr.time = v;
                                                  if (v === "DURING_SAME_ENCOUNTER_AS") { delete gr.timeValue; } else if (gr.timeValue === undefined) { gr.timeValue = 30; } }); }),
      el("span", {"class": "field-inline"}, [el("label", {"for": days.id, text: "X (days)"}), days]),
      el("span", {"class": "hint", text: "the second criteria."}),
    ]);
  }

  function itemRow(group, item) {
    var row = el("li", {"class": "item" + (item.suppressed ? " suppressed" : ""), "data-item": item.id}, [
      el("span", {"class": "item-text", text: itemText(item) + (item.suppressed ? " (suppressed)" : "")}),
      el("span", {"class": "count", "data-count-item": item.id}),
    ]);
    if (group.temporal) {
      var id = uid("side");
      var sideSelect = el("select", {id: id, disabled: !cfg.editable, on: {change: function () {
        change(function (s) { findItem(s, item.id).temporalGroup = parseInt(sideSelect.value, 10); }); }}}, [
        el("option", {value: "0", selected: item.temporalGroup === 0, text: "first criteria"}),
        el("option", {value: "1", selected: item.temporalGroup === 1, text: "second criteria"})]);
      row.appendChild(el("span", {"class": "field-inline"}, [el("label", {"for": id, text: "Side"}), sideSelect]));
    }
    var eventDomain = cfg.event_domains.indexOf(item.type) >= 0;
    row.appendChild(el("span", {"class": "actions"}, [
      eventDomain ? button("Modifiers and values", function () { openModifiers(item.id); }) : null,
      button(item.suppressed ? "Count it again" : "Suppress", function () {
        change(function (s) { var it = findItem(s, item.id); it.suppressed = !it.suppressed || undefined; });
      }),
      button("Delete", function () {
        change(function (s) {
          var gr = findGroup(s, group.id);
          gr.items = gr.items.filter(function (x) { return x.id !== item.id; });
          if (!gr.items.length) { ["includes", "excludes"].forEach(function (side) { s.definition[side] = s.definition[side].filter(function (x) { return x.id !== gr.id; }); }); }
        });
        offerUndo("Deleted a criterion.");
      }),
    ]));
    return row;
  }

  function offerUndo(text) {
    if (undoToast) { undoToast.remove(); }
    undoToast = el("div", {"class": "toast", role: "status"}, [text + " ", el("button", {type: "button", "class": "link", text: "Undo",
      on: {click: function () { move(-1); undoToast.remove(); undoToast = null; }}})]);
    document.body.appendChild(undoToast);
    setTimeout(function () { if (undoToast) { undoToast.remove(); undoToast = null; } }, 10000);
  }

  function findGroup(s, id) {
    return s.definition.includes.concat(s.definition.excludes).filter(function (g) { return g.id === id; })[0];
  }
  function findItem(s, id) {
    var found = null;
    s.definition.includes.concat(s.definition.excludes).forEach(function (g) {
      g.items.forEach(function (it) { if (it.id === id) { found = it; } });
    });
    return found;
  }

  // -- the criteria dialog: menu, search, browse, paste codes, tray --------------------------------------------
  var target = null, tray = [], domain = null;

  function openCriteria(side, groupId) {
    target = {side: side, group: groupId};
    tray = [];
    drawTray();
    var menu = $("criteria-menu");
    menu.textContent = "";
    cfg.menu.forEach(function (section) {
      menu.appendChild(el("h3", {text: section.section}));
      var list = el("ul", {});
      section.items.forEach(function (entry) {
        list.appendChild(el("li", {}, [el("button", {type: "button", "class": "link", "data-entry": entry.kind + ":" + entry.domain,
          text: (entry.section ? entry.section + ": " : "") + entry.label, on: {click: function () { showDomain(entry); }}})]));
      });
      menu.appendChild(list);
    });
    $("criteria-heading").textContent = groupId ? "Add criteria to the group" : (side === "includes" ? "New include group" : "New exclude group");
    $("criteria").showModal();
    showDomain(cfg.menu[1].items[0]);
  }

  function toTray(param, label) {
    var key = param.domain + ":" + param.conceptId + ":" + param.standard + ":" + JSON.stringify(param.attributes || []) + ":" + param.type +
              ":" + JSON.stringify(param.variant || null);
    if (tray.some(function (t) { return t.key === key; })) { return; }
    param.parameterId = uid("p");
    tray.push({key: key, param: param, label: label || paramText(param)});
    drawTray();
  }

  function drawTray() {
    var list = $("tray-list");
    list.textContent = "";
    tray.forEach(function (t, i) {
      list.appendChild(el("li", {}, [t.label + " ", el("button", {type: "button", "class": "link", text: "Remove",
        "aria-label": "Remove " + t.label, on: {click: function () { tray.splice(i, 1); drawTray(); }}})]));
    });
    if (!tray.length) { list.appendChild(el("li", {"class": "hint", text: "Nothing selected yet."})); }
    $("tray-add").disabled = !tray.length;
  }

  $("tray-add").addEventListener("click", function () {
    // One item per domain; variant criteria apart from a domain's other parameters (a has-data flag), which an
    // item may not mix with them.
    var byDomain = {};
    tray.forEach(function (t) {
      var k = t.param.domain + (t.param.variant ? ":variant" : "");
      (byDomain[k] = byDomain[k] || []).push(t.param);
    });
    change(function (s) {
      var group = target.group ? findGroup(s, target.group) : null;
      if (!group) {
        group = {id: uid("g"), items: []};
        s.definition[target.side].push(group);
        target.group = group.id;
      }
      Object.keys(byDomain).forEach(function (d) {
        var params = byDomain[d].map(function (p) { var q = copy(p); delete q.answerName; delete q.code; return q; });
        var item = {id: uid("i"), type: params[0].domain, searchParameters: params, modifiers: []};
        if (group.temporal) { item.temporalGroup = group.items.length ? 1 : 0; }
        group.items.push(item);
      });
    });
    tray = [];
    drawTray();
    $("criteria").close();
  });

  function showDomain(entry) {
    domain = entry;
    $("domain-heading").textContent = entry.label;
    document.querySelectorAll("#criteria-menu [data-entry]").forEach(function (b) {
      b.setAttribute("aria-current", b.getAttribute("data-entry") === entry.kind + ":" + entry.domain ? "true" : "false");
    });
    var panel = $("domain-panel");
    panel.textContent = "";
    if (entry.kind === "flag") {
      panel.appendChild(el("p", {text: "Participants who have any " + entry.label.toLowerCase() + " data."}));
      panel.appendChild(el("button", {type: "button", text: "Select: has " + entry.label.toLowerCase() + " data", on: {click: function () {
        toTray({domain: entry.domain, type: entry.domain, standard: true, group: false, attributes: [], name: "Has " + entry.label.toLowerCase() + " data"});
      }}}));
      return;
    }
    if (entry.kind === "person") { return personPanel(panel); }
    if (entry.kind === "variants") { return variantsPanel(panel, entry); }
    if (entry.kind === "event") { panel.appendChild(searchBox(entry)); }
    if (entry.domain === "PHYSICAL_MEASUREMENT") {
      panel.appendChild(el("button", {type: "button", "class": "secondary", text: "Select: has any physical measurements", on: {click: function () {
        toTray({domain: entry.domain, type: "PPI", standard: false, group: false, attributes: [], name: "Has physical measurements"});
      }}}));
    }
    panel.appendChild(browsePanel(entry));
    if (entry.kind === "event" && entry.domain !== "PHYSICAL_MEASUREMENT") { panel.appendChild(codesPanel(entry)); }
  }

  function paramOf(entry, node) {
    return {domain: entry.domain, type: node.vocabulary_id ? node.vocabulary_id.toUpperCase() : entry.domain,
            standard: !!node.is_standard, group: !!(node.is_standard && node.has_children), conceptId: node.concept_id,
            attributes: [], name: node.name, code: node.code};
  }

  function searchBox(entry) {
    var id = uid("q"), results = el("ul", {"class": "hits", "aria-live": "polite"});
    var input = el("input", {type: "search", id: id, autocomplete: "off", placeholder: "Name, code or synonym"});
    var timer = null, controller = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (controller) { controller.abort(); }
        var q = input.value.trim();
        results.textContent = "";
        if (!q) { return; }
        controller = new AbortController();
        var url = cfg.urls.search + "?q=" + encodeURIComponent(q) + "&domain=" + encodeURIComponent(entry.domain);
        api("GET", url, undefined, controller.signal).then(function (r) {
          var hits = Array.isArray(r.data) ? r.data : (r.data && (r.data.results || r.data.hits)) || [];
          if (!r.ok) { results.appendChild(el("li", {"class": "field-error", text: (r.data && (r.data.error || r.data.detail)) || "Search failed"})); return; }
          if (!hits.length) { results.appendChild(el("li", {"class": "hint", text: "No match for “" + q + "”."})); }
          hits.forEach(function (h) { results.appendChild(hitRow(entry, h)); });
        }).catch(function () {});
      }, 120);
    });
    return el("div", {"class": "search"}, [el("label", {"for": id, text: "Search " + entry.label.toLowerCase()}), input, results]);
  }

  function hitRow(entry, h) {
    var node = {concept_id: h.concept_id, name: h.name, code: h.code, vocabulary_id: h.vocabulary_id, is_standard: h.is_standard,
                has_children: h.is_standard};
    var row = el("li", {}, [
      el("span", {text: h.name + " · " + h.vocabulary_id + " " + h.code + (h.is_standard ? "" : " (source)") + " · " + fmt(h.count) + " participants"}),
      " ", el("button", {type: "button", "class": "secondary compact", text: "Select", "aria-label": "Select " + h.name,
                         on: {click: function () { toTray(paramOf(entry, node)); }}}),
    ]);
    (h.maps_to || []).forEach(function (m) {
      row.appendChild(el("div", {"class": "maps-to"}, [
        "→ maps to " + m.vocabulary_id + " " + m.code + " " + m.name + " ",
        el("button", {type: "button", "class": "link", text: "Select the standard concept", on: {click: function () {
          toTray(paramOf(entry, {concept_id: m.concept_id, name: m.name, code: m.code, vocabulary_id: m.vocabulary_id, is_standard: true, has_children: true}));
        }}})]));
    });
    return row;
  }

  function browsePanel(entry) {
    var box = el("div", {"class": "browse"});
    var standard = !(entry.domain === "PHYSICAL_MEASUREMENT" || entry.kind === "survey");
    var heading = el("h4", {text: "Browse"});
    box.appendChild(heading);
    if (entry.kind === "event" && entry.domain !== "PHYSICAL_MEASUREMENT") {
      var id = uid("src");
      var toggle = el("input", {type: "checkbox", id: id, on: {change: function () { load(tree, null, null, !toggle.checked); }}});
      box.appendChild(el("div", {"class": "choice"}, [toggle, el("label", {"for": id, text: "Source vocabularies (ICD9CM, ICD10CM, CPT4 …) instead of standard"})]));
    }
    var tree = el("ul", {"class": "tree", role: "tree", "aria-label": entry.label});
    box.appendChild(tree);
    function load(list, parent, level, std) {
      list.textContent = "";
      list.appendChild(el("li", {"class": "hint", text: "Loading…"}));
      var url = cfg.urls.browse + "?domain=" + entry.domain + "&standard=" + std + (parent ? "&parent=" + parent : "") + (level ? "&level=" + level : "");
      api("GET", url).then(function (r) {
        list.textContent = "";
        if (!r.ok) { list.appendChild(el("li", {"class": "field-error", text: (r.data && (r.data.error || r.data.detail)) || "Could not load"})); return; }
        if (!r.data.nodes.length) { list.appendChild(el("li", {"class": "hint", text: "Nothing here."})); }
        r.data.nodes.forEach(function (n) { list.appendChild(treeNode(n, std)); });
        if (r.data.total > r.data.nodes.length) { list.appendChild(el("li", {"class": "hint", text: "Showing " + r.data.nodes.length + " of " + fmt(r.data.total) + ": search to find the rest."})); }
      });
    }
    function treeNode(n, std) {
      var li = el("li", {role: "treeitem", "aria-expanded": n.has_children ? "false" : null});
      var children = el("ul", {role: "group", hidden: true});
      var label = n.name + (n.code ? " (" + n.vocabulary_id + " " + n.code + ")" : "") + " · " + fmt(n.item_count) +
        (n.rollup_count !== n.item_count ? " / " + fmt(n.rollup_count) + " with descendants" : "");
      if (n.has_children) {
        li.appendChild(el("button", {type: "button", "class": "link expand", "aria-label": "Open " + n.name, text: "▸", on: {click: function (e) {
          var open = children.hidden;
          children.hidden = !open;
          li.setAttribute("aria-expanded", String(open));
          e.currentTarget.textContent = open ? "▾" : "▸";
          if (open && !children.childNodes.length) { load(children, n.concept_id, n.level || null, std); }
        }}}));
      }
      li.appendChild(el("span", {text: " " + label + " "}));
      if (entry.kind === "survey") {
        if (n.level === "question") {
          li.appendChild(el("button", {type: "button", "class": "secondary compact", text: "Select", "aria-label": "Select " + n.name, on: {click: function () {
            toTray({domain: "SURVEY", type: "PPI", standard: false, group: false, conceptId: n.concept_id, attributes: [], name: n.name});
          }}}));
        } else if (n.level === "answer") {
          li.appendChild(el("button", {type: "button", "class": "secondary compact", text: "Select", "aria-label": "Select " + n.name, on: {click: function () {
            var q = li.parentNode.parentNode;
            toTray({domain: "SURVEY", type: "PPI", standard: false, group: false, conceptId: parseInt(q.getAttribute("data-concept"), 10),
                    attributes: [{name: "CAT", operator: "IN", operands: [String(n.concept_id)]}],
                    name: q.getAttribute("data-name"), answerName: n.name});
          }}}));
        }
        li.setAttribute("data-concept", n.concept_id);
        li.setAttribute("data-name", n.name);
      } else {
        li.appendChild(el("button", {type: "button", "class": "secondary compact", text: "Select", "aria-label": "Select " + n.name,
                                     on: {click: function () { toTray(paramOf(entry, n)); }}}));
      }
      li.appendChild(children);
      return li;
    }
    load(tree, null, null, standard);
    return box;
  }

  function codesPanel(entry) {
    var id = uid("codes"), mapId = uid("map");
    var area = el("textarea", {id: id, rows: "4", placeholder: "E11.9, I10\nor one code per line; VOCABULARY:code to be exact"});
    var map = el("input", {type: "checkbox", id: mapId, checked: true});
    var out = el("div", {"class": "codes-result", "aria-live": "polite"});
    var go = el("button", {type: "button", "class": "secondary", text: "Match codes", on: {click: function () {
      out.textContent = "Matching…";
      api("POST", cfg.urls.codes, {text: area.value, map_to_standard: map.checked, domain: entry.domain}).then(function (r) {
        out.textContent = "";
        if (!r.ok) {
          var problems = (r.data && r.data.problems) || [];
          out.appendChild(el("p", {"class": "field-error", text: problems.length ? problems.map(function (p) { return p.message; }).join("; ") : ((r.data && (r.data.error || r.data.detail)) || "Could not match")}));
          return;
        }
        codesResult(entry, r.data, out);
      });
    }}});
    return el("div", {"class": "paste"}, [el("h4", {text: "Paste codes"}),
      el("label", {"for": id, text: "ICD9CM, ICD10CM, SNOMED, RxNorm, LOINC or CPT4 codes"}), area,
      el("div", {"class": "choice"}, [map, el("label", {"for": mapId, text: "Use the standard concept each code maps to"})]), go, out]);
  }

  function codesResult(entry, data, out) {
    var matched = data.matches || data.matched || [];
    var chosen = [];
    matched.forEach(function (m) {
      (m.concepts || [m]).forEach(function (c) {
        var targets = data.map_to_standard !== false && c.maps_to && c.maps_to.length && !c.standard ? c.maps_to : [c];
        targets.forEach(function (t) {
          var dom = t.domain || c.domain;
          if (dom && entry.domain && dom !== entry.domain) { return; }
          chosen.push({input: m.input || m.code, concept: t});
        });
      });
    });
    var list = el("ul", {});
    chosen.forEach(function (x) {
      list.appendChild(el("li", {text: x.input + " → " + (x.concept.vocabulary_id || "") + " " + (x.concept.code || x.concept.concept_code || "") + " " + (x.concept.name || x.concept.concept_name || "")}));
    });
    out.appendChild(el("p", {text: chosen.length + " concept" + (chosen.length === 1 ? "" : "s") + " matched."}));
    out.appendChild(list);
    var unmatched = data.unmatched || [];
    if (unmatched.length) {
      out.appendChild(el("p", {"class": "field-error", text: "Not matched: " + unmatched.map(function (u) { return typeof u === "string" ? u : (u.input || u.code); }).join(", ")}));
    }
    if (chosen.length) {
      out.appendChild(el("button", {type: "button", text: "Select all matched", on: {click: function () {
        chosen.forEach(function (x) {
          var c = x.concept;
          toTray({domain: entry.domain, type: (c.vocabulary_id || entry.domain).toUpperCase(), standard: !!(c.standard || c.is_standard),
                  group: false, conceptId: c.concept_id, attributes: [], name: c.name || c.concept_name, code: c.code || c.concept_code});
        });
      }}}));
    }
  }

  function personPanel(panel) {
    var labels = {sex_at_birth: ["SEX", "Sex at birth"], gender: ["GENDER", "Gender"], race: ["RACE", "Race"], ethnicity: ["ETHNICITY", "Ethnicity"]};
    // Age
    var attrId = uid("age"), opId = uid("op"), aId = uid("a"), bId = uid("b");
    var attr = el("select", {id: attrId}, [el("option", {value: "AGE", text: "Current age"}), el("option", {value: "AGE_AT_CONSENT", text: "Age at consent"}),
                                           el("option", {value: "AGE_AT_CDR", text: "Age at the data cut-off"})]);
    var op = el("select", {id: opId}, [["BETWEEN", "between"], ["GREATER_THAN_OR_EQUAL_TO", "at least"], ["LESS_THAN_OR_EQUAL_TO", "at most"]].map(function (o) {
      return el("option", {value: o[0], text: o[1]}); }));
    var a = el("input", {type: "number", id: aId, min: "0", max: "120", value: "18"}), b = el("input", {type: "number", id: bId, min: "0", max: "120", value: "65"});
    op.addEventListener("change", function () { b.disabled = op.value !== "BETWEEN"; });
    panel.appendChild(el("fieldset", {}, [el("legend", {text: "Age"}),
      el("label", {"for": attrId, text: "Which age"}), attr, el("label", {"for": opId, text: "Is"}), op,
      el("label", {"for": aId, text: "Years"}), a, el("label", {"for": bId, text: "and"}), b,
      el("button", {type: "button", "class": "secondary", text: "Select this age range", on: {click: function () {
        var operands = op.value === "BETWEEN" ? [a.value, b.value] : [a.value];
        toTray({domain: "PERSON", type: "AGE", standard: true, group: false,
                attributes: [{name: attr.value, operator: op.value, operands: operands}],
                name: attr.selectedOptions[0].textContent + " " + comparison({operator: op.value, operands: operands})});
      }}})]));
    Object.keys(labels).forEach(function (key) {
      var options = (cfg.people[key] || []);
      panel.appendChild(el("fieldset", {}, [el("legend", {text: labels[key][1]})].concat(options.map(function (o) {
        return el("div", {}, [el("span", {text: o.name + " · " + fmt(o.count) + " "}), el("button", {type: "button", "class": "secondary compact",
          text: "Select", "aria-label": "Select " + labels[key][1] + " " + o.name, on: {click: function () {
            toTray({domain: "PERSON", type: labels[key][0], standard: true, group: false, conceptId: o.conceptId, attributes: [], name: o.name},
                   labels[key][1] + ": " + o.name);
          }}})]);
      }))));
    });
    panel.appendChild(el("button", {type: "button", "class": "secondary", text: "Select: deceased", on: {click: function () {
      toTray({domain: "PERSON", type: "DECEASED", standard: true, group: false, attributes: [], name: "Deceased"});
    }}}));
  }

  // -- variants (Controlled Tier): carriers of variants by rsID, gene, region or id, allele frequency, zygosity ----
  function problemsText(r, fallback) {
    var problems = (r.data && r.data.problems) || [];
    return problems.length ? problems.map(function (p) { return (p.where ? p.where + ": " : "") + p.message; }).join("; ")
                           : (r.data && (r.data.error || r.data.detail)) || fallback;
  }

  function percent(fraction) {
    return fraction === null || fraction === undefined ? "–" : (fraction * 100).toLocaleString("en-US", {maximumFractionDigits: 3}) + " %";
  }

  function variantsPanel(panel, entry) {
    function field(name, label, placeholder) {
      var input = el("input", {type: "text", id: uid("v"), name: name, autocomplete: "off", placeholder: placeholder});
      return {name: name, input: input, row: el("div", {"class": "field"}, [el("label", {"for": input.id, text: label}), input])};
    }
    function labelled(label, input) { return el("div", {"class": "field"}, [el("label", {"for": input.id, text: label}), input]); }
    var store = el("select", {id: uid("v"), name: "domain"}, entry.stores.map(function (s) {
      return el("option", {value: s.domain, text: s.label}); }));
    var lists = [field("rsids", "rsIDs", "rs7903146, rs429358"), field("genes", "Genes", "TCF7L2"),
                 field("regions", "Regions", "chr10:114000000-115000000"), field("variant_ids", "Variant ids", "10-114758349-C-T")];
    var low = el("input", {type: "number", id: uid("v"), min: "0", max: "100", step: "any"});
    var high = el("input", {type: "number", id: uid("v"), min: "0", max: "100", step: "any"});
    var zygosity = el("select", {id: uid("v"), name: "zygosity"}, [["any", "Heterozygous or homozygous"],
      ["heterozygous", "Heterozygous (one ALT allele)"], ["homozygous", "Homozygous (two ALT alleles)"]].map(function (o) {
        return el("option", {value: o[0], text: o[1]}); }));
    var out = el("div", {"class": "variant-result", "aria-live": "polite"});
    var controller = null;
    var inputs = {domain: store, min_af: low, max_af: high, zygosity: zygosity};
    lists.forEach(function (f) { inputs[f.name] = f.input; });
    function showProblems(r) {
      // Each problem beside the field its place names (query.regions[0] → Regions); the rest below the form.
      var rest = [], first = null;
      ((r.data && r.data.problems) || []).forEach(function (p) {
        var m = /^query\.([a-z_]+)/.exec(p.where || ""), input = m && inputs.hasOwnProperty(m[1]) && inputs[m[1]];
        if (!input) { rest.push(p); return; }
        var note = el("p", {"class": "field-error", id: uid("vp"), text: p.message});
        input.parentNode.appendChild(note);
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + note.id).trim());
        first = first || input;
      });
      if (rest.length || !first) {
        out.appendChild(el("p", {"class": "field-error", text: problemsText({data: rest.length ? {problems: rest} : r.data},
                                                                            "The variants could not be looked up.")}));
      }
      if (first) { first.focus(); }
    }
    function lookup() {
      form.querySelectorAll(".field-error").forEach(function (p) { p.remove(); });
      Object.keys(inputs).forEach(function (k) { inputs[k].removeAttribute("aria-invalid"); inputs[k].removeAttribute("aria-describedby"); });
      var params = new URLSearchParams();
      params.set("domain", store.value);
      lists.forEach(function (f) { if (f.input.value.trim()) { params.set(f.name, f.input.value.trim()); } });
      // The form takes percents; the criterion, fractions.
      if (low.value !== "") { params.set("min_af", String(Number(low.value) / 100)); }
      if (high.value !== "") { params.set("max_af", String(Number(high.value) / 100)); }
      params.set("zygosity", zygosity.value);
      if (controller) { controller.abort(); }
      controller = new AbortController();
      out.textContent = "Looking up variants…";
      api("GET", cfg.urls.variants + "?" + params.toString(), undefined, controller.signal).then(function (r) {
        out.textContent = "";
        if (!r.ok) { showProblems(r); return; }
        variantResult(out, r.data);
      }).catch(function (err) { if (!err || err.name !== "AbortError") { out.textContent = "The server could not be reached."; } });
    }
    var form = el("form", {"class": "variants", on: {submit: function (e) { e.preventDefault(); lookup(); }}}, [
      el("p", {"class": "hint", text: "Participants who carry any of the variants selected: by rsID, gene, region or variant id " +
        "(several apart by commas; regions by spaces or semicolons), within an allele-frequency range over every participant " +
        "with this data, heterozygous, homozygous or either."}),
      labelled("Data", store)].concat(lists.map(function (f) { return f.row; })).concat([
      el("fieldset", {}, [el("legend", {text: "Allele frequency (%)"}), labelled("From", low), labelled("to", high)]),
      labelled("Zygosity", zygosity),
      el("button", {type: "submit", "class": "secondary", text: "Find variants"})]));
    panel.appendChild(form);
    panel.appendChild(out);
  }

  function variantResult(out, data) {
    out.appendChild(el("p", {text: fmt(data.count) + (data.count === 1 ? " variant matches" : " variants match") +
      (data.count > data.shown ? "; the first " + fmt(data.shown) + " are listed." : ".")}));
    if (!data.count) {
      out.appendChild(el("p", {"class": "hint", text: "No variant matches: change the criteria to select some."}));
      return;
    }
    out.appendChild(el("div", {"class": "table-wrap"}, [el("table", {"class": "data"}, [
      el("caption", {text: "Matching variants"}),
      el("thead", {}, [el("tr", {}, ["Variant", "rsID", "Gene", "Consequence", "Allele frequency"].map(function (h) {
        return el("th", {scope: "col", text: h}); }))]),
      el("tbody", {}, data.variants.map(function (v) {
        return el("tr", {}, [el("th", {scope: "row", text: v.variant_id}), el("td", {text: v.rsid || "–"}),
          el("td", {text: v.gene || "–"}), el("td", {text: (v.consequence || "–").replace(/_/g, " ")}),
          el("td", {text: percent(v.allele_frequency)})]);
      }))])]));
    out.appendChild(el("button", {type: "button", text: "Select: carriers of " + data.description, on: {click: function () {
      toTray({domain: data.domain, type: "VARIANT", standard: true, group: false, attributes: [], variant: data.criterion,
              name: "Carriers of " + data.description});
    }}}));
  }

  // -- modifiers and values --------------------------------------------------------------------------------------
  var editing = null;
  function openModifiers(itemId) {
    editing = itemId;
    var item = findItem(state, itemId), form = $("modifiers-form");
    form.textContent = "";
    function current(name) { return (item.modifiers || []).filter(function (m) { return m.name === name; })[0]; }
    function comparisonFields(name, legend, kind, existing, operators) {
      var id = uid("m");
      var op = el("select", {id: id + "-op", name: name + "-op"}, [el("option", {value: "", text: "any"})].concat(operators.map(function (o) {
        return el("option", {value: o[0], text: o[1], selected: existing && existing.operator === o[0]}); })));
      var a = el("input", {type: kind, id: id + "-a", name: name + "-a", value: existing ? existing.operands[0] : ""});
      var b = el("input", {type: kind, id: id + "-b", name: name + "-b", value: existing && existing.operands[1] ? existing.operands[1] : ""});
      return el("fieldset", {"data-modifier": name}, [el("legend", {text: legend}), el("label", {"for": op.id, text: "Is"}), op,
        el("label", {"for": a.id, text: "Value"}), a, el("label", {"for": b.id, text: "and (between only)"}), b]);
    }
    var ops = [["GREATER_THAN_OR_EQUAL_TO", "at least"], ["LESS_THAN_OR_EQUAL_TO", "at most"], ["EQUAL", "exactly"], ["BETWEEN", "between"]];
    var dateOps = [["GREATER_THAN_OR_EQUAL_TO", "on or after"], ["LESS_THAN_OR_EQUAL_TO", "on or before"], ["BETWEEN", "between"]];
    form.appendChild(comparisonFields("AGE_AT_EVENT", "Age at event (years)", "number", current("AGE_AT_EVENT"), ops));
    form.appendChild(comparisonFields("EVENT_DATE", "Event date", "date", current("EVENT_DATE"), dateOps));
    form.appendChild(comparisonFields("NUM_OF_OCCURRENCES", "Number of occurrences", "number", current("NUM_OF_OCCURRENCES"), ops));
    var visits = current("ENCOUNTERS");
    form.appendChild(el("fieldset", {"data-modifier": "ENCOUNTERS"}, [el("legend", {text: "During a visit of type"})].concat(cfg.visit_types.map(function (v) {
      var id = uid("v");
      return el("div", {"class": "choice"}, [el("input", {type: "checkbox", id: id, value: String(v.conceptId), checked: !!(visits && visits.operands.indexOf(String(v.conceptId)) >= 0)}),
                                             el("label", {"for": id, text: v.name + " · " + fmt(v.count)})]);
    }))));
    if (item.type === "MEASUREMENT" || item.type === "PHYSICAL_MEASUREMENT") {
      item.searchParameters.forEach(function (p, i) {
        var num = (p.attributes || []).filter(function (x) { return x.name === "NUM"; })[0];
        var fs = comparisonFields("NUM-" + i, "Value of " + paramText(p), "number", num, ops.concat([["LESS_THAN", "less than"], ["GREATER_THAN", "greater than"]]));
        fs.setAttribute("data-param", String(i));
        form.appendChild(fs);
      });
    }
    form.appendChild(el("p", {"class": "field-error", id: "modifiers-error", hidden: true}));
    form.appendChild(el("button", {type: "submit", text: "Apply"}));
    $("modifiers").showModal();
  }

  $("modifiers-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.currentTarget, modifiers = [], values = {}, problem = null;
    form.querySelectorAll("fieldset[data-modifier]").forEach(function (fs) {
      var name = fs.getAttribute("data-modifier");
      if (name === "ENCOUNTERS") {
        var ids = Array.prototype.map.call(fs.querySelectorAll("input:checked"), function (x) { return x.value; });
        if (ids.length) { modifiers.push({name: "ENCOUNTERS", operator: "IN", operands: ids}); }
        return;
      }
      var op = fs.querySelector("select").value, inputs = fs.querySelectorAll("input");
      if (!op) { return; }
      var operands = op === "BETWEEN" ? [inputs[0].value, inputs[1].value] : [inputs[0].value];
      if (operands.some(function (o) { return o === ""; })) { problem = fs.querySelector("legend").textContent + ": give " + (op === "BETWEEN" ? "both values" : "a value"); return; }
      if (name.indexOf("NUM-") === 0) { values[fs.getAttribute("data-param")] = {name: "NUM", operator: op, operands: operands}; }
      else { modifiers.push({name: name, operator: op, operands: operands}); }
    });
    if (problem) { var err = $("modifiers-error"); err.textContent = problem; err.hidden = false; return; }
    change(function (s) {
      var it = findItem(s, editing);
      it.modifiers = modifiers;
      it.searchParameters.forEach(function (p, i) {
        p.attributes = (p.attributes || []).filter(function (x) { return x.name !== "NUM"; });
        if (values[i]) { p.attributes.push(values[i]); }
      });
    });
    $("modifiers").close();
  });

  // -- saving --------------------------------------------------------------------------------------------------
  function showError(text) {
    var box = $("builder-error");
    box.textContent = text;
    box.hidden = !text;
  }

  function save(asNew) {
    var name = state.name.trim();
    if (asNew || !name) {
      var asked = window.prompt(asNew ? "Save as a new cohort named" : "Name the cohort", asNew ? (name ? name + " (copy)" : "") : name);
      if (asked === null) { return; }
      name = asked.trim();
      if (!name) { showError("A cohort needs a name."); return; }
      state.name = name;
    }
    showError("");
    var body = {cohort: cohortId, expected_version: version, save_as: !!asNew, name: name,
                description: cfg.description || "", definition: state.definition};
    api("POST", cfg.urls.save, body).then(function (r) {
      if (!r.ok) {
        var problems = (r.data && r.data.problems) || [];
        showError("Not saved: " + (problems.length ? problems.map(function (p) { return (p.where ? p.where + ": " : "") + p.message; }).join("; ")
                                                   : (r.data && (r.data.error || r.data.detail)) || r.status));
        return;
      }
      var wasNew = cohortId !== r.data.cohort;
      cohortId = r.data.cohort; version = r.data.version; saved = copy(state.definition);
      cfg.name = r.data.name;
      try { sessionStorage.removeItem(draftKey); } catch (e) {}
      draftKey = "cohort-builder:" + cfg.namespace + ":" + cohortId;
      note("Saved as version " + version + ".", false);
      $("builder-title").textContent = "Cohort: " + r.data.name;
      if (wasNew) { window.history.replaceState(null, "", r.data.url); }
      showNext();
    }).catch(function () { showError("Not saved: the server could not be reached. Your work is kept in this tab."); });
  }

  function showNext() {
    if (!cohortId) { $("after-save").hidden = true; return; }
    $("after-save").hidden = false;
    $("make-review").href = cfg.urls.review + cohortId;
    $("compare").href = cfg.urls.compare + cohortId;
    $("history").href = cfg.urls.resource + cohortId;
    $("make-dataset").hidden = !cfg.editable;
  }

  $("make-dataset").addEventListener("click", function () {
    api("POST", cfg.urls.dataset + "?cohort=" + cohortId).then(function (r) {
      if (r.ok) { window.location.href = r.data.url; }
      else { showError("No dataset was created: " + ((r.data && (r.data.error || r.data.detail)) || r.status)); }
    });
  });

  $("save").addEventListener("click", function () { save(false); });
  $("save-as").addEventListener("click", function () { save(true); });
  $("undo").addEventListener("click", function () { move(-1); });
  $("redo").addEventListener("click", function () { move(1); });
  $("discard").addEventListener("click", function () {
    clearTimeout(draftTimer);
    api("POST", cfg.urls.draft + "/discard" + (cohortId ? "?cohort=" + cohortId : "")).then(function () {
      change(function (s) { s.definition = copy(saved); s.name = cfg.name || ""; }, true);
      note("Draft discarded: back to the saved version.", false);
    });
  });
  $("cohort-name").addEventListener("change", function (e) { var v = e.target.value; change(function (s) { s.name = v; }); });
  $("chart-by").addEventListener("change", drawChart);
  document.querySelectorAll("[data-filter]").forEach(function (box) {
    box.addEventListener("change", function () {
      var f = box.getAttribute("data-filter"), on = box.checked;
      change(function (s) {
        s.definition.dataFilters = s.definition.dataFilters.filter(function (x) { return x !== f; });
        if (on) { s.definition.dataFilters.push(f); }
      });
    });
  });
  document.querySelectorAll(".add-group").forEach(function (b) {
    b.addEventListener("click", function () { openCriteria(b.getAttribute("data-side"), null); });
  });
  document.querySelectorAll("dialog [data-close]").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  document.addEventListener("keydown", function (e) {
    if (document.querySelector("dialog[open]") || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) { return; }
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); move(e.shiftKey ? 1 : -1); }
  });

  render();
  showNext();
  scheduleResults();
})();
