// The page: four CodeMirror editors, the engine in a worker, the outputs, and the
// session kept in the link and in this browser.

import { EditorState, Compartment } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine } from "@codemirror/view";
import { bracketMatching, syntaxHighlighting } from "@codemirror/language";
import { defaultKeymap, history as undoHistory, historyKeymap } from "@codemirror/commands";
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from "@codemirror/autocomplete";
import { setDiagnostics, lintKeymap } from "@codemirror/lint";
import { json } from "@codemirror/lang-json";

import { startEngine, call, untilAnswered } from "./engine.js";
import { entraLanguage, highlighter, completeExpression, signatureHint, expressionsInJson, knownFunctions } from "./expression.js";
import { encode, decode, withoutDefaults, withDefaults, remember, recalled, MAX_LINK } from "./link.js";
import { samples } from "./samples.js";
import { recipes } from "./recipes.js";
import { lineDiff } from "./diff.js";

const $ = (id) => document.getElementById(id);
const MAX_INPUT = 1 << 20; // characters per editor; larger inputs are refused, not evaluated
const MAX_SHOWN = 100_000; // characters of a result shown; Copy copies all of it

const firstSample = Object.keys(samples)[0];
const DEFAULTS = {
  mode: "expression",
  expr: 'Join(" ", [givenName], [surname])',
  record: JSON.stringify(samples[firstSample], null, 2),
  mapping: "",
  exported: "",
  object: "User",
  settings: { now: "", tenantDomain: "", taken: [], ids: {}, patch: "both" },
};

let mode = DEFAULTS.mode;
let settings = { ...DEFAULTS.settings };
let catalog = [];
let entraAttributes = { User: [], Group: [] };
let recordNames = [];
let defaultMapping = null;

// ---- editors ------------------------------------------------------------------------

const views = {};

const languages = {};

function editor(id, { doc, language, lines, wrap, extra = [] }) {
  languages[id] = new Compartment();
  const view = new EditorView({
    parent: $(id),
    state: EditorState.create({
      doc,
      extensions: [
        lines ? lineNumbers() : [],
        undoHistory(),
        drawSelection(),
        highlightActiveLine(),
        bracketMatching(),
        closeBrackets(),
        syntaxHighlighting(highlighter),
        languages[id].of(language),
        wrap ? EditorView.lineWrapping : [],
        keymap.of([
          { key: "Mod-Enter", run: () => { runNow(); return true; } },
          ...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap,
        ]),
        EditorView.contentAttributes.of({
          "aria-labelledby": `${id}-label`,
          "aria-describedby": `${id}-help ${id}-problems`,
          "aria-multiline": "true",
          // Focusable by Tab, so that a long document's scrolling area is reachable.
          tabindex: "0",
        }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) changed(id);
        }),
        extra,
      ],
    }),
  });
  views[id] = view;
  return view;
}

const text = (id) => views[id].state.doc.toString();

/// Replaces an editor's text as one undoable change.
function setText(id, value) {
  const view = views[id];
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
}

/// Diagnostics as lint markers (hover text, F8 to the next) and the editor marked invalid.
function mark(id, diagnostics) {
  const view = views[id];
  const length = view.state.doc.length;
  const markers = [];
  for (const d of diagnostics) {
    const label = d.labels.find((l) => l.primary) || d.labels[0];
    if (!label) continue;
    let from = Math.min(label.start, length);
    const to = Math.min(Math.max(label.end, from), length);
    if (from === to && from > 0 && from === length) from -= 1;
    markers.push({ from, to: Math.max(to, from), severity: d.severity === "warning" ? "warning" : "error", message: d.message, source: d.code });
  }
  view.dispatch(setDiagnostics(view.state, markers));
  const invalid = diagnostics.some((d) => d.severity === "error");
  view.contentDOM.setAttribute("aria-invalid", String(invalid));
}

function select(id, from, to) {
  const view = views[id];
  const length = view.state.doc.length;
  view.dispatch({ selection: { anchor: Math.min(from, length), head: Math.min(to, length) }, scrollIntoView: true });
  view.focus();
}

