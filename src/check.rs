//! The checker: resolves every call against the function table and reports every
//! problem that can be known before evaluation, not just the first.

use rustc_hash::FxHashMap;

use crate::diagnostic::{Code, Diagnostic, Span};
use crate::functions::{self, ArgKind, Function, Implementation, Prepared, Site, Special, Written};
use crate::syntax::ast::{Call, CmpOp, Expr, ExprKind};

/// A call the checker resolved, with its compile-time preparation.
pub(crate) struct Resolved {
    pub function: &'static Function,
    pub prepared: Prepared,
}

pub(crate) struct Checked {
    /// Resolved calls, keyed by the start of the call's name.
    pub calls: FxHashMap<u32, Resolved>,
    /// Errors and warnings, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a parsed expression; `source` is its text, for places inside constants.
pub(crate) fn check(expr: &Expr, source: &str) -> Checked {
    let mut checker = Checker {
        source,
        calls: FxHashMap::default(),
        diagnostics: Vec::new(),
    };
    checker.expr(expr, true, None);
    checker
        .diagnostics
        .sort_by_key(|d| (d.span().map_or(0, |s| s.start), !d.is_error()));
    Checked {
        calls: checker.calls,
        diagnostics: checker.diagnostics,
    }
}

struct Checker<'s> {
    source: &'s str,
    calls: FxHashMap<u32, Resolved>,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    /// `kind` is what the enclosing parameter expects, when there is one.
    fn expr(&mut self, expr: &Expr, top: bool, kind: Option<ArgKind>) {
        match &expr.kind {
            ExprKind::Call(call) => self.call(call, expr.span, top),
            ExprKind::Compare(cmp) => {
                self.expr(&cmp.lhs, false, None);
                self.expr(&cmp.rhs, false, None);
            }
            ExprKind::Ident(name) if !matches!(kind, Some(ArgKind::Enum(_))) => {
                self.ident(name, expr.span)
            }
            _ => {}
        }
    }

    fn ident(&mut self, name: &str, span: Span) {
        let help = match Function::lookup(name) {
            Some(f) => format!("to call the function, write {}()", f.name),
            None => format!("string constants are written in double quotes: \"{name}\""),
        };
        self.diagnostics.push(
            Diagnostic::error(Code::UnknownIdentifier, format!("`{name}` is not a value"))
                .at(span, "a bare name is only allowed where a function expects one, such as vbTextCompare")
                .help(help),
        );
    }

    fn call(&mut self, call: &Call, span: Span, top: bool) {
        let Some(function) = Function::lookup(&call.name) else {
            self.unknown_function(call);
            for arg in call.args.iter().filter_map(|a| a.expr.as_ref()) {
                self.expr(arg, false, None);
            }
            return;
        };
        let before = self.error_count();
        self.arity(function, call, span);
        for (i, arg) in call.args.iter().enumerate() {
            let Some(param) = function.param(i) else {
                // Surplus arguments: the arity error covers them; still check inside.
                if let Some(expr) = &arg.expr {
                    self.expr(expr, false, None);
                }
                continue;
            };
            match &arg.expr {
                None if !param.optional => self.diagnostics.push(
                    Diagnostic::error(
                        Code::MissingArgument,
                        format!("{} needs its `{}` argument", function.name, param.name),
                    )
                    .at(arg.span, format!("`{}` is left empty here", param.name))
                    .help(function.signature()),
                ),
                None => {}
                Some(expr) => {
                    self.literal_kind(function, param, expr);
                    self.expr(expr, false, Some(param.kind));
                }
            }
        }
        if function.asks_target && !top {
            let name = function.name;
            self.diagnostics.push(
                Diagnostic::error(Code::MisplacedFunction, format!("{name} must be the whole expression"))
                    .at(call.name_span, "nested inside another call here")
                    .help(format!("Entra only accepts {name} at the top level; put the other functions inside its rules")),
            );
        }
        self.warn_patterns(function, call);
        if self.error_count() == before {
            self.prepare(function, call, span);
        }
    }

    fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    fn prepare(&mut self, function: &'static Function, call: &Call, span: Span) {
        let args: Vec<Option<Written>> = call
            .args
            .iter()
            .map(|a| {
                a.expr.as_ref().map(|e| Written {
                    literal: match &e.kind {
                        ExprKind::Str(s) => Some(&**s),
                        _ => None,
                    },
                    span: e.span,
                })
            })
            .collect();
        let arg_spans: Vec<Span> = call.args.iter().map(|a| a.span).collect();
        let site = Site {
            source: self.source,
            args: &args,
            arg_spans: &arg_spans,
            call_span: span,
            warnings: Default::default(),
        };
        match functions::prepare(function, &site) {
            Ok(prepared) => {
                self.calls
                    .insert(call.name_span.start, Resolved { function, prepared });
            }
            Err(d) => self.diagnostics.push(d),
        }
        self.diagnostics.extend(site.warnings.into_inner());
    }

