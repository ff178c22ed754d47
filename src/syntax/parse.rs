//! Source text → syntax tree. The only module that sees pest's types.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::{Arg, Call, CmpOp, Compare, Expr, ExprKind};
use crate::diagnostic::{Code, Diagnostic, Span};
use crate::functions::Function;

/// Entra rejects expressions longer than this many characters.
pub const MAX_EXPRESSION_CHARS: usize = 10_000;

pub use crate::bounds::{MAX_NESTING, MAX_TERMS};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expression.pest"]
struct Grammar;

/// A parsed expression, plus the warnings found on the way (unknown escapes).
pub struct Parsed {
    pub expr: Expr,
    pub warnings: Vec<Diagnostic>,
}

/// Parses an expression. On failure every error found is returned; errors in the
/// delimiter structure (unterminated strings, unbalanced parentheses) are reported
/// before the grammar is tried, because they explain the most.
pub fn parse(source: &str) -> Result<Parsed, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let chars = source.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        errors.push(
            Diagnostic::error(
                Code::ExpressionTooLong,
                format!("expression is {chars} characters long; Entra accepts at most {MAX_EXPRESSION_CHARS}"),
            )
            .at(Span::new(char_offset(source, MAX_EXPRESSION_CHARS), source.len()), "past the limit"),
        );
    }
    errors.extend(scan_delimiters(source));
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut pairs =
        Grammar::parse(Rule::expression, source).map_err(|e| vec![syntax_error(source, e)])?;
    let expression = pairs
        .next()
        .expect("the expression rule always yields one pair");
    let expr_pair = expression
        .into_inner()
        .next()
        .expect("an expression holds an expr");
    let mut builder = Builder {
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let expr = builder.expr(expr_pair);
    if builder.errors.is_empty() {
        Ok(Parsed {
            expr,
            warnings: builder.warnings,
        })
    } else {
        Err(builder.errors)
    }
}

fn char_offset(source: &str, chars: usize) -> usize {
    source
        .char_indices()
        .nth(chars)
        .map_or(source.len(), |(i, _)| i)
}

/// Checks strings and parentheses without the grammar, so that the usual slips get a
/// precise message and so that nesting is bounded before the recursive parser runs.
fn scan_delimiters(source: &str) -> Vec<Diagnostic> {
    let bytes = source.as_bytes();
    let mut errors = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    // Every argument slot is a term: one per call, one more per comma.
    let mut terms = 1;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b',' if terms == MAX_TERMS => {
                errors.push(
                    Diagnostic::error(
                        Code::TooManyTerms,
                        format!("the expression has more than {MAX_TERMS} terms"),
                    )
                    .at(
                        Span::new(i, i + 1),
                        format!("term {} starts here", MAX_TERMS + 1),
                    )
                    .help("split the work between several attribute mappings"),
                );
                return errors;
            }
            b',' => terms += 1,
            b'"' => match string_end(bytes, i) {
                Some(end) => i = end,
                None => {
                    errors.push(
                        Diagnostic::error(Code::UnterminatedString, "unterminated string constant")
                            .at(Span::new(i, source.len()), "this string is never closed")
                            .help("close it with `\"`; a quote inside a string is written `\\\"`"),
                    );
                    return errors;
                }
            },
            b'[' => match bytes[i..].iter().position(|&b| b == b']' || b == b'\n') {
                Some(len) if bytes[i + len] == b']' => i += len,
                _ => errors.push(
                    Diagnostic::error(Code::UnclosedDelimiter, "unclosed `[`")
                        .at(
                            Span::new(i, i + 1),
                            "this attribute reference is never closed",
                        )
                        .help("attribute references are written [name] on one line"),
                ),
            },
            b'(' => {
                terms += 1;
                open.push(i);
                if open.len() > MAX_NESTING {
                    errors.push(
                        Diagnostic::error(
                            Code::NestingTooDeep,
                            format!("calls are nested more than {MAX_NESTING} levels deep"),
                        )
                        .at(
                            Span::new(i, i + 1),
                            format!("level {} starts here", open.len()),
                        ),
                    );
                    return errors;
                }
            }
            b')' if open.pop().is_none() => {
                errors.push(
                    Diagnostic::error(Code::UnmatchedDelimiter, "unmatched `)`")
                        .at(Span::new(i, i + 1), "no `(` before this one is still open"),
                );
            }
            _ => {}
        }
        i += 1;
    }
    for &at in &open {
        errors.push(
            Diagnostic::error(Code::UnclosedDelimiter, "unclosed `(`")
                .at(Span::new(at, at + 1), "this `(` is never closed")
                .with(
                    Span::new(source.len(), source.len()),
                    "the expression ends here",
                ),
        );
    }
    errors
}

