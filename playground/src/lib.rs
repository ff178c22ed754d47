//! The scimap core for the browser. Every function takes and returns JSON text, so the
//! page needs no bindings beyond strings; spans are given in UTF-16 code units, as
//! JavaScript strings count.

use std::collections::HashMap;

use scimap::mapping::{ApplyOptions, Mapping, Phase};
use scimap::scim::PatchStyle;
use scimap::{Batch, Context, Diagnostic, Program};
use serde_json::{json, Value as Json};
use wasm_bindgen::prelude::wasm_bindgen;

/// The function table, for autocomplete and the reference panel.
#[wasm_bindgen]
pub fn functions() -> String {
    let all: Vec<Json> = scimap::functions::FUNCTIONS
        .iter()
        .map(|f| f.to_json())
        .collect();
    Json::Array(all).to_string()
}

/// Entra's default mapping for a non-gallery SCIM application, in the native format.
#[wasm_bindgen]
pub fn default_mapping() -> String {
    scimap::mapping::DEFAULT_MAPPING.to_string()
}

/// Entra's attribute names for users and groups, for completion inside `[`.
#[wasm_bindgen]
pub fn attributes() -> String {
    use scimap::mapping::entra::{GROUP_ATTRIBUTES, USER_ATTRIBUTES};
    json!({"User": USER_ATTRIBUTES, "Group": GROUP_ATTRIBUTES}).to_string()
}

/// Checks and compiles an expression: its diagnostics (warnings included) and, when it
/// compiles, its bytecode listing.
#[wasm_bindgen]
pub fn compile(expression: &str) -> String {
    match Program::compile(expression) {
        Ok(program) => {
            let warnings = all(program.warnings(), expression);
            json!({"diagnostics": warnings, "listing": program.disassemble()}).to_string()
        }
        Err(diagnostics) => json!({"diagnostics": all(&diagnostics.0, expression)}).to_string(),
    }
}

/// Checks and evaluates an expression over one record (JSON text; empty for none).
/// `options` is `{"now": RFC 3339, "seed": n, "tenantDomain": "…", "taken": […]}`,
/// all optional (`taken`: values `SelectUniqueValue` finds already used).
#[wasm_bindgen]
pub fn evaluate(expression: &str, record: &str, options: &str) -> String {
    let context = match context(options) {
        Ok(context) => context,
        Err(message) => return json!({"inputError": message}).to_string(),
    };
    let program = match Program::compile(expression) {
        Ok(program) => program,
        Err(diagnostics) => {
            return json!({"diagnostics": all(&diagnostics.0, expression)}).to_string();
        }
    };
    let warnings = all(program.warnings(), expression);
    let record = match parse_record(record) {
        Ok(record) => record,
        Err(message) => {
            return json!({"diagnostics": warnings, "recordError": message}).to_string()
        }
    };
    let batch = match Batch::from_json(std::slice::from_ref(&record)) {
        Ok(batch) => batch,
        Err(e) => {
            return json!({"diagnostics": warnings, "recordError": e.to_string()}).to_string()
        }
    };
    let mut near_misses = all(
        &scimap::mapping::entra::expression_attribute_problems(&program, batch.attribute_names()),
        expression,
    );
    near_misses.extend(warnings);
    let result = match program.eval_batch(&batch, &context).remove(0) {
        Ok(value) => json!({"kind": value.kind_name(), "value": value.to_json()}),
        Err(e) => json!({"kind": "error", "error": diagnostic(e.diagnostic(), expression)}),
    };
    json!({"diagnostics": near_misses, "result": result}).to_string()
}

/// Explains an expression for one record: every node of its syntax tree with its value
/// and a note where a function chose, and the bytecode listing (spans in UTF-16 units).
#[wasm_bindgen]
pub fn explain(expression: &str, record: &str, options: &str) -> String {
    let context = match context(options) {
        Ok(context) => context,
        Err(message) => return json!({"inputError": message}).to_string(),
    };
    let record = match parse_record(record) {
        Ok(record) => record,
        Err(message) => return json!({"recordError": message}).to_string(),
    };
    let batch = match Batch::from_json(std::slice::from_ref(&record)) {
        Ok(batch) => batch,
        Err(e) => return json!({"recordError": e.to_string()}).to_string(),
    };
    match scimap::explain::explain(expression, &batch, &context) {
        Ok(mut explanation) => {
            for step in &mut explanation.steps {
                step.span = (
                    utf16(expression, step.span.0),
                    utf16(expression, step.span.1),
                );
            }
            serde_json::to_string(&explanation).expect("explanations serialize")
        }
        Err(diagnostics) => json!({"diagnostics": all(&diagnostics.0, expression)}).to_string(),
    }
}

