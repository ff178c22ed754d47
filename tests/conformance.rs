//! Runs Entra's documented examples (and the proposed answers for gaps) from
//! `tests/vectors/entra-functions.json`. A vector listed in
//! `tests/vectors/deviations.txt` must fail, with the reason written there; one that
//! starts passing must be taken off the list.

use std::collections::BTreeMap;

use std::sync::Arc;

use scimap::{Batch, Context, ExistingSet, Program, Value};
use serde_json::Value as Json;

const VECTORS: &str = include_str!("vectors/entra-functions.json");
const DEVIATIONS: &str = include_str!("vectors/deviations.txt");

/// `id: reason` lines; `#` starts a comment.
fn deviations() -> BTreeMap<&'static str, &'static str> {
    DEVIATIONS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (id, reason) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("deviation without a reason: {l}"));
            assert!(!reason.trim().is_empty(), "deviation without a reason: {l}");
            (id.trim(), reason.trim())
        })
        .collect()
}

/// Runs one vector; `Err` explains how the result differs from the expectation.
fn run(vector: &Json) -> Result<(), String> {
    let expression = vector["expression"]
        .as_str()
        .expect("every vector has an expression");
    let record = vector
        .get("record")
        .cloned()
        .unwrap_or(Json::Object(Default::default()));
    let expect = vector.get("expect");
    let expects_error = expect.and_then(|e| e.get("error")).is_some();
    let program = match Program::compile(expression) {
        Ok(program) => program,
        Err(_) if expects_error => return Ok(()),
        Err(diagnostics) => return Err(format!("does not compile: {diagnostics}")),
    };
    let batch =
        Batch::from_json(std::slice::from_ref(&record)).map_err(|e| format!("record: {e}"))?;
    let result = program.eval_batch(&batch, &context(vector)).remove(0);
    let value = match (result, expects_error) {
        (Err(_), true) => return Ok(()),
        (Err(e), false) => return Err(format!("evaluation failed: {e}")),
        (Ok(v), true) => return Err(format!("expected an error, got {v:?}")),
        (Ok(v), false) => v,
    };
    if let Some(pattern) = vector.get("expect_regex").and_then(Json::as_str) {
        let text = value
            .as_text()
            .ok_or_else(|| format!("expected text matching {pattern}, got {value:?}"))?;
        // The vectors' patterns use lookahead, which only fancy-regex has.
        let re = fancy_regex::Regex::new(pattern).expect("vector regexes are valid");
        return if re.is_match(&text).expect("vector regexes run") {
            Ok(())
        } else {
            Err(format!("{text:?} does not match {pattern}"))
        };
    }
    let expect = expect.expect("a vector has expect or expect_regex");
    if matches(&value, expect) {
        Ok(())
    } else {
        Err(format!("expected {expect}, got {value:?}"))
    }
}

/// The evaluation context a vector asks for. Time is fixed so that `Now()` vectors are
/// reproducible: 2026-11-29, the day these vectors were first run.
fn context(vector: &Json) -> Context {
    let mut ctx = Context::default();
    ctx.now = Some("2026-11-29T12:00:00Z".parse().expect("a valid time"));
    ctx.seed = Some(7);
    let given = vector.get("context");
    ctx.tenant_domain = given
        .and_then(|c| c["tenantDefaultDomain"].as_str())
        .map(String::from);
    if let Some(values) = given.and_then(|c| c["existingTargetValues"].as_array()) {
        let values = values
            .iter()
            .map(|v| v.as_str().expect("existing values are strings"));
        ctx.existing = Some(Arc::new(ExistingSet::new(values)));
    }
    ctx
}

/// Typed expectations (numbers, booleans, arrays, null) need that type; a string
/// expectation is compared with the value's text as Graph's parseExpression shows it.
fn matches(value: &Value<'_>, expect: &Json) -> bool {
    match expect {
        Json::Object(o) if o.get("flow").and_then(Json::as_str) == Some("ignored") => {
            matches!(value, Value::Ignored)
        }
        Json::String(s) => value.as_text().is_some_and(|t| t == *s),
        Json::Number(n) => matches!(value, Value::Int(i) if Some(*i) == n.as_i64()),
        Json::Bool(b) => matches!(value, Value::Bool(v) if v == b),
        Json::Null => value.is_null(),
        Json::Array(_) => value.to_json().as_ref() == Some(expect),
        Json::Object(_) => false,
    }
}

#[test]
fn entra_vectors() {
    let vectors: Vec<Json> = serde_json::from_str(VECTORS).expect("the vector file is JSON");
    let deviations = deviations();
    let mut failures = Vec::new();
    let mut ids = Vec::new();
    for vector in &vectors {
        let id = vector["id"].as_str().expect("every vector has an id");
        ids.push(id);
        match (run(vector), deviations.get(id)) {
            (Ok(()), None) | (Err(_), Some(_)) => {}
            (Err(why), None) => failures.push(format!("{id} ({}): {why}", vector["confidence"])),
            (Ok(()), Some(_)) => {
                failures.push(format!("{id}: passes now; remove it from deviations.txt"))
            }
        }
    }
    for id in deviations.keys() {
        if !ids.contains(id) {
            failures.push(format!("{id}: listed in deviations.txt but not a vector"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors disagree:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn documented_vectors_only_deviate_with_a_reason() {
    let vectors: Vec<Json> = serde_json::from_str(VECTORS).unwrap();
    for (id, reason) in deviations() {
        let vector = vectors
            .iter()
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not a vector"));
        if vector["confidence"] == "documented" {
            assert!(
                reason.len() > 20,
                "{id}: a documented vector needs a real reason, not {reason:?}"
            );
        }
    }
}

/// .NET's own answers for patterns and substitutions (each vector says why, in
/// `dotnet`). A vector with `scimap_deviation` is one scimap refuses today, for the
/// reason given; it must keep failing until that changes.
#[test]
fn dotnet_regex_vectors() {
    let vectors: Vec<Json> = serde_json::from_str(include_str!("vectors/dotnet-regex.json"))
        .expect("the vector file is JSON");
    let mut failures = Vec::new();
    for vector in &vectors {
        let id = vector["id"].as_str().expect("every vector has an id");
        match (run(vector), vector.get("scimap_deviation")) {
            (Ok(()), None) | (Err(_), Some(_)) => {}
            (Err(why), None) => failures.push(format!("{id}: {why}")),
            (Ok(()), Some(_)) => {
                failures.push(format!("{id}: passes now; drop its scimap_deviation"))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