/// A shorter form's arguments moved to the slots they fill; the slots between are
/// empty, at the point where the next argument starts.
fn spread(args: Vec<Arg>, slots: &[usize]) -> Vec<Arg> {
    let mut spread = Vec::with_capacity(slots.last().map_or(0, |last| last + 1));
    for (arg, &slot) in args.into_iter().zip(slots) {
        while spread.len() < slot {
            spread.push(Arg {
                expr: None,
                span: Span {
                    start: arg.span.start,
                    end: arg.span.start,
                },
            });
        }
        spread.push(arg);
    }
    spread
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::cmp_op => "a comparison operator",
        Rule::open => "`(`",
        Rule::close => "`)`",
        Rule::comma => "`,`",
        Rule::EOI => "the end of the expression",
        Rule::attribute_name => "an attribute name",
        Rule::string_body => "the rest of the string",
        _ => "an expression",
    }
}

fn syntax_error(source: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut expected: Vec<&str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            let d = describe(*rule);
            if !expected.contains(&d) {
                expected.push(d);
            }
        }
    }
    let rest = &source[pos..];
    let word_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let token_len = match rest.chars().next() {
        None => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => word_len,
        Some(c) => c.len_utf8(),
    };
    let token = &rest[..token_len];
    let found = if token.is_empty() {
        "end of expression".to_string()
    } else {
        format!("`{token}`")
    };
    let expected_text = join_or(&expected);
    let mut d = Diagnostic::error(Code::UnexpectedToken, format!("unexpected {found}")).at(
        Span::new(pos, pos + token_len),
        format!("expected {expected_text}"),
    );
    let wants_operand = expected.contains(&"an expression");
    d = match token {
        "'" => d.help("string constants are written in double quotes: \"text\""),
        "(" if wants_operand => d.help("parentheses only follow a function name; Entra has no grouping parentheses"),
        "And" | "Or" | "AND" | "OR" | "and" | "or" => {
            d.help("Entra expressions have no And/Or: nest IIF in the true branch for AND, in the false branch for OR")
        }
        "=" | "<>" | "<" | ">" | "<=" | ">=" => d.help("comparisons cannot be chained; compare two values at a time"),
        _ => d,
    };
    if token.starts_with(['<', '>', '=']) && !wants_operand && d.help.is_none() {
        d = d.help("comparisons cannot be chained; compare two values at a time");
    }
    d
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => "something else".into(),
        [one] => (*one).into(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

struct Builder {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

impl Builder {
    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        debug_assert_eq!(pair.as_rule(), Rule::expr);
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let lhs = self.operand(inner.next().expect("expr starts with an operand"));
        match inner.next() {
            None => lhs,
            Some(op) => {
                let op_span = span_of(&op);
                let op = CmpOp::from_symbol(op.as_str())
                    .expect("the grammar's cmp_op is one of CmpOp's symbols");
                let rhs =
                    self.operand(inner.next().expect("an operator is followed by an operand"));
                Expr {
                    kind: ExprKind::Compare(Box::new(Compare {
                        op,
                        op_span,
                        lhs,
                        rhs,
                    })),
                    span,
                }
            }
        }
    }

    fn operand(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::call => ExprKind::Call(Box::new(self.call(pair))),
            Rule::attribute => self.attribute(pair, span),
            Rule::string => ExprKind::Str(self.string(pair)),
            Rule::integer => self.integer(pair.as_str(), span, 10),
            Rule::hex => self.integer(&pair.as_str()[2..], span, 16),
            Rule::identifier => ExprKind::Ident(pair.as_str().into()),
            rule => unreachable!("the grammar has no operand {rule:?}"),
        };
        Expr { kind, span }
    }

    fn call(&mut self, pair: Pair<'_, Rule>) -> Call {
        let mut inner = pair.into_inner();
        let name = inner.next().expect("a call starts with its name");
        let name_span = span_of(&name);
        let mut args = Vec::new();
        for part in inner {
            if part.as_rule() == Rule::argument {
                let span = span_of(&part);
                let expr = part.into_inner().next().map(|e| self.expr(e));
                // An empty slot's span is the whitespace between its delimiters; narrow it
                // to a point so that labels sit where the argument would go.
                let span = if expr.is_none() {
                    Span {
                        start: span.start,
                        end: span.start,
                    }
                } else {
                    span
                };
                args.push(Arg { expr, span });
            }
        }
        // `f()` is a call with no arguments, not one with a single empty slot.
        if args.len() == 1 && args[0].expr.is_none() {
            args.clear();
        }
        if let Some(slots) = Function::lookup(name.as_str()).and_then(|f| f.form(args.len())) {
            args = spread(args, slots);
        }
        Call {
            name: name.as_str().into(),
            name_span,
            args,
        }
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>, span: Span) -> ExprKind {
        let name = pair
            .into_inner()
            .next()
            .expect("an attribute holds a name")
            .as_str();
        if name.trim().is_empty() {
            self.errors.push(
                Diagnostic::error(Code::InvalidAttribute, "empty attribute name")
                    .at(span, "name the source attribute inside the brackets"),
            );
        } else if name.trim() != name {
            self.errors.push(
                Diagnostic::error(
                    Code::InvalidAttribute,
                    format!("attribute name `{name}` starts or ends with spaces"),
                )
                .at(span, "attribute names are matched exactly")
                .help(format!("write [{}]", name.trim())),
            );
        }
        ExprKind::Attr(name.into())
    }

    fn string(&mut self, pair: Pair<'_, Rule>) -> Box<str> {
        let body = pair.into_inner().next().expect("a string holds a body");
        let start = body.as_span().start();
        let raw = body.as_str();
        if !raw.contains('\\') {
            return raw.into();
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let (_, next) = chars
                .next()
                .expect("the grammar never ends a string body on a backslash");
            match next {
                '"' | '\\' => out.push(next),
                other => {
                    // Entra documents only \" and \\. Keeping other escapes as written
                    // matches regex patterns pasted with single backslashes.
                    out.push('\\');
                    out.push(other);
                    let at = Span::new(start + i, start + i + 1 + other.len_utf8());
                    self.warnings.push(
                        Diagnostic::warning(
                            Code::UnknownEscape,
                            format!("unknown escape `\\{other}` is kept as written"),
                        )
                        .at(at, "only \\\" and \\\\ are escapes")
                        .help(format!(
                            "write `\\\\{other}` to mean a backslash followed by `{other}`"
                        )),
                    );
                }
            }
        }
        out.into()
    }

    fn integer(&mut self, digits: &str, span: Span, radix: u32) -> ExprKind {
        match i64::from_str_radix(digits, radix) {
            Ok(n) => ExprKind::Int(n),
            Err(_) => {
                self.errors.push(
                    Diagnostic::error(Code::InvalidNumber, "number out of range")
                        .at(span, "numbers must fit in 64 bits")
                        .help(format!("numbers range from {} to {}", i64::MIN, i64::MAX)),
                );
                ExprKind::Int(0)
            }
        }
    }
}