/// Applies a mapping (native or a Graph schema) to one record: the resource on
/// creation and, when `exported` (the resource as last sent) is given, the PATCH
/// bodies in both shapes. `options` adds `"object"` (`User`, `Group`) and `"ids"`.
#[wasm_bindgen]
pub fn apply(mapping: &str, record: &str, exported: &str, options: &str) -> String {
    let context = match context(options) {
        Ok(context) => context,
        Err(message) => return json!({"inputError": message}).to_string(),
    };
    let options: Json = serde_json::from_str(options).unwrap_or(Json::Null);
    let mapping_value = match Mapping::from_json(mapping) {
        Ok(mapping) => mapping,
        Err(diagnostics) => {
            return json!({"diagnostics": all(&diagnostics.0, mapping)}).to_string();
        }
    };
    let warnings = all(mapping_value.warnings(), mapping);
    let name = options
        .get("object")
        .and_then(Json::as_str)
        .unwrap_or("User");
    let Some(object) = mapping_value.object(name) else {
        return json!({"diagnostics": warnings, "inputError": format!("the mapping has no object mapping for `{name}`")})
            .to_string();
    };
    let record = match parse_record(record) {
        Ok(record) => record,
        Err(message) => {
            return json!({"diagnostics": warnings, "recordError": message}).to_string()
        }
    };
    let batch = match object.batch(std::slice::from_ref(&record)) {
        Ok(batch) => batch,
        Err(e) => {
            return json!({"diagnostics": warnings, "recordError": e.to_string()}).to_string()
        }
    };
    let ids: HashMap<String, String> = options
        .get("ids")
        .and_then(|ids| serde_json::from_value(ids.clone()).ok())
        .unwrap_or_default();
    let run = |phase| {
        let mut apply = ApplyOptions::default();
        apply.context = Some(&context);
        apply.phase = phase;
        apply.references = Some(&ids);
        let applied = object.apply_one(&batch, &apply);
        applied.map(|resource| resource.map(|r| (r.to_json(), r)))
    };
    let outcome = match run(Phase::Create) {
        Ok(Some((resource, created))) => {
            let unresolved: Vec<Json> = created
                .unresolved
                .iter()
                .map(|(t, id)| json!({"target": t, "id": id}))
                .collect();
            json!({"resource": resource, "unresolved": unresolved})
        }
        Ok(None) => json!({"outOfScope": true}),
        Err(e) => json!({"error": e.to_string()}),
    };
    let patch = if exported.trim().is_empty() {
        Json::Null
    } else {
        match serde_json::from_str::<Json>(exported) {
            Err(e) => json!({"error": format!("exported resource: invalid JSON: {e}")}),
            Ok(exported) => match run(Phase::Update) {
                Ok(Some((_, updated))) if object.target.scim().is_none() => {
                    json!({"changes": object.changes(&exported, &updated)})
                }
                Ok(Some((_, updated))) => json!({
                    "legacy": object.patch(&exported, &updated, PatchStyle::Legacy),
                    "rfc": object.patch(&exported, &updated, PatchStyle::Rfc),
                }),
                Ok(None) => json!({"outOfScope": true}),
                Err(e) => json!({"error": e.to_string()}),
            },
        }
    };
    json!({"diagnostics": warnings, "outcome": outcome, "patch": patch}).to_string()
}

