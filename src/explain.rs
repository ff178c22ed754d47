//! Why an expression gives what it gives for a record: its syntax tree, each node with
//! the value it has for that record, and a note where a function chose (the `Switch`
//! key that matched or the default, the values `Join` skipped, the branch `IIF` took).
//! For `scimap explain --record` and the playground.

use serde::Serialize;
use serde_json::Value as Json;

use crate::batch::Batch;
use crate::bytecode::Program;
use crate::context::Context;
use crate::diagnostic::Diagnostics;
use crate::syntax::ast::{Expr, ExprKind};
use crate::value::Value;

/// The most nodes given a value; past it, nodes are listed without one.
pub const MAX_TRACED: usize = 200;
/// The longest expression whose nodes are given values (each node is evaluated on its
/// own, so the work grows with nodes × length).
pub const MAX_TRACED_BYTES: usize = 16 * 1024;
const MAX_TEXT: usize = 120;

/// An expression explained for one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The nodes in reading order (a node before its arguments).
    pub steps: Vec<Step>,
    /// The bytecode listing.
    pub listing: String,
    /// Set when some nodes were left without a value, and why.
    pub cut: Option<String>,
}

/// One node of the syntax tree.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// How deep in the tree (0: the whole expression).
    pub depth: usize,
    /// `call`, `attribute`, `string`, `number`, `name`, `comparison` or `empty` (an
    /// argument left out).
    pub kind: &'static str,
    /// The node's text, cut to 120 characters.
    pub text: String,
    /// The node's byte range in the expression.
    pub span: (usize, usize),
    /// What the node evaluates to alone: `null`, `ignored`, `string`, `list`, … or
    /// `error`; `None` when it was not evaluated (a bare name, past the limits).
    pub value_kind: Option<&'static str>,
    pub value: Option<Json>,
    pub error: Option<String>,
    /// Why a function chose what it chose.
    pub note: Option<String>,
}

/// Explains `source` for the one record in `batch`; `Err` with the diagnostics when the
/// expression does not compile.
pub fn explain(source: &str, batch: &Batch, ctx: &Context) -> Result<Explanation, Diagnostics> {
    let program = Program::compile(source)?;
    let parsed = crate::syntax::parse(source).map_err(Diagnostics)?;
    let traced = source.len() <= MAX_TRACED_BYTES;
    let mut steps = Vec::new();
    // Depth-first with an explicit stack: no recursion follows the input.
    let mut stack: Vec<(usize, Option<&Expr>, (usize, usize))> =
        vec![(0, Some(&parsed.expr), (0, 0))];
    let mut values: Vec<Option<Value<'static>>> = Vec::new();
    while let Some((depth, expr, empty_at)) = stack.pop() {
        let Some(expr) = expr else {
            steps.push(empty_step(depth, empty_at));
            values.push(None);
            continue;
        };
        let evaluate =
            traced && steps.len() < MAX_TRACED && !matches!(expr.kind, ExprKind::Ident(_));
        let value = evaluate.then(|| evaluate_alone(&source[expr.span.range()], batch, ctx));
        steps.push(step(depth, expr, source, value.as_ref()));
        values.push(value.and_then(Result::ok));
        for child in children(expr).into_iter().rev() {
            stack.push((depth + 1, child.0, child.1));
        }
    }
    add_notes(&mut steps, &values);
    let cut = if !traced {
        Some(format!("the expression is longer than {MAX_TRACED_BYTES} bytes: its nodes are shown without values"))
    } else if steps.len() > MAX_TRACED {
        Some(format!(
            "only the first {MAX_TRACED} nodes are given values"
        ))
    } else {
        None
    };
    Ok(Explanation {
        steps,
        listing: program.disassemble(),
        cut,
    })
}

/// A node's children with, for an argument left out, where it would stand.
fn children(expr: &Expr) -> Vec<(Option<&Expr>, (usize, usize))> {
    match &expr.kind {
        ExprKind::Call(call) => call
            .args
            .iter()
            .map(|a| (a.expr.as_ref(), range(a.span)))
            .collect(),
        ExprKind::Compare(cmp) => vec![(Some(&cmp.lhs), (0, 0)), (Some(&cmp.rhs), (0, 0))],
        _ => Vec::new(),
    }
}