function jump(id, offset) {
  const view = views[id];
  const at = Math.min(offset, view.state.doc.length);
  view.dispatch({ selection: { anchor: at }, scrollIntoView: true });
  view.focus();
}

// ---- diagnostics listed under an editor ---------------------------------------------------

function listDiagnostics(list, diagnostics, id) {
  const source = id ? text(id) : null;
  list.replaceChildren(...diagnostics.slice(0, 50).map((d) => {
    const li = document.createElement("li");
    li.className = d.severity;
    const label = d.labels.find((l) => l.primary) || d.labels[0];
    const where = label && source != null ? ` at ${position(source, label.start)}` : "";
    const head = document.createElement(label && id ? "button" : "span");
    head.className = "code";
    head.textContent = `${d.severity}[${d.code}]${where}`;
    if (label && id) {
      head.type = "button";
      head.title = "Move the cursor there";
      head.onclick = () => jump(id, label.start);
    }
    li.append(head, " ", d.message);
    if (label && label.message) {
      const em = document.createElement("em");
      em.textContent = ` (${label.message})`;
      li.append(em);
    }
    if (d.help) {
      const help = document.createElement("div");
      help.className = "help";
      help.textContent = `help: ${d.help}`;
      li.append(help);
    }
    return li;
  }));
  if (diagnostics.length > 50) {
    const li = document.createElement("li");
    li.textContent = `… and ${diagnostics.length - 50} more`;
    list.append(li);
  }
}

function position(source, offset) {
  let line = 1;
  let start = 0;
  for (let i = source.indexOf("\n"); i !== -1 && i < offset; i = source.indexOf("\n", i + 1)) {
    line += 1;
    start = i + 1;
  }
  return `${line}:${offset - start + 1}`;
}

/// A JSON parse error's line and column (serde writes "at line L column C") as an offset.
function jsonErrorOffset(source, message) {
  const m = /line (\d+) column (\d+)/.exec(message || "");
  if (!m) return null;
  const [line, column] = [Number(m[1]), Number(m[2])];
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const next = source.indexOf("\n", offset);
    if (next === -1) return source.length;
    offset = next + 1;
  }
  return Math.min(offset + Math.max(0, column - 1), source.length);
}

function recordProblem(message) {
  const p = $("record-problems");
  p.hidden = !message;
  p.textContent = message ? `record: ${message}` : "";
  const at = message ? jsonErrorOffset(text("record"), message) : null;
  const diagnostics = at == null ? [] : [{ severity: "error", code: "record", message, labels: [{ start: at, end: at + 1, primary: true }] }];
  mark("record", diagnostics);
  if (message && at == null) views.record.contentDOM.setAttribute("aria-invalid", "true");
}

// ---- running ------------------------------------------------------------------------------

function options() {
  const now = settings.now ? new Date(settings.now) : new Date();
  return {
    now: Number.isNaN(now.getTime()) ? new Date().toISOString() : now.toISOString(),
    seed: 7,
    tenantDomain: settings.tenantDomain,
    taken: settings.taken,
  };
}

function tooLarge() {
  const names = { expr: "expression", record: "record", mapping: "mapping", exported: "exported resource" };
  for (const id of Object.keys(names)) {
    if (views[id].state.doc.length > MAX_INPUT) return `the ${names[id]} is larger than 1 MiB; it was not evaluated`;
  }
  return null;
}

let generation = 0;
let firstResult = true;

async function run() {
  const mine = ++generation;
  const big = tooLarge();
  if (big) {
    showFailure(big);
    return;
  }
  try {
    if (mode === "expression") {
      const out = await call("evaluate", text("expr"), text("record"), JSON.stringify(options()));
      if (mine === generation) showEvaluation(out);
      if (explainOpen()) {
        const explained = await call("explain", text("expr"), text("record"), JSON.stringify(options()));
        if (mine === generation) showExplain(explained);
      }
    } else if (!text("mapping") && defaultMapping === null) {
      setKind("outcome-kind", "loading Entra's default mapping…", false);
      return;
    } else {
      const apply = { ...options(), object: $("object").value, ids: settings.ids };
      const out = await call("apply", text("mapping") || defaultMapping, text("record"), text("exported"), JSON.stringify(apply));
      if (mine === generation) showMapping(out);
    }
  } catch (error) {
    if (mine === generation) showFailure(error.message);
  }
  if (firstResult && mine === generation) {
    firstResult = false;
    window.__firstResultMs = performance.now();
    status("ready", "ready");
  }
}

