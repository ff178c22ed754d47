// The page: editors, the worker that runs the wasm, and the state kept in the URL.
import { samples } from "./samples.js";

const $ = (id) => document.getElementById(id);
const MAX_INPUT = 1 << 20; // characters per editor; larger pastes are refused, not evaluated
// An answer's time is counted from when the engine is ready, never during its download.
const TIMEOUT_MS = 3000;

// ---- the worker -----------------------------------------------------------------

let worker = null;
let ready = false;
let loadFailures = 0;
let nextId = 0;
const pending = new Map();

function setStatus(text, state) {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
}

function startWorker() {
  ready = false;
  worker = new Worker("worker.js", { type: "module" });
  worker.onmessage = ({ data }) => {
    if ("ready" in data) {
      engineLoaded(data);
      return;
    }
    const request = pending.get(data.id);
    if (!request) return;
    pending.delete(data.id);
    clearTimeout(request.timer);
    if (data.failure) request.reject(new Error(data.failure));
    else request.resolve(data.result);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    const why = event.message || "unknown error";
    if (ready) restart(new Error("the evaluator stopped: " + why));
    else engineLoaded({ ready: false, failure: why });
  };
}

/// The engine loaded, or failed to (offline, a broken download): then it is fetched
/// again after a pause that grows, and what waits for it keeps waiting.
function engineLoaded({ ready: ok, failure }) {
  if (!ok) {
    loadFailures += 1;
    const wait = Math.min(30, 2 ** loadFailures);
    setStatus(`the engine did not load (${failure}); trying again in ${wait} s`, "error");
    worker.terminate();
    setTimeout(startWorker, wait * 1000);
    return;
  }
  ready = true;
  loadFailures = 0;
  if (firstResult) setStatus("engine loaded", "loading");
  for (const [id, request] of pending) send(id, request);
}

function send(id, request) {
  request.timer = setTimeout(
    () => restart(new Error(`stopped after ${TIMEOUT_MS / 1000} s without an answer`)),
    TIMEOUT_MS,
  );
  worker.postMessage({ id, op: request.op, args: request.args });
}

/// A hung evaluation: what waits fails, and a fresh engine starts (its wasm now cached).
function restart(error) {
  for (const request of pending.values()) {
    clearTimeout(request.timer);
    request.reject(error);
  }
  pending.clear();
  worker.terminate();
  startWorker();
}

function call(op, ...args) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const request = { op, args, resolve, reject, timer: null };
    pending.set(id, request);
    if (ready) send(id, request);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Asks until it is answered: the function table and the default mapping must not stay
/// empty for the session because one attempt met a restart.
async function untilAnswered(op) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(op);
    } catch {
      await sleep(Math.min(5000, 250 * 2 ** attempt));
    }
  }
}

// ---- state in the URL -----------------------------------------------------------

const editors = ["expr", "record", "mapping", "exported"];
let mode = "expression";

function encodeState() {
  const state = { mode, object: $("object").value };
  for (const id of editors) state[id] = $(id).value;
  const bytes = new TextEncoder().encode(JSON.stringify(state));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function decodeState(text) {
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

let saveTimer = null;
function saveState() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => history.replaceState(null, "", "#" + encodeState()), 250);
}

// ---- highlighting and diagnostics in the expression editor -------------------------

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function tokens(source) {
  const out = [];
  const pattern = /("(?:[^"\\]|\\.)*"?)|(\[[^\]\n]*\]?)|(&[Hh][0-9A-Fa-f]+|\d+)|([A-Za-z_][A-Za-z0-9_]*)(?=\s*\()|([A-Za-z_][A-Za-z0-9_]*)|([(),<>=!&]+)|(\s+)|(.)/gy;
  let match;
  while ((match = pattern.exec(source)) !== null) {
    const [text, str, attr, num, fn] = match;
    const cls = str ? "tok-str" : attr ? "tok-attr" : num ? "tok-num" : fn ? "tok-fn" : match[6] ? "tok-op" : "";
    out.push({ start: match.index, end: match.index + text.length, cls });
  }
  return out;
}