fn range(span: crate::diagnostic::Span) -> (usize, usize) {
    let r = span.range();
    (r.start, r.end)
}

fn evaluate_alone(text: &str, batch: &Batch, ctx: &Context) -> Result<Value<'static>, String> {
    let program = Program::compile(text).map_err(|d| {
        d.first_error().map_or_else(
            || "does not compile alone".to_string(),
            |e| e.message.clone(),
        )
    })?;
    match program.eval_batch(batch, ctx).into_iter().next() {
        Some(Ok(value)) => Ok(value.into_owned()),
        Some(Err(e)) => Err(e.diagnostic().message.clone()),
        None => Err("no record".into()),
    }
}

fn step(
    depth: usize,
    expr: &Expr,
    source: &str,
    value: Option<&Result<Value<'static>, String>>,
) -> Step {
    let text = &source[expr.span.range()];
    let kind = match expr.kind {
        ExprKind::Str(_) => "string",
        ExprKind::Int(_) => "number",
        ExprKind::Ident(_) => "name",
        ExprKind::Attr(_) => "attribute",
        ExprKind::Call(_) => "call",
        ExprKind::Compare(_) => "comparison",
    };
    let (value_kind, value, error) = match value {
        None => (None, None, None),
        Some(Ok(v)) => (Some(v.kind_name()), v.to_json(), None),
        Some(Err(message)) => (Some("error"), None, Some(message.clone())),
    };
    Step {
        depth,
        kind,
        text: cut(text),
        span: range(expr.span),
        value_kind,
        value,
        error,
        note: None,
    }
}

fn empty_step(depth: usize, at: (usize, usize)) -> Step {
    Step {
        depth,
        kind: "empty",
        text: String::new(),
        span: at,
        value_kind: Some("null"),
        value: None,
        error: None,
        note: Some("left out: null".into()),
    }
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// The argument steps of the call at `index`: (their step index, their value).
fn arguments<'v>(
    steps: &[Step],
    values: &'v [Option<Value<'static>>],
    index: usize,
) -> Vec<(usize, Option<&'v Value<'static>>)> {
    let depth = steps[index].depth + 1;
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate().skip(index + 1) {
        if s.depth < depth {
            break;
        }
        if s.depth == depth {
            out.push((i, values[i].as_ref()));
        }
    }
    out
}

