//! Entra's function library. Every function is declared once, in `registry.rs` ([`FUNCTIONS`]); the
//! checker, the compiler, the VM, the generated reference (`docs/functions.md`), the
//! Graph-style parameter keys and the playground's autocomplete all read that table.

mod case;
mod context;
mod date;
mod diacritics;
mod logic;
pub(crate) mod multi;
mod netformat;
// .NET's regex dialect; public for the fuzz targets only.
#[cfg(feature = "unstable-internals")]
pub mod netregex;
#[cfg(not(feature = "unstable-internals"))]
pub(crate) mod netregex;
mod registry;
mod replace;
mod roles;
mod text;

use std::borrow::Cow;

pub use logic::Presence;
pub use registry::FUNCTIONS;
pub use roles::app_role_update;

use crate::context::Context;
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::value::Value;

/// One function of the language.
#[derive(Debug)]
pub struct Function {
    pub name: &'static str,
    pub params: &'static [Param],
    /// How many trailing parameters form a group that repeats (`Join`'s sources,
    /// `Switch`'s key/value pairs); 0 when nothing repeats.
    pub repeat: usize,
    /// How many times the repeating group must appear at least.
    pub min_repeats: usize,
    /// Shorter forms a call may take, each listing the slots its arguments fill in
    /// order (`FormatDateTime(source, inputFormat, outputFormat)` fills 0, 2 and 3);
    /// the parser leaves the other slots empty.
    pub forms: &'static [&'static [usize]],
    /// One sentence for autocomplete.
    pub summary: &'static str,
    /// The reference text (Markdown).
    pub docs: &'static str,
    pub examples: &'static [Example],
    pub(crate) implementation: Implementation,
    /// Work done once per call site when compiling, from the constant arguments
    /// (a regex, a culture, date formats).
    pub(crate) prepare: Option<Prepare>,
    /// A test of presence, which IIF compiles into its branch; Entra warns against one
    /// as IIF's condition or Switch's source.
    pub presence: Option<Presence>,
    /// Asks the target which values are taken (`SelectUniqueValue`): only allowed as
    /// the whole expression, and a provisioning engine answers it.
    pub asks_target: bool,
    /// Its value is hidden in logs.
    pub redacts: bool,
    /// The PATCH operation Entra sends for its value on update, when it is not the
    /// value replaced (app roles: added, or replacing the target's list).
    pub(crate) update: Option<UpdateForm>,
}

/// Prepares a call site from its arguments as written.
pub(crate) type UpdateForm = fn(&Value<'_>) -> Result<serde_json::Value, String>;

pub(crate) type Prepare = fn(&Site<'_>) -> Result<Prepared, Diagnostic>;

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    /// The key Microsoft Graph's `attributeMappingSource.parameters` uses for it.
    pub graph_key: &'static str,
    pub kind: ArgKind,
    /// Whether the slot may be left empty (`f(a, , c)`) or off the end.
    pub optional: bool,
    pub docs: &'static str,
}

/// What an argument must be, as far as can be known before evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    Any,
    Text,
    Number,
    Boolean,
    /// A multi-valued attribute (a single value counts as a list of one).
    Multi,
    /// A culture name such as `en-US` (`""` is the invariant culture).
    Culture,
    /// One of a fixed set of bare names, e.g. `vbTextCompare`.
    Enum(&'static [&'static str]),
}

impl ArgKind {
    pub fn name(self) -> &'static str {
        match self {
            ArgKind::Any => "any",
            ArgKind::Text => "string",
            ArgKind::Number => "number",
            ArgKind::Boolean => "boolean",
            ArgKind::Multi => "multi-valued",
            ArgKind::Culture => "culture",
            ArgKind::Enum(_) => "name",
        }
    }
}

#[derive(Debug)]
pub struct Example {
    pub expression: &'static str,
    /// The source record, as JSON.
    pub record: &'static str,
    /// The result as JSON (`null` for no value), or `ignored`.
    pub result: &'static str,
}

pub(crate) type NativeFn = for<'a> fn(&mut Args<'a, '_>) -> Result<Value<'a>, Fault>;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Implementation {
    /// Evaluated by a Rust function over already-evaluated arguments; depends on
    /// nothing else, so calls on constants are evaluated once, when compiling.
    Native(NativeFn),
    /// Evaluated by a Rust function that also reads the evaluation context (the clock,
    /// randomness, the tenant, the target's existing values): never evaluated early.
    Contextual(NativeFn),
    /// Compiled to jumps, because only some arguments are evaluated.
    Special(Special),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Iif,
    Switch,
    Coalesce,
}