/// The highlighted expression, with the primary span of each diagnostic underlined.
function highlight(source, diagnostics) {
  const marks = [];
  for (const d of diagnostics) {
    const label = d.labels.find((l) => l.primary) || d.labels[0];
    if (!label) continue;
    // An empty span (end of input) underlines the character before it.
    const start = label.end > label.start ? label.start : Math.max(0, label.start - 1);
    const end = Math.max(label.end, start + 1);
    marks.push({ start, end, d });
  }
  const boundaries = new Set([0, source.length]);
  for (const t of tokens(source)) { boundaries.add(t.start); boundaries.add(t.end); }
  for (const m of marks) { boundaries.add(Math.min(m.start, source.length)); boundaries.add(Math.min(m.end, source.length)); }
  const points = [...boundaries].sort((a, b) => a - b);
  const toks = tokens(source);
  let html = "";
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const tok = toks.find((t) => t.start <= a && b <= t.end);
    const mark = marks.find((m) => m.start <= a && b <= m.end);
    let piece = escapeHtml(source.slice(a, b));
    if (tok && tok.cls) piece = `<span class="${tok.cls}">${piece}</span>`;
    if (mark) {
      const cls = mark.d.severity === "warning" ? "diag-underline warning" : "diag-underline";
      piece = `<span class="${cls}" data-start="${mark.start}" title="${escapeHtml(mark.d.message)}">${piece}</span>`;
    }
    html += piece;
  }
  // A trailing newline keeps the overlay's height equal to the textarea's.
  return html + "\n";
}

function renderDiagnostics(list, diagnostics, source) {
  list.replaceChildren(...diagnostics.map((d) => {
    const li = document.createElement("li");
    li.className = d.severity;
    const label = d.labels.find((l) => l.primary) || d.labels[0];
    const where = label && source != null ? ` at ${position(source, label.start)}` : "";
    li.innerHTML = `<span class="code">${d.severity}[${escapeHtml(d.code)}]${where}</span> ${escapeHtml(d.message)}` +
      (label && label.message ? ` <em>(${escapeHtml(label.message)})</em>` : "") +
      (d.help ? `<div class="help">help: ${escapeHtml(d.help)}</div>` : "");
    return li;
  }));
}

function position(source, offset) {
  const before = source.slice(0, offset).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

// ---- running ----------------------------------------------------------------------

const options = () => JSON.stringify({ now: new Date().toISOString(), seed: 7 });

function tooLarge() {
  for (const id of editors) {
    if ($(id).value.length > MAX_INPUT) return `the ${id === "expr" ? "expression" : id} is larger than 1 MiB; it was not evaluated`;
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
      const out = await call("evaluate", $("expr").value, $("record").value, options());
      if (mine === generation) showEvaluation(out);
    } else if (!$("mapping").value && !defaultMappingLoaded) {
      $("outcome-kind").textContent = "loading Entra's default mapping…";
      $("outcome-kind").className = "kind";
      return;
    } else {
      const out = await call("apply", $("mapping").value, $("record").value, $("exported").value,
        JSON.stringify({ object: $("object").value, now: new Date().toISOString(), seed: 7 }));
      if (mine === generation) showMapping(out);
    }
  } catch (error) {
    if (mine === generation) showFailure(error.message);
  }
  if (firstResult && mine === generation) {
    firstResult = false;
    window.__firstResultMs = performance.now();
    setStatus("ready", "ready");
  }
}

function showRecordError(message) {
  const p = $("record-error");
  p.hidden = !message;
  p.textContent = message ? `record: ${message}` : "";
}