fn add_notes(steps: &mut [Step], values: &[Option<Value<'static>>]) {
    for index in 0..steps.len() {
        if steps[index].kind != "call" || values[index].is_none() {
            continue;
        }
        let name = steps[index]
            .text
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let args = arguments(steps, values, index);
        let note = match name.as_str() {
            "switch" => switch_note(steps, &args),
            "join" => join_note(steps, &args),
            "iif" => iif_note(&args),
            "coalesce" => coalesce_note(steps, &args),
            _ => None,
        };
        steps[index].note = note;
    }
}

/// The text `Switch` compares a value as (null as empty), or `None` for a list.
fn switch_key(value: Option<&Value<'_>>) -> Option<String> {
    match value {
        None | Some(Value::Null | Value::Ignored) => Some(String::new()),
        Some(Value::List(_)) => None,
        Some(other) => Some(other.as_text().unwrap_or_default().into_owned()),
    }
}

fn switch_note(steps: &[Step], args: &[(usize, Option<&Value<'static>>)]) -> Option<String> {
    let source = switch_key(args.first()?.1)?;
    for pair in args.get(2..)?.chunks(2) {
        if pair.len() == 2 && switch_key(pair[0].1).as_deref() == Some(source.as_str()) {
            return Some(format!(
                "{:?} matched the key {}",
                source, steps[pair[0].0].text
            ));
        }
    }
    Some(format!("no key matched {source:?}: the default"))
}

fn join_note(steps: &[Step], args: &[(usize, Option<&Value<'static>>)]) -> Option<String> {
    let skipped: Vec<&str> = args
        .iter()
        .skip(1)
        .filter(|(_, v)| match v {
            None | Some(Value::Null) => true,
            Some(Value::Str(s)) => s.is_empty(),
            Some(Value::List(items)) => items.is_empty(),
            _ => false,
        })
        .map(|(i, _)| {
            if steps[*i].kind == "empty" {
                "(left out)"
            } else {
                steps[*i].text.as_str()
            }
        })
        .collect();
    (!skipped.is_empty()).then(|| format!("skipped, being null or empty: {}", skipped.join(", ")))
}

fn iif_note(args: &[(usize, Option<&Value<'static>>)]) -> Option<String> {
    let condition = crate::functions::to_bool(args.first()?.1?).ok()??;
    Some(if condition {
        "the condition holds: the second argument".into()
    } else {
        "the condition does not hold: the third argument".into()
    })
}

fn coalesce_note(steps: &[Step], args: &[(usize, Option<&Value<'static>>)]) -> Option<String> {
    let (i, _) = args.iter().find(|(_, v)| v.is_some_and(|v| !v.is_null()))?;
    Some(format!(
        "the first value that is not null: {}",
        steps[*i].text
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explained(source: &str, record: Json) -> Explanation {
        let batch = Batch::from_json(&[record]).unwrap();
        explain(source, &batch, &Context::default()).unwrap()
    }

    #[test]
    fn a_switch_says_which_key_matched_or_that_it_fell_to_the_default() {
        let source = r#"Switch([country], "Other", "DE", "Germany", "US", "United States")"#;
        let hit = explained(source, serde_json::json!({"country": "DE"}));
        assert_eq!(hit.steps[0].value, Some(Json::from("Germany")));
        assert_eq!(
            hit.steps[0].note.as_deref(),
            Some(r#""DE" matched the key "DE""#)
        );
        let miss = explained(source, serde_json::json!({"country": "BR"}));
        assert_eq!(
            miss.steps[0].note.as_deref(),
            Some(r#"no key matched "BR": the default"#)
        );
        assert_eq!(miss.steps[1].text, "[country]");
        assert_eq!(miss.steps[1].value, Some(Json::from("BR")));
        assert!(miss.listing.contains("[country]"), "{}", miss.listing);
    }

    #[test]
    fn join_names_what_it_skipped_and_iif_its_branch() {
        let join = explained(
            r#"Join(" ", [givenName], [middleName], "", [surname])"#,
            serde_json::json!({"givenName": "Ada", "surname": "Lovelace"}),
        );
        assert_eq!(join.steps[0].value, Some(Json::from("Ada Lovelace")));
        assert_eq!(
            join.steps[0].note.as_deref(),
            Some(r#"skipped, being null or empty: [middleName], """#)
        );
        assert_eq!(
            join.steps.iter().map(|s| s.depth).collect::<Vec<_>>(),
            [0, 1, 1, 1, 1, 1]
        );
        let replace = explained(
            r#"Replace([a], , "b", , "c", , )"#,
            serde_json::json!({"a": "abc"}),
        );
        assert_eq!(replace.steps[2].kind, "empty");
        assert_eq!(replace.steps[0].value, Some(Json::from("acc")));
        let iif = explained(
            r#"IIF([a] = "x", "yes", "no")"#,
            serde_json::json!({"a": "y"}),
        );
        assert_eq!(
            iif.steps[0].note.as_deref(),
            Some("the condition does not hold: the third argument")
        );
        assert_eq!(iif.steps[1].kind, "comparison");
        assert_eq!(iif.steps[1].value, Some(Json::Bool(false)));
    }

    #[test]
    fn long_expressions_are_listed_without_values() {
        let long = format!("Join(\",\", {})", vec!["\"x\""; 300].join(", "));
        let many = explained(&long, serde_json::json!({}));
        assert_eq!(many.steps.len(), 302);
        assert!(many.steps[..MAX_TRACED]
            .iter()
            .all(|s| s.value_kind.is_some()));
        assert!(many.steps[MAX_TRACED..]
            .iter()
            .all(|s| s.value_kind.is_none()));
        assert!(many.cut.is_some());
        let huge = format!("Join(\",\", [a], \"{}\")", "€".repeat(6000));
        let listed = explained(&huge, serde_json::json!({}));
        assert!(listed.steps.iter().all(|s| s.value_kind.is_none()));
        assert!(listed.cut.unwrap().contains("without values"));
    }
}
