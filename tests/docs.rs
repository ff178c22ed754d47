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

/// `docs/mapping.schema.json` accepts every mapping file scimap accepts, and rejects
/// what the loader rejects for its structure.
#[test]
fn mapping_schema_matches_the_loader() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap()
    };
    let schema = read("docs/mapping.schema.json");
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let converted = |path: &str| {
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        serde_json::to_value(scimap::mapping::file_from_json(&text).unwrap()).unwrap()
    };
    let files = [
        read("src/mapping/default.json"),
        read("docs/examples/mapping.json"),
        read("tests/mappings/paths.json"),
        converted("tests/mappings/graph-schema.json"),
        converted("tests/mappings/gallery/salesforce.json"),
        converted("tests/mappings/gallery/servicenow.json"),
    ];
    for file in &files {
        let errors: Vec<String> = validator.iter_errors(file).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        scimap::mapping::Mapping::from_json(&file.to_string()).expect("scimap loads it");
    }
    let misspelled = read("tests/mappings/bad/structure.json");
    assert!(!validator.is_valid(&misspelled));
    // Any object name is an app's; without the app's directory only SCIM's are.
    let mut app = converted("tests/mappings/gallery/servicenow.json");
    app["objects"][0]["target"] = "sys_user".into();
    assert!(validator.is_valid(&app));
    app["objects"][0]
        .as_object_mut()
        .unwrap()
        .remove("targetDirectory");
    assert!(!validator.is_valid(&app));
}