let runTimer = null;
function schedule() {
  clearTimeout(runTimer);
  runTimer = setTimeout(run, 80);
}

function runNow() {
  clearTimeout(runTimer);
  run();
}

function changed(id) {
  if (id === "record") recordNames = namesOf(text("record"));
  saveSoon();
  schedule();
}

function setKind(id, words, error) {
  const kind = $(id);
  kind.textContent = words;
  kind.className = error ? "kind error" : "kind";
}

let shownValue = "";

/// Says the result to screen readers, briefly: its kind and its start.
function announce(words) {
  $("announce").textContent = words.length > 160 ? words.slice(0, 160) + "…" : words;
}

/// Shows `textValue` (cut past MAX_SHOWN characters); `length` is the value's own
/// length, which for a string leaves out the quotes it is shown in.
function showValue(textValue, note, length = textValue.length) {
  shownValue = textValue;
  announce(`${$("result-kind").textContent}${textValue ? ": " + textValue : ""}`);
  const cut = textValue.length > MAX_SHOWN;
  $("result-value").textContent = cut ? textValue.slice(0, MAX_SHOWN) : textValue;
  $("result-note").textContent = cut
    ? `cut here: the result has ${length.toLocaleString("en")} characters; Copy copies all of them`
    : note || "";
}

function showEvaluation(out) {
  const diagnostics = out.diagnostics || [];
  const shown = out.result && out.result.kind === "error" ? [...diagnostics, out.result.error] : diagnostics;
  mark("expr", shown);
  listDiagnostics($("expr-problems"), shown, "expr");
  recordProblem(out.recordError || out.inputError);
  if (!out.result) {
    setKind("result-kind", diagnostics.some((d) => d.severity === "error") ? "does not check" : "no result", true);
    showValue("");
    return;
  }
  const r = out.result;
  const words = { null: "null: not sent", ignored: "flow ignored: attribute left out", error: "evaluation error" };
  setKind("result-kind", words[r.kind] || r.kind, r.kind === "error");
  if (r.kind === "error") {
    showValue(r.error.message);
  } else if (r.kind === "string") {
    const length = [...r.value].length;
    showValue(JSON.stringify(r.value), `${length} characters`, length);
    shownValue = r.value;
  } else if (r.kind === "null" || r.kind === "ignored") {
    showValue("");
  } else {
    const note = Array.isArray(r.value) ? `${r.value.length} ${r.value.length === 1 ? "value" : "values"}` : "";
    showValue(JSON.stringify(r.value, null, 2), note);
  }
}

const pretty = (v) => (v == null ? "(no change)" : JSON.stringify(v, null, 2));

function showMapping(out) {
  const diagnostics = out.diagnostics || [];
  mark("mapping", diagnostics);
  listDiagnostics($("mapping-problems"), diagnostics, text("mapping") ? "mapping" : null);
  recordProblem(out.recordError || out.inputError);
  const o = out.outcome;
  let resource = null;
  if (!o) {
    setKind("outcome-kind", "no resource", true);
    $("resource").textContent = "";
  } else if (o.outOfScope) {
    setKind("outcome-kind", "out of scope: not provisioned", false);
    $("resource").textContent = "";
  } else if (o.error) {
    setKind("outcome-kind", "error", true);
    $("resource").textContent = o.error;
  } else {
    setKind("outcome-kind", "create", false);
    resource = o.resource;
    const unresolved = (o.unresolved || []).map((u) => `\n(reference ${u.target} → ${u.id} not provisioned yet: left out)`).join("");
    $("resource").textContent = pretty(o.resource) + unresolved;
  }
  showPatches(out.patch);
  showDiff(resource);
}

