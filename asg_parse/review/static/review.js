// asg-parse review: the page. Report text only ever enters the DOM as text (textContent, never innerHTML).
"use strict";

const state = { id: null, view: null, onto: null, selected: null, selection: null, sentence: null };
const $ = (id) => document.getElementById(id);
const LABEL = { todo: "to do", reviewed: "reviewed", skipped: "skipped" };

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function say(text, error) {
  const m = $("message");
  m.textContent = text || "";
  m.className = error ? "error" : "";
}

async function call(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || ("request failed: " + res.status));
  return data;
}

const api = (rest) => "/api/reports/" + encodeURIComponent(state.id) + rest;

async function change(rest, body) {
  try {
    const view = await call("POST", api(rest), Object.assign({ report_id: state.id }, body || {}));
    render(view);
    say("");
    return true;
  } catch (e) {
    say(e.message, true);
    return false;
  }
}

function options(select, values, chosen, blank) {
  select.replaceChildren();
  if (blank !== undefined) select.append(el("option", { value: "" }, blank));
  for (const v of values) {
    const o = el("option", { value: v }, v);
    if (Array.isArray(chosen) ? chosen.includes(v) : v === chosen) o.selected = true;
    select.append(o);
  }
}

function regionsFor(finding) {
  const allowed = state.onto.allowed[finding];
  if (!allowed) return state.onto.regions;
  return state.onto.regions.filter((r) => allowed.includes(r));
}

// ------------------------------------------------------------------ report text
function mentionsOf(triplets) {
  const byKey = new Map();
  for (const t of triplets) {
    const key = t.finding + "|" + t.start + "|" + t.end;
    if (!byKey.has(key)) byKey.set(key, { finding: t.finding, existence: t.existence, start: t.start, end: t.end, regions: [] });
    if (t.region) byKey.get(key).regions.push(t.region);
  }
  return [...byKey.values()];
}

function renderSentence(view, s, mentions) {
  const cuts = new Set([s.start, s.end]);
  const inside = (a) => a.start < s.end && a.end > s.start;
  const ms = mentions.filter(inside);
  const an = view.anatomy.filter(inside);
  for (const a of [...ms, ...an]) {
    cuts.add(Math.max(a.start, s.start));
    cuts.add(Math.min(a.end, s.end));
  }
  const points = [...cuts].sort((a, b) => a - b);
  const text = el("span", { class: "sent-text" });
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const piece = el("span", { dataset: { start: String(a) } }, view.text.slice(a, b));
    const m = ms.find((x) => x.start <= a && b <= x.end);
    const titles = [];
    if (m) {
      piece.classList.add("m-" + m.existence);
      titles.push(m.finding + " " + m.existence + (m.regions.length ? " @ " + m.regions.join(", ") : ""));
    }
    const anat = an.find((x) => x.start <= a && b <= x.end);
    if (anat) {
      piece.classList.add("anat");
      titles.push("anatomy: " + (anat.regions.join(", ") || "-"));
    }
    if (titles.length) piece.setAttribute("title", titles.join("; "));
    text.append(piece);
  }
  const badge = el("span", { class: "badge", title: s.annotated ? "mark this sentence's regions" : "not annotated" },
    "#" + s.index + " " + s.section);
  if (s.annotated) badge.addEventListener("click", () => openMark(s.index));
  const row = el("div", { class: "sentence" + (s.annotated ? "" : " other") + (state.sentence === s.index ? " chosen" : ""),
    dataset: { index: String(s.index) } }, badge, text);
  if (s.annotated && s.regions.length) {
    row.append(el("span", { class: "sent-regions", title: s.marked ? "marked by the reviewer" : "region map" },
      (s.marked ? "\u270e " : "") + s.regions.join(", ")));
  }
  return row;
}

function renderReport(view) {
  const box = $("report");
  box.replaceChildren();
  const mentions = mentionsOf(view.triplets);
  let pos = 0;
  for (const s of view.sentences) {
    const gap = view.text.slice(pos, s.start).trim();
    if (gap) box.append(el("div", { class: "header-text" }, gap));
    box.append(renderSentence(view, s, mentions));
    pos = s.end;
  }
  const tail = view.text.slice(pos).trim();
  if (tail) box.append(el("div", { class: "header-text" }, tail));
}

// ------------------------------------------------------------------ triplet table
function tripletRow(t) {
  const region = el("select", { "aria-label": "region", onchange: (e) => change("/triplets/" + t.tid + "/region", { region: e.target.value || null }) });
  options(region, regionsFor(t.finding), t.region || "", "(no region)");
  const existence = el("select", { "aria-label": "existence", onchange: (e) => change("/triplets/" + t.tid + "/existence", { existence: e.target.value }) });
  options(existence, state.onto.existence, t.existence);
  const del = el("button", { type: "button", title: "delete this triplet (x)", onclick: () => change("/triplets/" + t.tid + "/delete") }, "\u2715");
  const row = el("tr", { dataset: { tid: String(t.tid) } },
    el("td", {}, region), el("td", {}, t.finding), el("td", { class: "ex-" + t.existence }, existence),
    el("td", {}, t.cue || "-"), el("td", { title: "characters " + t.start + "-" + t.end }, t.text), el("td", {}, del));
  row.addEventListener("click", () => selectRow(t.tid));
  if (state.selected === t.tid) row.classList.add("selected");
  return row;
}