    fn unknown_function(&mut self, call: &Call) {
        let mut d = Diagnostic::error(
            Code::UnknownFunction,
            format!("unknown function `{}`", call.name),
        )
        .at(
            call.name_span,
            "not a function of Entra's expression language",
        );
        if let Some(f) = crate::functions::FUNCTIONS
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&call.name))
        {
            d = d.help(format!(
                "function names are case-sensitive: did you mean `{}`?",
                f.name
            ));
        } else if let Some(f) = suggest(&call.name) {
            d = d.help(format!("did you mean `{}`?", f.name));
        }
        self.diagnostics.push(d);
    }

    fn arity(&mut self, function: &Function, call: &Call, span: Span) {
        let n = call.args.len();
        if function.accepts_arity(n) {
            return;
        }
        let given = if n == 1 {
            "1 was given".to_string()
        } else {
            format!("{n} were given")
        };
        let mut d = Diagnostic::error(
            Code::Arity,
            format!(
                "{} takes {}, but {given}",
                function.name,
                function.arity_text()
            ),
        )
        .at(
            span,
            format!(
                "{} here",
                if n == 1 {
                    "1 argument".into()
                } else {
                    format!("{n} arguments")
                }
            ),
        )
        .help(function.signature());
        if matches!(
            function.implementation,
            Implementation::Special(Special::Switch)
        ) {
            d = d.help("Switch takes the source, the default (its slot may be left empty), then key/value pairs");
        }
        self.diagnostics.push(d);
    }

    /// Constants that can never be what the parameter needs.
    fn literal_kind(&mut self, function: &Function, param: &functions::Param, expr: &Expr) {
        let problem = match (&param.kind, &expr.kind) {
            (ArgKind::Number, ExprKind::Str(s)) if functions::parse_int(s).is_none() => Some(
                format!("`{}` must be a whole number, not \"{s}\"", param.name),
            ),
            (ArgKind::Boolean, ExprKind::Str(s)) if functions::parse_bool(s).is_none() => Some(
                format!("`{}` must be True or False, not \"{s}\"", param.name),
            ),
            (ArgKind::Enum(names), ExprKind::Ident(s) | ExprKind::Str(s))
                if !names.contains(&&**s) =>
            {
                Some(format!(
                    "`{}` must be one of {}, not `{s}`",
                    param.name,
                    names.join(", ")
                ))
            }
            (ArgKind::Enum(names), ExprKind::Int(n)) if *n < 0 || *n as usize >= names.len() => {
                Some(format!(
                    "`{}` must be one of {}, not {n}",
                    param.name,
                    names.join(", ")
                ))
            }
            _ => None,
        };
        if let Some(message) = problem {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::ArgumentKind,
                    format!("wrong kind of argument to {}", function.name),
                )
                .at(expr.span, message)
                .help(function.signature()),
            );
        }
    }

    /// Patterns Entra's documentation warns about; they evaluate, but not reliably in Entra.
    fn warn_patterns(&mut self, function: &Function, call: &Call) {
        let arg = |i: usize| call.args.get(i).and_then(|a| a.expr.as_ref());
        match function.implementation {
            Implementation::Special(Special::Iif) => {
                if let Some(condition) = arg(0) {
                    if let Some(attr) = presence_test(condition) {
                        self.diagnostics.push(
                            Diagnostic::warning(
                                Code::UnreliablePattern,
                                "Entra's IIF fails when an attribute in its condition is null or empty",
                            )
                            .at(attr.span, "this attribute may be null or empty")
                            .help(format!(
                                "Entra documents this pattern as unsupported; use Switch({0}, {0}, \"\", \"<default>\") instead",
                                attr_text(attr)
                            )),
                        );
                    }
                }
            }
            Implementation::Special(Special::Switch) => {
                if let Some(ExprKind::Call(inner)) = arg(0).map(|e| &e.kind) {
                    if is_presence_test(inner) {
                        self.diagnostics.push(
                            Diagnostic::warning(
                                Code::UnreliablePattern,
                                format!("Entra advises against {} as the source of Switch", inner.name),
                            )
                            .at(inner.name_span, "a presence test as the Switch source")
                            .help("compare the attribute itself: Switch([x], [x], \"\", \"<default>\")"),
                        );
                    }
                }
                self.duplicate_keys(call);
            }
            _ => {}
        }
    }

    fn duplicate_keys(&mut self, call: &Call) {
        let mut seen: Vec<(&str, Span)> = Vec::new();
        for arg in call.args.iter().skip(2).step_by(2) {
            let Some(Expr {
                kind: ExprKind::Str(key),
                span,
            }) = &arg.expr
            else {
                continue;
            };
            match seen.iter().find(|(k, _)| k == &&**key) {
                Some((_, first)) => self.diagnostics.push(
                    Diagnostic::warning(
                        Code::DuplicateKey,
                        format!("the key \"{key}\" appears twice"),
                    )
                    .at(*span, "this case can never be chosen")
                    .with(*first, "the first one wins"),
                ),
                None => seen.push((key, *span)),
            }
        }
    }
}