function showPatches(p) {
  const given = text("exported").trim() !== "";
  const none = given ? "(no PATCH: see the error above)" : "(paste the resource as last exported to see the PATCH)";
  const app = p && "changes" in p;
  const legacy = app ? `(not SCIM: the app gets this change set)\n${pretty(p.changes)}` : p && pretty(p.legacy);
  const rfc = app ? "(not SCIM: the app gets the change set beside this)" : p && pretty(p.rfc);
  const body = (shape) => (!p ? none : p.error || (p.outOfScope ? "out of scope" : shape));
  $("patch-legacy").textContent = body(legacy);
  $("patch-rfc").textContent = body(rfc);
  $("patch-legacy-box").hidden = settings.patch === "rfc";
  $("patch-rfc-box").hidden = settings.patch === "legacy";
}

function showDiff(resource) {
  const box = $("diff");
  const exported = text("exported").trim();
  if (!exported || !resource) {
    box.textContent = exported ? "(no resource to compare)" : "(paste the resource as last exported to compare)";
    return;
  }
  let before;
  try {
    before = JSON.stringify(JSON.parse(exported), null, 2);
  } catch (e) {
    box.textContent = `(the exported resource is not JSON: ${e.message})`;
    return;
  }
  const lines = lineDiff(before.split("\n"), JSON.stringify(resource, null, 2).split("\n"));
  if (!lines) {
    box.textContent = "(too large to compare here)";
    return;
  }
  box.replaceChildren(...lines.map(([sign, line]) => {
    const span = document.createElement("span");
    span.className = sign === "+" ? "added" : sign === "-" ? "removed" : "same";
    span.textContent = `${sign} ${line}\n`;
    return span;
  }));
}

function showFailure(message) {
  if (mode === "expression") {
    setKind("result-kind", "stopped", true);
    showValue(message);
    mark("expr", []);
    listDiagnostics($("expr-problems"), [], null);
  } else {
    setKind("outcome-kind", "stopped", true);
    $("resource").textContent = message;
    mark("mapping", []);
    listDiagnostics($("mapping-problems"), [], null);
  }
}

// ---- explain ------------------------------------------------------------------------------

const explainOpen = () => $("explain").open;

function showExplain(out) {
  $("explain-listing").textContent = out.listing || "(the expression does not compile; see its errors)";
  $("explain-cut").textContent = out.cut || (out.recordError ? `record: ${out.recordError}` : "");
  $("explain-tree").replaceChildren(...(out.steps || []).map((step) => {
    const li = document.createElement("li");
    li.style.setProperty("--depth", step.depth);
    const node = document.createElement("button");
    node.type = "button";
    node.className = "node";
    node.textContent = step.kind === "empty" ? "(left out)" : step.text;
    node.title = "Select it in the expression";
    node.onclick = () => select("expr", step.span[0], step.span[1]);
    li.append(node, " ");
    if (step.valueKind) {
      const kind = document.createElement("span");
      kind.className = step.valueKind === "error" ? "kind error" : "kind";
      kind.textContent = step.valueKind;
      li.append(kind, " ");
      const shown = step.valueKind === "error" ? step.error : step.value === undefined || step.value === null ? "" : JSON.stringify(step.value);
      if (shown) {
        const value = document.createElement("code");
        value.textContent = shown.length > 200 ? shown.slice(0, 200) + "…" : shown;
        li.append(value);
      }
    }
    if (step.note) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = step.note;
      li.append(note);
    }
    return li;
  }));
}

// ---- attribute names for completion inside [ ---------------------------------------------

function namesOf(recordText) {
  if (recordText.length > MAX_INPUT) return [];
  try {
    const value = JSON.parse(recordText);
    return value && typeof value === "object" && !Array.isArray(value) ? Object.keys(value) : [];
  } catch {
    return recordNames;
  }
}

const attributeNames = () => [...new Set([...recordNames, ...(entraAttributes[$("object").value] || entraAttributes.User)])];