function showEvaluation(out) {
  const source = $("expr").value;
  const diagnostics = out.diagnostics || [];
  const shown = out.result && out.result.kind === "error" ? [...diagnostics, out.result.error] : diagnostics;
  $("expr-highlight").innerHTML = highlight(source, shown);
  renderDiagnostics($("diagnostics"), shown, source);
  showRecordError(out.recordError || out.inputError);
  const kind = $("result-kind");
  const value = $("result-value");
  if (!out.result) {
    kind.textContent = diagnostics.some((d) => d.severity === "error") ? "does not check" : "no result";
    kind.className = "kind error";
    value.textContent = "";
    return;
  }
  const r = out.result;
  kind.className = r.kind === "error" ? "kind error" : "kind";
  kind.textContent = { null: "null: not sent", ignored: "flow ignored: attribute left out", error: "evaluation error" }[r.kind] || r.kind;
  value.textContent = r.kind === "error" ? r.error.message
    : r.kind === "string" ? r.value
    : r.kind === "null" || r.kind === "ignored" ? ""
    : JSON.stringify(r.value, null, 2);
}

function showMapping(out) {
  const source = $("mapping").value;
  renderDiagnostics($("mapping-diagnostics"), out.diagnostics || [], source);
  showRecordError(out.recordError || out.inputError);
  const kind = $("outcome-kind");
  const o = out.outcome;
  const pretty = (v) => (v == null ? "(no change)" : JSON.stringify(v, null, 2));
  if (!o) {
    kind.textContent = "no resource";
    kind.className = "kind error";
    $("resource").textContent = "";
  } else if (o.outOfScope) {
    kind.textContent = "out of scope";
    kind.className = "kind";
    $("resource").textContent = "";
  } else if (o.error) {
    kind.textContent = "error";
    kind.className = "kind error";
    $("resource").textContent = o.error;
  } else {
    kind.textContent = "create";
    kind.className = "kind";
    const unresolved = (o.unresolved || []).map((u) => `\n(reference ${u.target} → ${u.id} not provisioned yet: left out)`).join("");
    $("resource").textContent = pretty(o.resource) + unresolved;
  }
  const p = out.patch;
  const app = p && "changes" in p;
  const legacy = app ? `(not SCIM: the app gets this change set)\n${pretty(p.changes)}` : p && pretty(p.legacy);
  const rfc = app ? "(not SCIM: the app gets the change set above)" : p && pretty(p.rfc);
  $("patch-legacy").textContent = !p ? "(give the resource as last exported)" : p.error || (p.outOfScope ? "out of scope" : legacy);
  $("patch-rfc").textContent = !p ? "(give the resource as last exported)" : p.error || (p.outOfScope ? "out of scope" : rfc);
}

function showFailure(message) {
  if (mode === "expression") {
    $("result-kind").textContent = "stopped";
    $("result-kind").className = "kind error";
    $("result-value").textContent = message;
  } else {
    $("outcome-kind").textContent = "stopped";
    $("outcome-kind").className = "kind error";
    $("resource").textContent = message;
  }
}

let runTimer = null;
function schedule() {
  saveState();
  if (mode === "expression") $("expr-highlight").innerHTML = highlight($("expr").value, []);
  clearTimeout(runTimer);
  runTimer = setTimeout(run, 80);
}

// ---- functions: reference and autocomplete ------------------------------------------

let catalog = [];

function renderReference() {
  const filter = $("function-filter").value.toLowerCase();
  const list = $("function-list");
  list.replaceChildren();
  for (const f of catalog.filter((f) => f.name.toLowerCase().includes(filter))) {
    const dt = document.createElement("dt");
    dt.textContent = f.signature;
    const dd = document.createElement("dd");
    dd.textContent = f.summary;
    dd.title = f.docs;
    list.append(dt, dd);
  }
}

let choices = [];
let chosen = 0;