fn parse_record(record: &str) -> Result<Json, String> {
    if record.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Json>(record) {
        Ok(value @ Json::Object(_)) => Ok(value),
        Ok(_) => Err("the record must be a JSON object".into()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn context(options: &str) -> Result<Context, String> {
    let options: Json = if options.trim().is_empty() {
        Json::Null
    } else {
        serde_json::from_str(options).map_err(|e| format!("options: {e}"))?
    };
    let mut context = Context::default();
    if let Some(now) = options.get("now").and_then(Json::as_str) {
        context.now = Some(now.parse().map_err(|e| format!("now: {e}"))?);
    }
    context.seed = options.get("seed").and_then(Json::as_u64);
    context.tenant_domain = options
        .get("tenantDomain")
        .and_then(Json::as_str)
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    if let Some(taken) = options.get("taken").and_then(Json::as_array) {
        let values = taken.iter().filter_map(Json::as_str);
        context.existing = Some(std::sync::Arc::new(scimap::context::ExistingSet::new(
            values,
        )));
    }
    Ok(context)
}

fn all(diagnostics: &[Diagnostic], source: &str) -> Vec<Json> {
    diagnostics.iter().map(|d| diagnostic(d, source)).collect()
}

/// A diagnostic as JSON, its spans in UTF-16 units of `source`.
fn diagnostic(d: &Diagnostic, source: &str) -> Json {
    let mut value = serde_json::to_value(d).expect("diagnostics serialize");
    let labels: Vec<Json> = d
        .labels
        .iter()
        .map(|l| {
            let range = l.span.range();
            json!({
                "start": utf16(source, range.start),
                "end": utf16(source, range.end),
                "message": l.message,
                "primary": l.primary,
            })
        })
        .collect();
    value["labels"] = Json::Array(labels);
    value
}

fn utf16(text: &str, byte: usize) -> usize {
    let byte = byte.min(text.len());
    let end = (0..=byte)
        .rev()
        .find(|&b| text.is_char_boundary(b))
        .unwrap_or(0);
    text[..end].encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: String) -> Json {
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn evaluates_with_kinds_and_utf16_spans() {
        let out = parse(evaluate(
            r#"Join(" ", [a], [b])"#,
            r#"{"a": "Zoë", "b": "Müller"}"#,
            "",
        ));
        assert_eq!(
            out["result"],
            json!({"kind": "string", "value": "Zoë Müller"})
        );
        let out = parse(evaluate(r#"Join("ë", toLower([a]))"#, "", ""));
        let label = &out["diagnostics"][0]["labels"][0];
        assert_eq!(
            (label["start"].as_u64(), label["end"].as_u64()),
            (Some(10), Some(17))
        );
        let out = parse(evaluate("[a]", "{", ""));
        assert!(out["recordError"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"));
    }

    #[test]
    fn applies_mappings_with_patches() {
        let mapping = scimap::mapping::DEFAULT_MAPPING;
        let out = parse(apply(
            mapping,
            r#"{"userPrincipalName": "a@contoso.com", "accountEnabled": false}"#,
            r#"{"userName": "a@contoso.com", "active": true}"#,
            "",
        ));
        assert_eq!(out["outcome"]["resource"]["active"], false);
        assert_eq!(out["patch"]["legacy"]["Operations"][0]["value"], "False");
        assert_eq!(out["patch"]["rfc"]["Operations"][0]["value"], false);
        let out = parse(apply("{", "{}", "", ""));
        assert_eq!(out["diagnostics"][0]["code"], "mapping");
    }

    #[test]
    fn compiles_to_a_listing_or_diagnostics() {
        assert!(parse(compile("ToUpper([a])"))["listing"]
            .as_str()
            .unwrap()
            .contains("load"));
        assert_eq!(
            parse(compile("ToUpper("))["diagnostics"][0]["severity"],
            "error"
        );
    }

    #[test]
    fn settings_reach_the_evaluation() {
        let unique = r#"SelectUniqueValue(Join("@", [a], "x.com"), Join("@", [b], "x.com"))"#;
        let record = r#"{"a": "ann", "b": "bo"}"#;
        let out = parse(evaluate(unique, record, r#"{"taken": ["ANN@x.com"]}"#));
        assert_eq!(out["result"]["value"], "bo@x.com");
        let out = parse(evaluate("DefaultDomain()", "", r#"{"tenantDomain": ""}"#));
        assert_eq!(
            out["result"]["kind"], "error",
            "an empty domain is no domain"
        );
        let out = parse(evaluate(
            "DefaultDomain()",
            "",
            r#"{"tenantDomain": "c.com"}"#,
        ));
        assert_eq!(out["result"]["value"], "c.com");
        let names = parse(attributes());
        assert!(names["User"]
            .as_array()
            .unwrap()
            .contains(&json!("givenName")));
    }

    #[test]
    fn explains_with_utf16_spans() {
        let out = parse(explain(r#"Join("ë", [a], [b])"#, r#"{"a": "x"}"#, ""));
        assert_eq!(out["steps"][0]["note"], "skipped, being null or empty: [b]");
        assert_eq!(out["steps"][2]["span"], json!([10, 13]));
        assert!(out["listing"].as_str().unwrap().contains("[a]"));
        assert_eq!(
            parse(explain("Join(", "", ""))["diagnostics"][0]["severity"],
            "error"
        );
    }

    #[test]
    fn lists_every_function() {
        let all = parse(functions());
        assert_eq!(
            all.as_array().unwrap().len(),
            scimap::functions::FUNCTIONS.len()
        );
        assert!(all[0]["signature"].as_str().unwrap().contains('('));
    }
}