// ---- the session: link, this browser, pasted links ---------------------------------------

function currentState() {
  return {
    mode, expr: text("expr"), record: text("record"), mapping: text("mapping"),
    exported: text("exported"), object: $("object").value, settings,
  };
}

function applyState(state) {
  mode = state.mode === "mapping" ? "mapping" : "expression";
  for (const id of ["expr", "record", "mapping", "exported"]) {
    if (typeof state[id] === "string" && state[id] !== text(id)) setText(id, state[id]);
  }
  $("object").value = state.object === "Group" ? "Group" : "User";
  settings = withDefaults({ settings: state.settings || {} }, DEFAULTS).settings;
  recordNames = namesOf(text("record"));
  showMode();
  schedule();
}

let saveTimer = null;

function saveSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, 300);
}

async function save() {
  const partial = withoutDefaults(currentState(), DEFAULTS);
  remember(partial);
  const fragment = await encode(partial);
  const fits = fragment.length <= MAX_LINK;
  history.replaceState(null, "", fits ? "#" + fragment : location.pathname + location.search);
  $("copy-link").dataset.tooLarge = String(!fits);
}

async function copyLink() {
  clearTimeout(saveTimer);
  await save();
  const note = $("copy-note");
  if ($("copy-link").dataset.tooLarge === "true") {
    note.textContent = "too large for a link; the session is kept in this browser";
    return;
  }
  try {
    await navigator.clipboard.writeText(location.href);
    note.textContent = "link copied";
  } catch {
    note.textContent = "copy the address bar: the browser refused the clipboard";
  }
}

async function openFragment(fragment) {
  const partial = fragment ? await decode(fragment) : null;
  if (partial) applyState(withDefaults(partial, DEFAULTS));
  return partial !== null;
}

// ---- recipes and samples, with undo ----------------------------------------------------------

let undoState = null;

function offerUndo(what) {
  undoState = currentState();
  const note = $("undo-note");
  note.hidden = false;
  $("undo-text").textContent = `${what} loaded.`;
}

function undo() {
  if (!undoState) return;
  applyState(undoState);
  undoState = null;
  $("undo-note").hidden = true;
}

function loadRecipe(recipe) {
  offerUndo(`Recipe “${recipe.name}”`);
  const state = currentState();
  state.mode = recipe.mode || "expression";
  if (recipe.expr) state.expr = recipe.expr;
  if (recipe.mapping) state.mapping = recipe.mapping;
  state.record = JSON.stringify(recipe.record, null, 2);
  state.settings = { ...settings, ...(recipe.settings || {}) };
  applyState(state);
  $("recipes-dialog").close();
}

function renderRecipes() {
  $("recipe-list").replaceChildren(...recipes.map((recipe) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = recipe.name;
    button.onclick = () => loadRecipe(recipe);
    const about = document.createElement("p");
    about.textContent = recipe.about;
    li.append(button, about);
    return li;
  }));
}

// ---- settings -------------------------------------------------------------------------------

function openSettings() {
  $("setting-now").value = settings.now;
  $("setting-domain").value = settings.tenantDomain;
  $("setting-taken").value = settings.taken.join("\n");
  $("setting-ids").value = Object.entries(settings.ids).map(([k, v]) => `${k}=${v}`).join("\n");
  $("setting-patch").value = settings.patch;
  $("settings-error").textContent = "";
  $("settings-dialog").showModal();
}

function saveSettings(event) {
  const now = $("setting-now").value.trim();
  if (now && Number.isNaN(new Date(now).getTime())) {
    event.preventDefault();
    $("settings-error").textContent = "Now() must be a date and time such as 2026-01-31T09:00:00Z, or empty for the clock";
    return;
  }
  const ids = {};
  for (const line of $("setting-ids").value.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [key, ...rest] = line.split("=");
    if (!rest.length) {
      event.preventDefault();
      $("settings-error").textContent = `reference ids are written source-id=target-id, not “${line}”`;
      return;
    }
    ids[key.trim()] = rest.join("=").trim();
  }
  settings = {
    now,
    tenantDomain: $("setting-domain").value.trim(),
    taken: $("setting-taken").value.split("\n").map((l) => l.trim()).filter(Boolean),
    ids,
    patch: $("setting-patch").value,
  };
  saveSoon();
  schedule();
}

