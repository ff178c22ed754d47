// Entra's expression language in CodeMirror: a tokenizer (also used for expressions
// inside a mapping's JSON strings), completion at the cursor for functions and for
// attribute names inside `[`, and a hint with the signature of the call the cursor is in.
// Every piece works on a bounded stretch of text, so no input makes it quadratic.

import { StreamLanguage } from "@codemirror/language";
import { StateField } from "@codemirror/state";
import { Decoration, ViewPlugin, showTooltip } from "@codemirror/view";
import { syntaxTree } from "@codemirror/language";
import { tagHighlighter, tags } from "@lezer/highlight";

/// Classes for the tokens of both languages (expressions and JSON), styled in CSS so
/// that themes only change variables.
export const highlighter = tagHighlighter([
  { tag: tags.string, class: "tok-string" },
  { tag: tags.number, class: "tok-number" },
  { tag: [tags.bool, tags.null], class: "tok-atom" },
  { tag: tags.propertyName, class: "tok-property" },
  { tag: tags.function(tags.variableName), class: "tok-function" },
  { tag: tags.variableName, class: "tok-variable" },
  { tag: tags.operator, class: "tok-operator" },
  { tag: [tags.paren, tags.brace, tags.squareBracket, tags.separator], class: "tok-punctuation" },
  { tag: tags.invalid, class: "tok-invalid" },
]);

const CLASSES = {
  string: "tok-string", number: "tok-number", propertyName: "tok-property", fn: "tok-function",
  variableName: "tok-variable", paren: "tok-punctuation", operator: "tok-operator",
};

/// The function table's names (Entra spells them exactly); empty until the engine has sent it.
export const knownFunctions = new Set();