function renderTriplets(view) {
  const body = $("triplets").tBodies[0];
  body.replaceChildren(...view.triplets.map(tripletRow));
  if (!view.triplets.length) body.append(el("tr", {}, el("td", { colspan: "6" }, "no triplets")));
}

function selectRow(tid) {
  state.selected = tid;
  for (const row of $("triplets").tBodies[0].rows) row.classList.toggle("selected", row.dataset.tid === String(tid));
}

function moveRow(step) {
  const tids = state.view.triplets.map((t) => t.tid);
  if (!tids.length) return;
  const at = tids.indexOf(state.selected);
  selectRow(tids[at < 0 ? 0 : Math.min(tids.length - 1, Math.max(0, at + step))]);
}

// ------------------------------------------------------------------ preview of an ontology addition
function renderPreview(view) {
  const box = $("preview");
  const p = view.preview;
  box.hidden = !p;
  if (!p) return;
  $("preview-phrase").textContent = p.phrase;
  $("preview-finding").textContent = p.finding;
  const body = $("preview-triplets").tBodies[0];
  body.replaceChildren(...p.triplets.map((t) => el("tr", {},
    el("td", {}, t.region || "-"), el("td", {}, t.finding), el("td", { class: "ex-" + t.existence }, t.existence),
    el("td", {}, t.cue || "-"), el("td", {}, t.text))));
  $("preview-save").hidden = p.saved;
  $("preview-note").textContent = p.saved ? "Saved to the ontology directory; parse again with --ontology to use it."
    : "Nothing is written until you save the form.";
}

// ------------------------------------------------------------------ page
function render(view) {
  state.view = view;
  state.id = view.id;
  $("report-title").textContent = "Report " + view.id;
  const u = view.uncertainty;
  $("report-meta").textContent = view.position + " of " + view.total + " \u00b7 " + LABEL[view.state] +
    " \u00b7 uncertainty " + u.score + (view.corrections ? " \u00b7 " + view.corrections + " correction(s)" : "");
  $("warnings").replaceChildren(...view.warnings.map((w) => el("li", {}, w)));
  $("prev").disabled = !view.previous;
  $("next").disabled = !view.next;
  renderReport(view);
  renderTriplets(view);
  renderPreview(view);
  if (!view.triplets.some((t) => t.tid === state.selected)) state.selected = null;
  history.replaceState(null, "", "/?report=" + encodeURIComponent(view.id));
}

async function loadQueue() {
  const q = await call("GET", "/api/queue");
  $("counts").textContent = q.counts.reviewed + " reviewed \u00b7 " + q.counts.todo + " to do \u00b7 " + q.counts.skipped + " skipped";
  $("queue").replaceChildren(...q.reports.map((r) => el("li",
    { class: r.state + (r.id === state.id ? " current" : ""), title: "uncertainty " + r.score, onclick: () => openReport(r.id) },
    el("span", { class: "qid" }, r.id), el("span", { class: "state" }, LABEL[r.state]))));
  const a = await call("GET", "/api/agreement");
  $("agreement").textContent = a.reports
    ? "agreement on " + a.reports + " reviewed report(s): triplet F1 " + a.triplet.f1.toFixed(3) +
      " \u00b7 existence accuracy " + (a.existence_accuracy === null ? "n/a" : a.existence_accuracy.toFixed(3))
    : "agreement: no report reviewed yet";
}

async function openReport(id) {
  if (!id) return;
  try {
    state.id = id;
    state.selected = null;
    state.sentence = null;
    closeForms();
    render(await call("GET", "/api/reports/" + encodeURIComponent(id)));
    await loadQueue();
    say("");
  } catch (e) {
    say(e.message, true);
  }
}

async function finish(action) {
  try {
    const res = await call("POST", api("/" + action), { report_id: state.id });
    say(action === "accept" ? "saved " + res.saved + " (" + res.state + ")" : "skipped " + res.skipped);
    if (res.next) await openReport(res.next);
    else {
      await openReport(state.id);
      say("every report has been reviewed or skipped");
    }
  } catch (e) {
    say(e.message, true);
  }
}

// ------------------------------------------------------------------ forms
function closeForms() {
  $("add-form").hidden = true;
  $("mark-form").hidden = true;
  state.selection = null;
}

function fillAddRegions() {
  options($("add-regions"), regionsFor($("add-finding").value), []);
}