impl Function {
    /// Looks a function up by its exact (case-sensitive) name.
    pub fn lookup(name: &str) -> Option<&'static Function> {
        FUNCTIONS.iter().find(|f| f.name == name)
    }

    /// The slots a call of `count` arguments fills, when that count is a shorter form.
    pub fn form(&self, count: usize) -> Option<&'static [usize]> {
        self.forms
            .iter()
            .copied()
            .find(|slots| slots.len() == count)
    }

    pub fn fixed_params(&self) -> &'static [Param] {
        &self.params[..self.fixed_len()]
    }

    /// How many parameters come before the repeating group.
    fn fixed_len(&self) -> usize {
        self.params.len() - self.repeat
    }

    /// How many leading parameters a call must fill (for functions without a
    /// repeating group; optional ones come last).
    fn required_len(&self) -> usize {
        self.params
            .iter()
            .rposition(|p| !p.optional)
            .map_or(0, |i| i + 1)
    }

    pub fn accepts_arity(&self, n: usize) -> bool {
        let fixed = self.fixed_len();
        if self.repeat == 0 {
            (self.required_len()..=fixed).contains(&n)
        } else {
            n >= fixed + self.min_repeats * self.repeat && (n - fixed) % self.repeat == 0
        }
    }

    /// The parameter the `index`-th argument binds to; `None` past the last parameter
    /// of a function whose arguments do not repeat.
    pub fn param(&self, index: usize) -> Option<&'static Param> {
        let fixed = self.fixed_len();
        if index < fixed || self.repeat == 0 {
            self.params.get(index)
        } else {
            self.params.get(fixed + (index - fixed) % self.repeat)
        }
    }

    /// `Name(a, b, c1, ...)`, for messages and the reference.
    pub fn signature(&self) -> String {
        let fixed = self.fixed_params().iter().map(|p| {
            if p.optional {
                format!("{}?", p.name)
            } else {
                p.name.to_string()
            }
        });
        let repeated = self.params[self.fixed_len()..]
            .iter()
            .map(|p| format!("{}…", p.name));
        let mut signature = format!(
            "{}({})",
            self.name,
            fixed.chain(repeated).collect::<Vec<_>>().join(", ")
        );
        for slots in self.forms {
            let names: Vec<&str> = slots.iter().map(|&i| self.params[i].name).collect();
            signature.push_str(&format!(" or {}({})", self.name, names.join(", ")));
        }
        signature
    }

    /// The function as JSON, for editors (autocomplete, a reference panel): name,
    /// signature, summary, docs, parameters with their Graph keys, examples.
    pub fn to_json(&self) -> serde_json::Value {
        let params: Vec<serde_json::Value> = self
            .params
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name, "graphKey": p.graph_key, "kind": p.kind.name(),
                    "optional": p.optional, "docs": p.docs,
                })
            })
            .collect();
        let examples: Vec<serde_json::Value> = self
            .examples
            .iter()
            .map(|e| serde_json::json!({"expression": e.expression, "record": e.record, "result": e.result}))
            .collect();
        serde_json::json!({
            "name": self.name, "signature": self.signature(), "summary": self.summary,
            "docs": self.docs, "params": params, "repeat": self.repeat, "examples": examples,
        })
    }

    /// Plain-language arity for messages: "2 arguments", "2 to 4 arguments", …
    pub fn arity_text(&self) -> String {
        let fixed = self.fixed_len();
        if self.repeat == 0 {
            let required = self.required_len();
            let counts = if required == fixed {
                plural(fixed, "argument")
            } else {
                format!("{required} to {fixed} arguments")
            };
            match self.forms {
                [] => counts,
                forms => {
                    let shorter: Vec<String> = forms.iter().map(|f| f.len().to_string()).collect();
                    format!("{counts} (or {})", shorter.join(" or "))
                }
            }
        } else if self.repeat == 1 {
            format!("at least {}", plural(fixed + self.min_repeats, "argument"))
        } else {
            let min = fixed + self.min_repeats * self.repeat;
            format!(
                "{fixed} arguments followed by groups of {} (at least {min} in all)",
                self.repeat
            )
        }
    }

    /// Whether results depend only on the arguments, so calls on constants can be
    /// evaluated once at compile time.
    pub fn is_pure(&self) -> bool {
        matches!(self.implementation, Implementation::Native(_))
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Work done once per call site at compile time, from arguments that are constants.
#[derive(Debug, Default)]
pub(crate) enum Prepared {
    #[default]
    None,
    Replace(Box<replace::Plan>),
    Culture(case::Culture),
    /// FormatDateTime's input and output formats, when they are constants.
    DateFormats(Option<Vec<netformat::Token>>, Option<Vec<netformat::Token>>),
}

/// An argument as written, as much of it as preparing a call site reads: its value
/// when it is a string constant, and where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written<'e> {
    pub literal: Option<&'e str>,
    pub span: Span,
}