// ---- layout: mode tabs, phone tabs, resizable panes, theme ------------------------------------

function showMode() {
  for (const [name, tab] of [["expression", $("tab-expression")], ["mapping", $("tab-mapping")]]) {
    const on = mode === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  $("expression-panel").hidden = $("expression-output").hidden = mode !== "expression";
  $("mapping-panel").hidden = $("mapping-output").hidden = mode !== "mapping";
  document.body.dataset.mode = mode;
}

function setMode(next) {
  mode = next;
  showMode();
  saveSoon();
  schedule();
}

/// Tabs as the ARIA pattern has them: arrows move and select, Home and End too.
function tablist(list, select) {
  const tabs = [...list.querySelectorAll('[role="tab"]')];
  list.addEventListener("keydown", (event) => {
    const at = tabs.indexOf(document.activeElement);
    if (at === -1) return;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const tab = tabs[(to + tabs.length) % tabs.length];
    tab.focus();
    select(tab);
  });
  for (const tab of tabs) tab.addEventListener("click", () => select(tab));
}

function showSide(side) {
  document.body.dataset.side = side;
  for (const tab of document.querySelectorAll("#side-tabs [role=tab]")) {
    const on = tab.dataset.side === side;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
}

function resizablePanes() {
  const divider = $("divider");
  const main = document.querySelector("main");
  const set = (fraction) => {
    const f = Math.min(0.8, Math.max(0.2, fraction));
    main.style.setProperty("--inputs", `${f}fr`);
    main.style.setProperty("--outputs", `${1 - f}fr`);
    divider.setAttribute("aria-valuenow", String(Math.round(f * 100)));
  };
  divider.addEventListener("pointerdown", (event) => {
    divider.setPointerCapture(event.pointerId);
    const move = (e) => {
      const box = main.getBoundingClientRect();
      set((e.clientX - box.left) / box.width);
    };
    divider.addEventListener("pointermove", move);
    divider.addEventListener("pointerup", () => divider.removeEventListener("pointermove", move), { once: true });
  });
  divider.addEventListener("keydown", (event) => {
    const now = Number(divider.getAttribute("aria-valuenow")) / 100;
    const step = { ArrowLeft: -0.05, ArrowRight: 0.05 }[event.key];
    if (step) {
      event.preventDefault();
      set(now + step);
    }
  });
}

const THEMES = ["system", "light", "dark"];

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").textContent = `Theme: ${theme}`;
  try {
    localStorage.setItem("scimap-playground-theme", theme);
  } catch {
    // The theme is then only kept for this visit.
  }
}

// ---- reference -----------------------------------------------------------------------------

function renderReference() {
  const filter = $("function-filter").value.toLowerCase();
  const list = $("function-list");
  list.replaceChildren();
  for (const f of catalog.filter((f) => f.name.toLowerCase().includes(filter))) {
    const dt = document.createElement("dt");
    dt.textContent = f.signature;
    const dd = document.createElement("dd");
    dd.textContent = f.summary;
    list.append(dt, dd);
  }
}

// ---- copying a result ---------------------------------------------------------------------------

async function copyResult(id) {
  const value = id === "result-value" ? shownValue : $(id).textContent;
  try {
    await navigator.clipboard.writeText(value);
    $("copy-result-note").textContent = "copied";
  } catch {
    $("copy-result-note").textContent = "the browser refused the clipboard";
  }
}

// ---- start ----------------------------------------------------------------------------------

function status(words, state) {
  const element = $("status");
  element.textContent = words;
  element.dataset.state = state;
}

async function main() {
  applyTheme(THEMES.includes(localStorage.getItem("scimap-playground-theme")) ? localStorage.getItem("scimap-playground-theme") : "system");
  startEngine((words, state) => {
    if (firstResult || state === "error") status(words, state);
  });

  const expressionExtras = [
    autocompletion({ override: [completeExpression(() => catalog, attributeNames)], icons: false }),
    signatureHint(() => catalog),
  ];
  editor("expr", { doc: DEFAULTS.expr, language: entraLanguage(), wrap: true, extra: expressionExtras });
  editor("record", { doc: DEFAULTS.record, language: json(), lines: true });
  editor("mapping", { doc: "", language: json(), lines: true, wrap: true, extra: [expressionsInJson] });
  editor("exported", { doc: "", language: json(), lines: true });
  recordNames = namesOf(text("record"));

  const sample = $("sample");
  for (const name of Object.keys(samples)) sample.add(new Option(name, name));
  sample.onchange = () => {
    offerUndo(`Sample “${sample.value}”`);
    setText("record", JSON.stringify(samples[sample.value], null, 2));
  };

  const fromLink = location.hash.length > 1 && (await openFragment(location.hash.slice(1)));
  if (!fromLink) {
    const last = recalled();
    if (last) applyState(withDefaults(last, DEFAULTS));
  }
  // The page writes its links with replaceState, which fires no hashchange: every one
  // is a link pasted or followed in this tab.
  window.addEventListener("hashchange", () => {
    clearTimeout(saveTimer);
    if (location.hash.length > 1) openFragment(location.hash.slice(1));
  });

  tablist($("mode-tabs"), (tab) => setMode(tab.id === "tab-mapping" ? "mapping" : "expression"));
  tablist($("side-tabs"), (tab) => showSide(tab.dataset.side));
  showSide("inputs");
  $("object").addEventListener("change", () => { saveSoon(); schedule(); });
  $("load-default").onclick = () => {
    if (defaultMapping === null) return;
    offerUndo("Entra's default mapping");
    setText("mapping", defaultMapping);
  };
  $("copy-link").onclick = copyLink;
  $("recipes").onclick = () => $("recipes-dialog").showModal();
  $("settings").onclick = openSettings;
  $("settings-form").addEventListener("submit", saveSettings);
  $("shortcuts").onclick = () => $("shortcuts-dialog").showModal();
  $("undo").onclick = undo;
  $("theme").onclick = () => applyTheme(THEMES[(THEMES.indexOf(document.documentElement.dataset.theme) + 1) % THEMES.length]);
  $("copy-result").onclick = () => copyResult("result-value");
  $("copy-resource").onclick = () => copyResult("resource");
  $("explain").addEventListener("toggle", () => { if (explainOpen()) runNow(); });
  $("function-filter").addEventListener("input", renderReference);
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.querySelector(".close")?.addEventListener("click", () => dialog.close());
  }
  renderRecipes();
  resizablePanes();
  showMode();
  schedule();

  untilAnswered("default_mapping").then((mapping) => {
    // Shown in the editor, and left out of links while unchanged.
    defaultMapping = mapping;
    DEFAULTS.mapping = mapping;
    if (!text("mapping")) setText("mapping", mapping);
  });
  untilAnswered("attributes").then((names) => { entraAttributes = names; });
  catalog = await untilAnswered("functions");
  for (const f of catalog) knownFunctions.add(f.name);
  // The expression is tokenized again, now that unknown names can be told apart.
  views.expr.dispatch({ effects: languages.expr.reconfigure(entraLanguage()) });
  renderReference();
}

// For tests and the curious: the editors' text, and a way to set it.
window.playground = {
  text,
  set: (id, value) => setText(id, value),
  /// Types `value` at the cursor, as a keystroke does.
  insert: (id, value) => {
    const view = views[id];
    const at = view.state.selection.main.head;
    view.dispatch({ changes: { from: at, insert: value }, selection: { anchor: at + value.length }, userEvent: "input.type" });
  },
  cursor: (id) => views[id].state.selection.main.head,
  selected: (id) => {
    const { from, to } = views[id].state.selection.main;
    return views[id].state.doc.sliceString(from, to);
  },
  state: () => currentState(),
};

main();