function openAdd(sel) {
  state.selection = sel;
  $("mark-form").hidden = true;
  $("add-text").textContent = sel.text;
  $("add-form").hidden = false;
  $("form-button").hidden = !state.onto.additions;
  const low = sel.text.toLowerCase();
  const match = state.onto.findings.find((f) => f === low);
  if (match) $("add-finding").value = match;
  fillAddRegions();
  $("known-form").textContent = state.onto.additions ? "" : "Start the review with --ontology-out DIR to add forms to the ontology.";
}

function selectionInReport() {
  const s = window.getSelection();
  if (!s || s.isCollapsed || !s.rangeCount) return null;
  const r = s.getRangeAt(0);
  const at = (node, off) => {
    const piece = (node.nodeType === Node.TEXT_NODE ? node.parentElement : node).closest("[data-start]");
    return piece && $("report").contains(piece) ? Number(piece.dataset.start) + off : null;
  };
  let start = at(r.startContainer, r.startOffset);
  let end = at(r.endContainer, r.endOffset);
  if (start === null || end === null || end <= start) return null;
  const text = state.view.text;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return end > start ? { start, end, text: text.slice(start, end) } : null;
}

function openMark(index) {
  closeForms();
  state.sentence = index;
  const s = state.view.sentences[index];
  $("mark-index").textContent = "#" + index;
  options($("mark-regions"), state.onto.regions, s.regions);
  $("mark-form").hidden = false;
  for (const row of document.querySelectorAll(".sentence")) row.classList.toggle("chosen", row.dataset.index === String(index));
}

function chosen(select) {
  return [...select.selectedOptions].map((o) => o.value);
}

function wire() {
  $("prev").addEventListener("click", () => openReport(state.view.previous));
  $("next").addEventListener("click", () => openReport(state.view.next));
  $("accept").addEventListener("click", () => finish("accept"));
  $("skip").addEventListener("click", () => finish("skip"));
  $("reset").addEventListener("click", () => change("/reset"));
  $("report").addEventListener("mouseup", () => setTimeout(() => {
    const sel = selectionInReport();
    if (sel) openAdd(sel);
  }, 0));
  $("add-finding").addEventListener("change", fillAddRegions);
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const sel = state.selection;
    if (!sel) return;
    const ok = await change("/triplets", {
      start: sel.start, end: sel.end, finding: $("add-finding").value, regions: chosen($("add-regions")),
      existence: $("add-existence").value, cue: $("add-cue").value || null,
    });
    if (ok) {
      closeForms();
      $("add-cue").value = "";
      window.getSelection().removeAllRanges();
    }
  });
  $("add-cancel").addEventListener("click", closeForms);
  $("form-button").addEventListener("click", async () => {
    const sel = state.selection;
    if (!sel) return;
    say("re-parsing with the addition\u2026");
    await change("/forms/preview", { phrase: sel.text, finding: $("add-finding").value });
  });
  $("preview-save").addEventListener("click", async () => {
    const p = state.view.preview;
    if (p && (await change("/forms/save", { phrase: p.phrase, finding: p.finding }))) say("form saved to the ontology directory");
  });
  $("preview-close").addEventListener("click", () => { $("preview").hidden = true; });
  $("mark-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await change("/sentences/" + state.sentence + "/regions", { regions: chosen($("mark-regions")) })) closeForms();
  });
  $("mark-cancel").addEventListener("click", closeForms);
  document.addEventListener("keydown", onKey);
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target.tagName || "").toLowerCase();
  if (e.key === "Escape") { closeForms(); return; }
  if (tag === "input" || tag === "select" || tag === "textarea") return;
  const t = state.view && state.view.triplets.find((x) => x.tid === state.selected);
  const keys = {
    j: () => openReport(state.view.next), k: () => openReport(state.view.previous),
    a: () => finish("accept"), s: () => finish("skip"), r: () => change("/reset"),
    ArrowDown: () => moveRow(1), ArrowUp: () => moveRow(-1),
    "?": () => { $("help").open = !$("help").open; },
  };
  if (t) {
    ["1", "2", "3"].forEach((k, i) => { keys[k] = () => change("/triplets/" + t.tid + "/existence", { existence: state.onto.existence[i] }); });
    keys.x = keys.Delete = () => change("/triplets/" + t.tid + "/delete");
  }
  if (keys[e.key]) {
    e.preventDefault();
    keys[e.key]();
  }
}

async function main() {
  state.onto = await call("GET", "/api/ontology");
  for (const [k, v] of Object.entries(state.onto.colors)) document.documentElement.style.setProperty("--" + k, v);
  options($("add-finding"), state.onto.findings, null);
  options($("add-existence"), state.onto.existence, "present");
  wire();
  const start = new URLSearchParams(location.search).get("report") || document.body.dataset.start;
  await openReport(start);
}

main();