/// The source text of a span (used for Graph's `expression` fields).
pub fn slice(source: &str, span: Span) -> &str {
    source.get(span.range()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Expr {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}")).expr
    }

    fn err(src: &str) -> Diagnostic {
        parse(src).err().expect("expected a parse error").remove(0)
    }

    #[test]
    fn omitted_arguments_keep_their_positions() {
        let e = ok(r#"Replace([mail], "a", , , "b", , )"#);
        let ExprKind::Call(call) = e.kind else {
            panic!()
        };
        let present: Vec<bool> = call.args.iter().map(|a| a.expr.is_some()).collect();
        assert_eq!(present, [true, true, false, false, true, false, false]);
    }

    #[test]
    fn empty_call_has_no_arguments() {
        let ExprKind::Call(call) = ok("Now( )").kind else {
            panic!()
        };
        assert!(call.args.is_empty());
    }

    #[test]
    fn escapes_and_numbers() {
        assert_eq!(ok(r#""a\"b\\c""#).kind, ExprKind::Str(r#"a"b\c"#.into()));
        assert_eq!(ok("-10").kind, ExprKind::Int(-10));
        assert_eq!(ok("&HF7").kind, ExprKind::Int(0xF7));
        assert_eq!(ok("&hf").kind, ExprKind::Int(15));
    }

    #[test]
    fn unknown_escape_is_kept_with_a_warning() {
        let parsed = parse(r#""\d+""#).unwrap();
        assert_eq!(parsed.expr.kind, ExprKind::Str(r"\d+".into()));
        assert_eq!(parsed.warnings[0].code, Code::UnknownEscape);
    }

    #[test]
    fn structural_errors_are_precise() {
        assert_eq!(err(r#"Join(" ", [a]"#).code, Code::UnclosedDelimiter);
        assert_eq!(err(r#"Join(" ", [a"#).message, "unclosed `[`");
        assert_eq!(err(r#"Join(" ", "a" "b")"#).code, Code::UnexpectedToken);
        assert_eq!(err(r#"Join(" , [a])"#).code, Code::UnterminatedString);
        assert_eq!(err("Join(1))").code, Code::UnmatchedDelimiter);
        assert_eq!(err("99999999999999999999").code, Code::InvalidNumber);
        assert_eq!(err(&"f(".repeat(100)).code, Code::NestingTooDeep);
        let args = |n: usize| format!("Coalesce({})", vec!["[a]"; n].join(","));
        assert!(parse(&args(MAX_TERMS - 1)).is_ok());
        let e = err(&args(MAX_TERMS));
        assert_eq!(e.code, Code::TooManyTerms);
        assert!(e.message.contains("1000 terms"), "{}", e.message);
        assert_eq!(err(&"f(".repeat(10_000)).code, Code::ExpressionTooLong);
    }

    #[test]
    fn chained_comparison_gets_help() {
        let d = err("IIF([a] = [b] = [c], 1, 2)");
        assert!(d.help.unwrap().contains("chained"));
    }
}