/// What the checker hands a function to prepare a call site: the arguments as written
/// (`None` for one left empty).
pub(crate) struct Site<'e> {
    /// The whole expression's text, for places inside string constants.
    pub source: &'e str,
    pub args: &'e [Option<Written<'e>>],
    pub arg_spans: &'e [Span],
    pub call_span: Span,
    /// Warnings found while preparing, for the checker to report.
    pub warnings: std::cell::RefCell<Vec<Diagnostic>>,
}

impl<'e> Site<'e> {
    pub fn literal(&self, i: usize) -> Option<&'e str> {
        self.args.get(i).copied().flatten()?.literal
    }

    pub fn present(&self, i: usize) -> bool {
        self.args.get(i).is_some_and(Option::is_some)
    }

    pub fn span(&self, i: usize) -> Span {
        self.arg_spans.get(i).copied().unwrap_or(self.call_span)
    }

    /// Where bytes `range` of the string constant in slot `i` are written in the
    /// source: `\"` and `\\` take two bytes there for one in the value. The whole
    /// argument when slot `i` is not a string constant as written.
    pub fn inside(&self, i: usize, range: std::ops::Range<usize>) -> Span {
        let Some(written) = self.args.get(i).copied().flatten() else {
            return self.span(i);
        };
        let (start, end) = (written.span.start as usize, written.span.end as usize);
        let Some(body) = self
            .source
            .get(start..end)
            .and_then(|t| t.strip_prefix('"')?.strip_suffix('"'))
        else {
            return written.span;
        };
        let raw = |offset: usize| {
            let bytes = body.as_bytes();
            let (mut at, mut value) = (0, 0);
            while at < bytes.len() && value < offset {
                let pair = bytes[at] == b'\\' && matches!(bytes.get(at + 1), Some(b'"' | b'\\'));
                at += if pair { 2 } else { 1 };
                value += 1;
            }
            start + 1 + at
        };
        let (from, to) = (raw(range.start), raw(range.end.max(range.start + 1)));
        Span::new(from, to.min(end - 1))
    }

    pub fn warn(&self, d: Diagnostic) {
        self.warnings.borrow_mut().push(d);
    }
}

pub(crate) fn prepare(function: &Function, site: &Site<'_>) -> Result<Prepared, Diagnostic> {
    function
        .prepare
        .map_or(Ok(Prepared::None), |prepare| prepare(site))
}

fn prepare_replace(site: &Site<'_>) -> Result<Prepared, Diagnostic> {
    replace::prepare(site).map(|p| Prepared::Replace(Box::new(p)))
}

fn prepare_culture(site: &Site<'_>) -> Result<Prepared, Diagnostic> {
    case::prepare(site).map(Prepared::Culture)
}

/// An evaluation failure inside a function, before the VM adds where it happened.
/// Boxed, so that a function's `Result` stays as small as a value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault(Box<FaultData>);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FaultData {
    pub code: Code,
    /// The argument at fault, when there is one.
    pub arg: Option<usize>,
    pub message: String,
}

impl std::ops::Deref for Fault {
    type Target = FaultData;

    fn deref(&self) -> &FaultData {
        &self.0
    }
}

impl Fault {
    pub fn new(code: Code, arg: Option<usize>, message: impl Into<String>) -> Fault {
        Fault(Box::new(FaultData {
            code,
            arg,
            message: message.into(),
        }))
    }

    pub fn arg(index: usize, message: impl Into<String>) -> Fault {
        Fault::new(Code::Argument, Some(index), message)
    }

    pub fn kind(index: usize, message: impl Into<String>) -> Fault {
        Fault::new(Code::Type, Some(index), message)
    }

    pub fn limit(message: impl Into<String>) -> Fault {
        Fault::new(Code::Limit, None, message)
    }

    pub fn into_data(self) -> FaultData {
        *self.0
    }
}

/// Where the argument in one position of a call comes from.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    /// Evaluated for each record: the n-th value the call takes from the stack.
    Stack(u32),
    /// Known when compiling: a constant, or null for a slot left empty.
    Fixed(Value<'static>),
}

/// The arguments of one call. Functions take ownership of the values they use, so a
/// string an earlier call produced can be changed in place.
pub(crate) struct Args<'a, 'b> {
    pub(crate) values: &'b mut [Value<'a>],
    pub(crate) slots: &'a [Slot],
    pub(crate) prepared: &'a Prepared,
    pub(crate) ctx: &'b Context,
    /// The batch's random numbers, seeded from `Context::seed` when it is set.
    pub(crate) rng: &'b mut fastrand::Rng,
}

