//! Snapshot tests over the files in `tests/mappings/`: adding a case is adding a file.
//! - `apply/*.json`: a mapping (`"default"` or a file beside this folder), records,
//!   ids, resources as last exported; one snapshot per record from the library's
//!   snapshot API (the resource or why there is none, and PATCH bodies).
//! - `patch/*.json`: exported resources and updated records; the PATCH bodies in both
//!   of Entra's shapes.
//! - `bad/*.json`: mapping files with problems; every diagnostic as `check` shows it.
//! - `graph-schema.json` converted to the native format, which loads to the same mapping.

use std::collections::HashMap;
use std::path::Path;

use scimap::mapping::{ApplyOptions, Mapping, Phase, Snapshot, SnapshotOptions};
use scimap::scim::PatchStyle;
use scimap::{Context, Diagnostics};
use serde_json::{json, Value as Json};

/// Snapshots live beside the cases, in `tests/mappings/snapshots/`.
fn in_mappings_folder(test: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("mappings/snapshots");
    settings.bind(test);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("case files are readable")
}

fn mapping(name: &str) -> Mapping {
    if name == "default" {
        return Mapping::embedded_default();
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mappings")
        .join(name);
    let text = read(&path);
    Mapping::from_json(&text).unwrap_or_else(|d| panic!("{}", d.render(&text, name, false)))
}

fn context() -> Context {
    let mut context = Context::default();
    context.now = Some("2026-11-29T12:00:00Z".parse().unwrap());
    context.seed = Some(7);
    context
}

fn ids(case: &Json) -> HashMap<String, String> {
    serde_json::from_value(case.get("ids").cloned().unwrap_or(json!({}))).expect("ids are strings")
}

/// What the mapping makes of each record of a case file, through the library's
/// snapshot API (as `scimap snapshot` stores it): the resource, the out-of-scope
/// verdict or the error, and PATCH bodies for the records the case has an `exported`
/// resource for.
fn snapshots(mapping: &Mapping, case: &Json) -> Vec<Snapshot> {
    let object = case.get("object").and_then(Json::as_str).unwrap_or("User");
    let object = mapping.object(object).expect("the object mapping exists");
    let ids = ids(case);
    let exported: HashMap<String, Json> =
        serde_json::from_value(case.get("exported").cloned().unwrap_or(json!({})))
            .expect("exported resources by record id");
    let context = context();
    let mut options = SnapshotOptions::default();
    options.context = Some(&context);
    options.references = Some(&ids);
    options.exported = Some(&exported);
    let records = case["records"].as_array().expect("records");
    object
        .snapshots(records, &options)
        .expect("records are named objects")
}

/// One insta snapshot per record: `mappings__<case file>@<record id>.snap`.
#[test]
fn applied_mappings() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mappings/apply");
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let case: Json = serde_json::from_str(&read(&path)).expect("case files are JSON");
        let mapping = mapping(case["mapping"].as_str().expect("a mapping"));
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("mappings/snapshots");
        settings.set_input_file(&path);
        settings.bind(|| {
            for snapshot in snapshots(&mapping, &case) {
                insta::assert_json_snapshot!(format!("{stem}@{}", snapshot.name), snapshot.value);
            }
        });
    }
}

#[test]
fn patches_in_both_shapes() {
    in_mappings_folder(|| {
        insta::glob!("mappings/patch/*.json", |path| {
            let file: Json = serde_json::from_str(&read(path)).expect("case files are JSON");
            let mapping = mapping(file["mapping"].as_str().expect("a mapping"));
            let ids = ids(&file);
            let context = context();
            let mut out = String::new();
            for case in file["cases"].as_array().expect("cases") {
                let object = mapping
                    .object(case.get("object").and_then(Json::as_str).unwrap_or("User"))
                    .expect("the object mapping exists");
                let batch = object
                    .batch(std::slice::from_ref(&case["record"]))
                    .expect("the record is an object");
                let mut options = ApplyOptions::default();
                options.context = Some(&context);
                options.phase = Phase::Update;
                options.references = Some(&ids);
                out.push_str(&format!("=== {}\n", case["name"].as_str().expect("a name")));
                object.apply_batch(&batch, &options, |_, result| {
                    let resource = result.expect("updates map").resource().expect("in scope");
                    for style in [PatchStyle::Legacy, PatchStyle::Rfc] {
                        let body = object.patch(&case["exported"], &resource, style);
                        // A server applying the request ends where the source is:
                        // nothing is left to send.
                        if let Some(body) = &body {
                            let mut target = case["exported"].clone();
                            scimap::scim::apply_patch(
                                &mut target,
                                body,
                                object.target.scim().unwrap(),
                            )
                            .unwrap_or_else(|e| panic!("{style:?}: {e}"));
                            assert_eq!(object.patch(&target, &resource, style), None, "{style:?}");
                        }
                        out.push_str(&format!(
                            "--- {style:?}\n{}\n",
                            pretty(&body.unwrap_or(Json::Null))
                        ));
                    }
                });
            }
            insta::assert_snapshot!(out);
        });
    });
}

fn pretty(value: &Json) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

#[test]
fn mapping_file_diagnostics() {
    in_mappings_folder(|| {
        insta::glob!("mappings/bad/*.json", |path| {
            let text = read(path);
            let diagnostics =
                Mapping::from_json(&text).expect_err("bad mapping files fail to load");
            let name = path.file_name().unwrap().to_string_lossy();
            insta::assert_snapshot!(diagnostics.render(&text, &format!("bad/{name}"), false));
        });
    });
}