/// The attribute of a condition Entra documents as failing: `[x] = ""`, `[x] <> ""`,
/// or a presence test of `[x]`.
fn presence_test(condition: &Expr) -> Option<&Expr> {
    match &condition.kind {
        ExprKind::Compare(cmp) if matches!(cmp.op, CmpOp::Eq | CmpOp::Ne) => {
            match (&cmp.lhs.kind, &cmp.rhs.kind) {
                (ExprKind::Attr(_), ExprKind::Str(s)) if s.is_empty() => Some(&cmp.lhs),
                (ExprKind::Str(s), ExprKind::Attr(_)) if s.is_empty() => Some(&cmp.rhs),
                _ => None,
            }
        }
        ExprKind::Call(call) if is_presence_test(call) => call
            .args
            .first()
            .and_then(|a| a.expr.as_ref())
            .filter(|e| matches!(e.kind, ExprKind::Attr(_))),
        _ => None,
    }
}

fn is_presence_test(call: &Call) -> bool {
    Function::lookup(&call.name).is_some_and(|f| f.presence.is_some())
}

fn attr_text(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Attr(name) => format!("[{name}]"),
        _ => "[attribute]".into(),
    }
}

fn suggest(name: &str) -> Option<&'static Function> {
    let lower = name.to_lowercase();
    functions::FUNCTIONS
        .iter()
        .map(|f| (strsim::levenshtein(&lower, &f.name.to_lowercase()), f))
        .filter(|(distance, f)| *distance <= (f.name.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(src: &str) -> Vec<Code> {
        let parsed = crate::syntax::parse(src).expect("parses");
        check(&parsed.expr, src)
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect()
    }

    #[test]
    fn collects_every_error() {
        assert_eq!(
            codes(r#"Jion(" ", Mid([a], "x", 1), Lefty("a", 1))"#),
            [
                Code::UnknownFunction,
                Code::ArgumentKind,
                Code::UnknownFunction
            ]
        );
    }

    #[test]
    fn arity_and_missing_arguments() {
        assert_eq!(codes(r#"Append([a])"#), [Code::Arity]);
        assert_eq!(codes(r#"Append(, "x")"#), [Code::MissingArgument]);
        assert_eq!(codes(r#"Switch([a], "d", "k")"#), [Code::Arity]);
        assert!(codes(r#"Switch([a], , "k", "v")"#).is_empty());
    }

    #[test]
    fn identifiers_only_where_expected() {
        assert!(codes(r#"InStr("a", "b", 1, vbTextCompare)"#).is_empty());
        assert_eq!(codes(r#"InStr("a", "b", 1, vbFoo)"#), [Code::ArgumentKind]);
        assert_eq!(
            codes(r#"Append(vbTextCompare, "b")"#),
            [Code::UnknownIdentifier]
        );
    }

    #[test]
    fn select_unique_value_only_at_top() {
        let found = codes(r#"ToLower(SelectUniqueValue([a], [b]))"#);
        assert!(found.contains(&Code::MisplacedFunction));
    }

    #[test]
    fn replace_modes_and_regexes() {
        assert_eq!(
            codes(r#"Replace([a], "x", "y", , "z", , )"#),
            [Code::ReplaceMode]
        );
        assert_eq!(
            codes(r#"Replace([a], , "(", , "z", , )"#),
            [Code::InvalidRegex]
        );
        assert_eq!(
            codes(r#"Replace([a], , "(?<g>x)", "h", "z", , )"#),
            [Code::InvalidRegex]
        );
    }

    #[test]
    fn documented_pitfalls_warn() {
        assert_eq!(
            codes(r#"IIF([country]="","Other",[country])"#),
            [Code::UnreliablePattern]
        );
        assert_eq!(
            codes(r#"Switch([a], "d", "k", "1", "k", "2")"#),
            [Code::DuplicateKey]
        );
    }
}