impl<'a> Args<'a, '_> {
    /// How many argument positions the call fills (trailing empty slots excluded).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn take(&mut self, i: usize) -> Value<'a> {
        match self.slots.get(i) {
            Some(Slot::Stack(j)) => std::mem::take(&mut self.values[*j as usize]),
            Some(Slot::Fixed(value)) => value.reborrow(),
            None => Value::Null,
        }
    }

    pub fn peek(&self, i: usize) -> &Value<'a> {
        match self.slots.get(i) {
            Some(Slot::Stack(j)) => &self.values[*j as usize],
            Some(Slot::Fixed(value)) => value,
            None => &Value::Null,
        }
    }

    /// A single value as text; `None` for null.
    pub fn text(&mut self, i: usize) -> Result<Option<Cow<'a, str>>, Fault> {
        match self.take(i) {
            Value::Str(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            Value::Object(_) => Err(Fault::kind(i, "expects a single value, got an object")),
            Value::List(items) => Err(Fault::kind(
                i,
                format!(
                    "expects a single value, got a multi-valued value with {} values",
                    items.len()
                ),
            )),
            other => Ok(Some(Cow::Owned(
                other.as_text().unwrap_or_default().into_owned(),
            ))),
        }
    }

    /// A whole number; `None` for null.
    pub fn int(&mut self, i: usize) -> Result<Option<i64>, Fault> {
        match self.peek(i) {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            Value::Str(s) => parse_int(s)
                .map(Some)
                .ok_or_else(|| Fault::kind(i, format!("expects a number, got {s:?}"))),
            other => Err(Fault::kind(
                i,
                format!("expects a number, got {}", other.kind()),
            )),
        }
    }

    /// A whole number that must be there.
    pub fn required_int(&mut self, i: usize) -> Result<i64, Fault> {
        self.int(i)?
            .ok_or_else(|| Fault::arg(i, "is null; a number is required"))
    }

    /// A truth value; `None` for null.
    pub fn boolean(&mut self, i: usize) -> Result<Option<bool>, Fault> {
        to_bool(self.peek(i))
            .map_err(|kind| Fault::kind(i, format!("expects True or False, got {kind}")))
    }

    /// Fails when a text about to be produced would pass the size limit.
    pub fn check_len(&self, bytes: usize) -> Result<(), Fault> {
        let max = self.ctx.limits.max_text_bytes;
        if bytes > max {
            Err(Fault::limit(format!(
                "the result would be {bytes} bytes, more than the limit of {max}"
            )))
        } else {
            Ok(())
        }
    }
}

/// Integers as Entra writes them: decimal with an optional sign, or `&H` hex.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.strip_prefix("&H").or_else(|| s.strip_prefix("&h")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Booleans: `True`/`False` in any case, or a number (non-zero is true).
/// `Err` carries the kind of value that could not be read.
pub(crate) fn to_bool(value: &Value<'_>) -> Result<Option<bool>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Int(n) => Ok(Some(*n != 0)),
        Value::Str(s) => parse_bool(s).map(Some).ok_or_else(|| format!("{s:?}")),
        other => Err(other.kind().to_string()),
    }
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        parse_int(s).map(|n| n != 0)
    }
}

/// The Markdown reference of every function, as committed in `docs/functions.md`.
pub fn reference_markdown() -> String {
    registry::reference_markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_sorted() {
        let names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable_by_key(|n| n.to_lowercase());
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn arity_rules() {
        let join = Function::lookup("Join").unwrap();
        assert!(!join.accepts_arity(1) && join.accepts_arity(2) && join.accepts_arity(9));
        let switch = Function::lookup("Switch").unwrap();
        assert!(switch.accepts_arity(4) && !switch.accepts_arity(5) && switch.accepts_arity(6));
        let instr = Function::lookup("InStr").unwrap();
        assert!(instr.accepts_arity(2) && instr.accepts_arity(4) && !instr.accepts_arity(5));
        let replace = Function::lookup("Replace").unwrap();
        assert!(replace.accepts_arity(7) && replace.accepts_arity(5));
        assert_eq!(Function::lookup("Now").unwrap().arity_text(), "0 arguments");
    }

    #[test]
    fn every_parameter_has_a_graph_key() {
        for f in FUNCTIONS {
            for p in f.params {
                assert!(!p.graph_key.is_empty(), "{}.{}", f.name, p.name);
            }
        }
    }
}