function wordBeforeCaret() {
  const el = $("expr");
  const before = el.value.slice(0, el.selectionStart);
  const match = /[A-Za-z][A-Za-z0-9]*$/.exec(before);
  if (!match) return null;
  // Not inside a string or an attribute name.
  const quotes = (before.match(/"/g) || []).length;
  const open = before.lastIndexOf("["), close = before.lastIndexOf("]");
  if (quotes % 2 === 1 || open > close) return null;
  return { word: match[0], start: match.index };
}

function updateCompletions() {
  const box = $("completions");
  const at = wordBeforeCaret();
  choices = at ? catalog.filter((f) => f.name.toLowerCase().startsWith(at.word.toLowerCase()) && f.name !== at.word) : [];
  chosen = 0;
  box.hidden = choices.length === 0;
  box.replaceChildren(...choices.slice(0, 12).map((f, i) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === chosen));
    li.textContent = f.signature;
    li.onmousedown = (e) => { e.preventDefault(); accept(i); };
    return li;
  }));
}

function accept(i) {
  const at = wordBeforeCaret();
  if (!at || !choices[i]) return;
  const el = $("expr");
  const name = choices[i].name + "(";
  el.value = el.value.slice(0, at.start) + name + el.value.slice(el.selectionStart);
  el.selectionStart = el.selectionEnd = at.start + name.length;
  $("completions").hidden = true;
  schedule();
}

$("expr").addEventListener("keydown", (e) => {
  if ($("completions").hidden) return;
  const n = Math.min(choices.length, 12);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    chosen = (chosen + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    [...$("completions").children].forEach((li, i) => li.setAttribute("aria-selected", String(i === chosen)));
  } else if (e.key === "Tab" || e.key === "Enter") {
    e.preventDefault();
    accept(chosen);
  } else if (e.key === "Escape") {
    $("completions").hidden = true;
  }
});

// ---- wiring ------------------------------------------------------------------------

function setMode(next) {
  mode = next;
  $("tab-expression").setAttribute("aria-selected", String(mode === "expression"));
  $("tab-mapping").setAttribute("aria-selected", String(mode === "mapping"));
  $("expression-pane").hidden = $("expression-output").hidden = mode !== "expression";
  $("mapping-pane").hidden = $("mapping-output").hidden = mode !== "mapping";
  schedule();
}

let defaultMappingLoaded = false;

async function main() {
  setStatus("loading the engine…", "loading");
  startWorker();
  const sample = $("sample");
  for (const name of Object.keys(samples)) sample.add(new Option(name, name));
  sample.onchange = () => { $("record").value = JSON.stringify(samples[sample.value], null, 2); schedule(); };
  $("record").value = JSON.stringify(samples[sample.value], null, 2);

  const state = location.hash.length > 1 ? decodeState(location.hash.slice(1)) : null;
  if (state) {
    for (const id of editors) if (typeof state[id] === "string") $(id).value = state[id];
    if (state.object) $("object").value = state.object;
  }
  untilAnswered("default_mapping").then((text) => {
    defaultMappingLoaded = true;
    if (!$("mapping").value) {
      $("mapping").value = text;
      if (mode === "mapping") schedule();
    }
  });

  $("tab-expression").onclick = () => setMode("expression");
  $("tab-mapping").onclick = () => setMode("mapping");
  $("load-default").onclick = async () => { $("mapping").value = await call("default_mapping"); schedule(); };
  for (const id of [...editors, "object"]) $(id).addEventListener("input", schedule);
  $("object").addEventListener("change", schedule);
  $("expr").addEventListener("input", updateCompletions);
  $("expr").addEventListener("blur", () => { $("completions").hidden = true; });
  $("expr").addEventListener("scroll", () => { $("expr-highlight").scrollTop = $("expr").scrollTop; });
  $("function-filter").addEventListener("input", renderReference);

  setMode(state && state.mode === "mapping" ? "mapping" : "expression");
  catalog = await untilAnswered("functions");
  renderReference();
}

main();