/// Every shape in which Graph hands out mappings loads to the same kind of mapping: one
/// snapshot per file of the native file it converts to and of a user it makes.
#[test]
fn every_graph_shape_loads() {
    in_mappings_folder(|| {
        insta::glob!("mappings/graph-shapes/*.json", |path| {
            let text = read(path);
            let name = path.file_name().unwrap().to_string_lossy();
            let mapping = Mapping::from_json(&text)
                .unwrap_or_else(|d| panic!("{}", d.render(&text, &name, false)));
            assert!(mapping.is_graph_schema(), "{name}");
            let record = json!({"objectId": "u1", "userPrincipalName": "ann@contoso.com",
                                "mail": "ann@contoso.com", "jobTitle": "Engineer", "IsSoftDeleted": false});
            let user: Vec<Json> = snapshots(&mapping, &json!({"records": [record]}))
                .into_iter()
                .map(|s| s.value)
                .collect();
            insta::assert_json_snapshot!(json!({"converted": mapping.file(), "user": user}));
        });
    });
}

#[test]
fn graph_schema_converts_to_an_equivalent_native_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mappings/graph-schema.json");
    let graph = Mapping::from_json(&read(&path)).expect("the Graph schema loads");
    assert!(graph.is_graph_schema());
    let warnings: Vec<&str> = graph
        .warnings()
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        ["scimap does not apply Graph's experimental `inputFilterGroups`: objects they would leave out are mapped"]
    );
    let native_text = serde_json::to_string_pretty(graph.file()).unwrap();
    in_mappings_folder(|| insta::assert_snapshot!("graph-schema-converted", native_text));
    let native = Mapping::from_json(&serde_json::to_string_pretty(graph.file()).unwrap())
        .expect("the converted file loads");
    assert!(!native.is_graph_schema());
    let case: Json =
        serde_json::from_str(&read(&path.with_file_name("apply/graph-schema.json"))).unwrap();
    assert_eq!(snapshots(&graph, &case), snapshots(&native, &case));
}

/// Gallery apps that are not SCIM (`gallery/*.json`, Graph documents with the apps'
/// own directory definitions): what `check` warns of and what `convert` writes, in one
/// snapshot per app; the converted file makes the same snapshots as the Graph document
/// over every apply case of that app.
#[test]
fn gallery_apps_check_convert_and_apply() {
    in_mappings_folder(|| {
        insta::glob!("mappings/gallery/*.json", |path| {
            let text = read(path);
            let name = format!("gallery/{}", path.file_name().unwrap().to_string_lossy());
            let graph = Mapping::from_json(&text)
                .unwrap_or_else(|d| panic!("{}", d.render(&text, &name, false)));
            assert!(
                graph.objects().iter().all(|o| o.target.scim().is_none()),
                "{name}"
            );
            let warnings = Diagnostics(graph.warnings().to_vec()).render(&text, &name, false);
            let native_text = pretty(&serde_json::to_value(graph.file()).unwrap());
            insta::assert_snapshot!(format!("check:\n{warnings}\nconvert:\n{native_text}"));
            let native = Mapping::from_json(&native_text).expect("the converted file loads");
            let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mappings/apply");
            let mut cases = 0;
            for entry in std::fs::read_dir(folder).unwrap() {
                let case: Json = serde_json::from_str(&read(&entry.unwrap().path())).unwrap();
                if case["mapping"] == name.as_str() {
                    assert_eq!(snapshots(&graph, &case), snapshots(&native, &case));
                    cases += 1;
                }
            }
            assert!(cases > 0, "{name} has apply cases");
        });
    });
}

#[test]
fn the_embedded_default_is_clean_and_converts_to_itself() {
    let mapping = Mapping::embedded_default();
    assert!(mapping.warnings().is_empty(), "{:?}", mapping.warnings());
    let written: Json = serde_json::to_value(mapping.file()).unwrap();
    let embedded: Json = serde_json::from_str(scimap::mapping::DEFAULT_MAPPING).unwrap();
    assert_eq!(written, embedded);
}

/// Every value of a Graph document replaced by a value of each other JSON type: the
/// document loads, or fails with every error placed in the file; never a panic.
#[test]
fn a_wrong_type_anywhere_in_a_graph_document_is_an_error_at_its_place() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mappings/gallery/servicenow.json");
    let doc: Json = serde_json::from_str(&read(&path)).unwrap();
    let mut places = Vec::new();
    let mut stack = vec![(String::new(), &doc)];
    while let Some((pointer, value)) = stack.pop() {
        places.push(pointer.clone());
        match value {
            Json::Object(map) => {
                stack.extend(map.iter().map(|(k, v)| (format!("{pointer}/{k}"), v)))
            }
            Json::Array(items) => stack.extend(
                items
                    .iter()
                    .take(2)
                    .enumerate()
                    .map(|(i, v)| (format!("{pointer}/{i}"), v)),
            ),
            _ => {}
        }
    }
    let mut failed = 0;
    for pointer in places.iter().filter(|p| !p.is_empty()) {
        for wrong in [
            json!(5),
            json!("x"),
            json!([]),
            json!({}),
            Json::Null,
            json!(true),
        ] {
            let mut changed = doc.clone();
            *changed.pointer_mut(pointer).unwrap() = wrong.clone();
            let text = serde_json::to_string_pretty(&changed).unwrap();
            if let Err(diagnostics) = Mapping::from_json(&text) {
                failed += 1;
                for d in diagnostics.errors() {
                    assert!(
                        d.span().is_some(),
                        "{pointer} = {wrong}: {} has no place",
                        d.message
                    );
                }
            }
        }
    }
    assert!(failed > 100, "only {failed} of the changes were refused");
}
