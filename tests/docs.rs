//! The function reference is generated from the registry and must not drift from it;
//! the examples it shows must be true.

use scimap::functions::{reference_markdown, FUNCTIONS};
use scimap::{Batch, Context, Program, Value};

#[test]
fn function_reference_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/functions.md");
    let expected = reference_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &expected).expect("docs/functions.md is writable");
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/functions.md is stale; regenerate it with `UPDATE_DOCS=1 cargo test --test docs`"
    );
}

#[test]
fn documented_examples_hold() {
    for function in FUNCTIONS {
        for example in function.examples {
            let program = Program::compile(example.expression)
                .unwrap_or_else(|d| panic!("{}: {}", example.expression, d));
            let record: serde_json::Value =
                serde_json::from_str(example.record).expect("example records are JSON");
            let batch = Batch::from_json(&[record]).expect("example records are valid");
            let value = program.eval_batch(&batch, &Context::default()).remove(0);
            let value = value.unwrap_or_else(|e| panic!("{}: {e}", example.expression));
            let shown = match value {
                Value::Ignored => "ignored".to_string(),
                other => other.to_json().expect("not ignored").to_string(),
            };
            let expected = match example.result {
                "ignored" => "ignored".to_string(),
                json => serde_json::from_str::<serde_json::Value>(json)
                    .expect("example results are JSON")
                    .to_string(),
            };
            assert_eq!(
                shown, expected,
                "{} ({})",
                example.expression, function.name
            );
        }
    }
}