/// One token of an expression from `stream`, as CodeMirror's stream parsers read it.
function token(stream) {
  if (stream.eatSpace()) return null;
  const ch = stream.next();
  if (ch === '"') {
    while (!stream.eol()) {
      const c = stream.next();
      if (c === "\\") stream.next();
      else if (c === '"') break;
    }
    return "string";
  }
  if (ch === "[") {
    stream.eatWhile((c) => c !== "]");
    stream.eat("]");
    return "propertyName";
  }
  if (ch === "&" && stream.match(/^[Hh][0-9A-Fa-f]+/)) return "number";
  if (/\d/.test(ch)) {
    stream.eatWhile(/\d/);
    return "number";
  }
  if (/[A-Za-z_]/.test(ch)) {
    stream.eatWhile(/[A-Za-z0-9_]/);
    if (!stream.match(/^\s*\(/, false)) return "variableName";
    // Names the function table lacks are marked, once the table is known.
    const name = stream.current();
    return knownFunctions.size && !knownFunctions.has(name) ? "invalid" : "fn";
  }
  if (/[()]/.test(ch)) return "paren";
  if (/[,<>=!&]/.test(ch)) return "operator";
  return "invalid";
}

/// The language for the expression editor. A new one is made when the function table
/// arrives, so that the text is read again with the table's names.
export function entraLanguage() {
  return StreamLanguage.define({
    name: "entra",
    token,
    tokenTable: { fn: tags.function(tags.variableName) },
    languageData: { closeBrackets: { brackets: ["(", "[", '"'] } },
  });
}

/// The tokens of `text` as [from, to, type] (for highlighting inside JSON strings).
export function tokens(text) {
  const out = [];
  // A minimal StringStream: the stream parser's token function only needs these.
  const stream = {
    string: text, pos: 0, start: 0,
    eol() { return this.pos >= this.string.length; },
    current() { return this.string.slice(this.start, this.pos); },
    peek() { return this.string.charAt(this.pos) || undefined; },
    next() { return this.pos < this.string.length ? this.string.charAt(this.pos++) : undefined; },
    eat(match) {
      const ch = this.string.charAt(this.pos);
      const ok = typeof match === "string" ? ch === match : ch && (match.test ? match.test(ch) : match(ch));
      if (ok) { this.pos++; return ch; }
      return undefined;
    },
    eatWhile(match) { const start = this.pos; while (this.eat(match)); return this.pos > start; },
    eatSpace() { const start = this.pos; while (/\s/.test(this.string.charAt(this.pos))) this.pos++; return this.pos > start; },
    match(pattern, consume = true) {
      const m = this.string.slice(this.pos).match(pattern);
      if (!m || m.index > 0) return null;
      if (consume) this.pos += m[0].length;
      return m;
    },
  };
  while (!stream.eol()) {
    stream.start = stream.pos;
    const type = token(stream);
    if (type) out.push([stream.start, stream.pos, type]);
  }
  return out;
}

// ---- the call the cursor is in ----------------------------------------------------

const LOOKBACK = 4096;

/// The innermost unclosed call before `pos`: its name, where it starts, and which
/// argument the cursor is on. Reads at most LOOKBACK characters back.
export function callAt(text, pos) {
  const from = Math.max(0, pos - LOOKBACK);
  const stack = [];
  let i = from;
  while (i < pos) {
    const ch = text[i];
    if (ch === '"') {
      i++;
      while (i < pos && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      if (i >= pos) return null; // inside a string
    } else if (ch === "[") {
      const close = text.indexOf("]", i);
      if (close === -1 || close >= pos) return null; // inside an attribute name
      i = close;
    } else if (ch === "(") {
      const name = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(text.slice(Math.max(from, i - 64), i));
      stack.push({ name: name ? name[1] : null, at: i, arg: 0 });
    } else if (ch === ")") {
      stack.pop();
    } else if (ch === "," && stack.length) {
      stack[stack.length - 1].arg++;
    }
    i++;
  }
  const top = stack[stack.length - 1];
  return top && top.name ? top : null;
}

/// Whether `pos` is inside `[…]`, and where the name there starts.
function attributeAt(text, pos) {
  const line = text.lastIndexOf("\n", pos - 1) + 1;
  const before = text.slice(Math.max(line, pos - 256), pos);
  const open = before.lastIndexOf("[");
  if (open === -1 || before.indexOf("]", open) !== -1) return null;
  if ((before.slice(0, open).match(/"/g) || []).length % 2 === 1) return null;
  return pos - before.length + open + 1;
}

/// The parameter a call's argument `arg` fills (repeated parameters cycle).
function parameterOf(fn, arg) {
  const params = fn.params || [];
  if (arg < params.length) return arg;
  const repeat = fn.repeat || 0;
  if (!repeat) return -1;
  const fixed = params.length - repeat;
  return fixed + ((arg - fixed) % repeat);
}

// ---- completion and the signature hint -----------------------------------------------

/// Completion for the expression editor: `catalog()` is the function table, and
/// `names()` the attribute names (the record's and Entra's).
export function completeExpression(catalog, names) {
  return (context) => {
    const text = context.state.doc.sliceString(Math.max(0, context.pos - 256), context.pos);
    const offset = Math.max(0, context.pos - 256);
    const attribute = attributeAt(text, text.length);
    if (attribute !== null) {
      const from = offset + attribute;
      const typed = context.state.doc.sliceString(from, context.pos).toLowerCase();
      const options = names()
        .filter((n) => n.toLowerCase().startsWith(typed) && n.toLowerCase() !== typed)
        .map((n) => ({ label: n, type: "property", apply: closeBracket(n) }));
      return options.length ? { from, options, validFor: /^[\w.-]*$/ } : null;
    }
    const word = context.matchBefore(/[A-Za-z][A-Za-z0-9]*/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    if ((text.match(/"/g) || []).length % 2 === 1) return null;
    const typed = word.text.toLowerCase();
    const options = catalog()
      // A name typed in full is not offered again: Enter then means a new line.
      .filter((f) => f.name.toLowerCase().startsWith(typed) && f.name !== word.text)
      .map((f) => ({
        label: f.name,
        type: "function",
        detail: f.signature.slice(f.name.length),
        info: f.summary,
        apply: callOf(f.name),
      }));
    return options.length ? { from: word.from, options, validFor: /^[A-Za-z0-9]*$/ } : null;
  };
}

/// Inserts `Name()` with the cursor between the parentheses (or only the name when a
/// `(` follows already).
function callOf(name) {
  return (view, completion, from, to) => {
    const open = view.state.doc.sliceString(to, to + 1) === "(";
    const insert = open ? name : name + "()";
    view.dispatch({ changes: { from, to, insert }, selection: { anchor: from + name.length + 1 } });
  };
}

/// Inserts the name and the closing `]` when it is not already there.
function closeBracket(name) {
  return (view, completion, from, to) => {
    const after = view.state.doc.sliceString(to, to + 1);
    const insert = after === "]" ? name : name + "]";
    view.dispatch({ changes: { from, to, insert }, selection: { anchor: from + name.length + 1 } });
  };
}

/// A tooltip above the cursor with the signature of the call it is in, the current
/// parameter marked.
export function signatureHint(catalog) {
  const hint = (state) => {
    const range = state.selection.main;
    if (!range.empty) return null;
    const pos = range.head;
    const from = Math.max(0, pos - LOOKBACK);
    const call = callAt(state.doc.sliceString(from, pos), pos - from);
    if (!call) return null;
    const fn = catalog().find((f) => f.name.toLowerCase() === call.name.toLowerCase());
    if (!fn) return null;
    return {
      pos,
      above: true,
      arrow: false,
      create: () => ({ dom: signatureDom(fn, parameterOf(fn, call.arg)) }),
    };
  };
  return StateField.define({
    create: hint,
    update: (value, tr) => (tr.docChanged || tr.selection ? hint(tr.state) : value),
    provide: (field) => showTooltip.from(field),
  });
}

function signatureDom(fn, current) {
  const dom = document.createElement("div");
  dom.className = "signature";
  dom.setAttribute("role", "note");
  const name = document.createElement("span");
  name.className = "tok-function";
  name.textContent = fn.name;
  dom.append(name, "(");
  (fn.params || []).forEach((p, i) => {
    if (i) dom.append(", ");
    const param = document.createElement(i === current ? "strong" : "span");
    param.textContent = p.name + (p.optional ? "?" : "");
    dom.append(param);
  });
  if (fn.repeat) dom.append(", …");
  dom.append(")");
  const param = (fn.params || [])[current];
  if (param && param.docs) {
    const docs = document.createElement("div");
    docs.className = "signature-docs";
    docs.textContent = `${param.name}: ${param.docs}`;
    dom.append(docs);
  }
  return dom;
}

// ---- expressions inside a mapping's JSON ---------------------------------------------

const EXPRESSION_KEYS = new Set(["expression", "source", "scopingFilter", "matchingExpression"]);
const marks = {};
const mark = (type) => (marks[type] ||= Decoration.mark({ class: `in-expr ${CLASSES[type]}` }));

/// Highlights the expression language inside the JSON strings of keys that hold
/// expressions (`"expression": "Join(…)"`), in the visible part of the document only.
export const expressionsInJson = ViewPlugin.fromClass(
  class {
    constructor(view) {
      this.decorations = this.build(view);
    }
    update(update) {
      if (update.docChanged || update.viewportChanged || update.geometryChanged || syntaxTree(update.startState) !== syntaxTree(update.state)) {
        this.decorations = this.build(update.view);
      }
    }
    build(view) {
      const ranges = [];
      const doc = view.state.doc;
      for (const { from, to } of view.visibleRanges) {
        syntaxTree(view.state).iterate({
          from, to,
          enter: (node) => {
            if (node.name !== "String" || node.to - node.from > 4096) return;
            let key = node.node.prevSibling;
            if (key && key.name === ":") key = key.prevSibling;
            if (!key || key.name !== "PropertyName") return;
            if (!EXPRESSION_KEYS.has(doc.sliceString(key.from + 1, key.to - 1))) return;
            const inner = doc.sliceString(node.from + 1, node.to - 1);
            // JSON escapes keep offsets close enough for colour; `\\"` is read as `"`.
            for (const [a, b, type] of tokens(inner.replaceAll('\\"', ' "'))) {
              if (CLASSES[type]) ranges.push(mark(type).range(node.from + 1 + a, node.from + 1 + b));
            }
          },
        });
      }
      return Decoration.set(ranges, true);
    }
  },
  { decorations: (plugin) => plugin.decorations },
);
