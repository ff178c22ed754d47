//! No input makes parsing, checking, compiling or evaluating panic or run unbounded.

use proptest::prelude::*;
use scimap::functions::{Function, FUNCTIONS};
use scimap::{Batch, Context, Program, Value};

fn record() -> Batch {
    let record = serde_json::json!({
        "a": "John Doe", "b": "", "c": "Zoë Ærø-İlkay", "n": "12", "h": "&HF7",
        "t": "True", "list": ["x", "y", "x", ""], "mail": "John.Doe@contoso.com",
        "when": "2020-03-16-07:00", "us": "8/25/2021 5:41:18 PM", "ticks": "129699324000000000",
        "roles": [{"value": "Admin", "displayName": "Admin"}, "User", {"id": "x"}], "obj": {"k": 1},
    });
    Batch::from_json(&[record]).unwrap()
}

fn check(source: &str, ctx: &Context) -> bool {
    let batch = record();
    let compiled = Program::compile(source);
    let ok = compiled.is_ok();
    if let Ok(program) = compiled {
        let _ = program.disassemble();
        for value in program.eval_batch(&batch, ctx).into_iter().flatten() {
            assert_bounded(&value, ctx);
        }
    }
    ok
}

fn assert_bounded(value: &Value<'_>, ctx: &Context) {
    match value {
        Value::Str(s) => assert!(s.len() <= ctx.limits.max_text_bytes.max(64 << 10)),
        Value::List(items) => items.iter().for_each(|v| assert_bounded(v, ctx)),
        _ => {}
    }
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "[a]", "[b]", "[c]", "[n]", "[h]", "[t]", "[list]", "[mail]", "[absent]"
        ])
        .prop_map(String::from),
        "[a-zA-Z@.\\-, ()*+?\\[\\]<>\\\\$\"]{0,12}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        (-3i64..40).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "&HF",
            "&H7FFFFFFFFFFFFFFF",
            "vbTextCompare",
            "vbBinaryCompare",
            "\"${x}\"",
            "\"$1$$\""
        ])
        .prop_map(String::from),
        Just(String::new()),
    ]
}

/// Pads or cuts the arguments to a count the function accepts, so that most generated
/// expressions get past the checker and are evaluated.
fn call(function: &'static Function, mut args: Vec<String>) -> String {
    let fits = (args.len()..args.len() + 4).find(|&n| function.accepts_arity(n));
    if let Some(n) = fits.or_else(|| (0..args.len()).rev().find(|&n| function.accepts_arity(n))) {
        args.resize(n, "\"x\"".to_string());
    }
    format!("{}({})", function.name, args.join(", "))
}

fn expression() -> impl Strategy<Value = String> {
    let functions: Vec<&'static Function> = FUNCTIONS.iter().collect();
    atom().prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            (
                prop::sample::select(functions.clone()),
                prop::collection::vec(inner.clone(), 0..8)
            )
                .prop_map(|(function, args)| call(function, args)),
            (
                inner.clone(),
                prop::sample::select(vec!["=", "<>", "<", ">=", "<=", ">"]),
                inner
            )
                .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,80}") {
        check(&source, &Context::default());
    }

    #[test]
    fn expressions_from_the_grammar_never_panic(source in expression()) {
        check(&source, &Context::default());
        let mut tight = Context::default();
        tight.limits.max_text_bytes = 16;
        tight.limits.max_list_len = 2;
        check(&source, &tight);
    }

    #[test]
    fn mangled_expressions_never_panic(source in expression(), cut in any::<prop::sample::Index>(), junk in "[()\\[\\]\",\\\\ =]{1,3}") {
        let at = cut.index(source.len() + 1);
        let at = (0..=at).rev().find(|&i| source.is_char_boundary(i)).unwrap_or(0);
        check(&format!("{}{junk}{}", &source[..at], &source[at..]), &Context::default());
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [65, 1_000, 4_999] {
        let source = format!("{}[a]{}", "ToLower(".repeat(depth), ")".repeat(depth));
        let err = Program::compile(&source).unwrap_err();
        assert!(
            err.errors().any(|d| d.code.as_str() == "nesting-too-deep"),
            "depth {depth}"
        );
    }
    let source = format!("{}[a]{}", "ToLower(".repeat(64), ")".repeat(64));
    let program = Program::compile(&source).expect("64 levels are allowed");
    assert_eq!(
        program.eval_batch(&record(), &Context::default())[0],
        Ok(Value::str("john doe"))
    );
}

#[test]
fn long_inputs_are_bounded() {
    let huge = format!("Join(\"\", {})", vec!["[list]"; 5_000].join(", "));
    assert!(Program::compile(&huge).is_err(), "over 10,000 characters");
    let mut ctx = Context::default();
    ctx.limits.max_text_bytes = 1_000;
    let program = Program::compile(r#"Join("-", [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a], [a])"#).unwrap();
    let err = program.eval_batch(&record(), &ctx).remove(0).unwrap_err();
    assert_eq!(err.code().as_str(), "limit");
}

/// The generator is only useful if much of what it writes compiles and runs.
#[test]
fn the_generator_reaches_evaluation() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = expression();
    let compiled = (0..500)
        .filter(|_| {
            check(
                &strategy.new_tree(&mut runner).unwrap().current(),
                &Context::default(),
            )
        })
        .count();
    assert!(
        compiled > 100,
        "only {compiled} of 500 generated expressions compiled"
    );
}

/// Pieces SCIM paths and filters are made of, so that generated text reaches deep into
/// the grammar rather than failing on its first character.
fn path_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "emails",
            "name",
            ".",
            "[",
            "]",
            "type",
            " eq ",
            " and ",
            " or ",
            "not ",
            "(",
            ")",
            "\"work\"",
            "value",
            " pr",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            "manager",
            " co ",
            "true",
            "12",
            "\\\"",
            ":",
            "$ref",
        ])
        .prop_map(str::to_string),
        "\\PC{0,3}",
    ]
}

/// A mapping file with one attribute and one clause, from generated pieces.
fn mapping_text(target: &str, source: &str, operator: &str, value: &str) -> String {
    serde_json::json!({"objects": [{"name": "u", "source": "User", "target": "User",
        "scope": [{"clauses": [{"attribute": "department", "operator": operator, "value": value}]}],
        "attributes": [{"target": target, "source": source, "matching": 1}]}]})
    .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn scim_paths_and_filters_never_panic(pieces in prop::collection::vec(path_piece(), 0..12)) {
        let text = pieces.concat();
        if let Ok(path) = scimap::scim::Path::parse(&text) {
            // What parses prints back to text that parses to the same path.
            prop_assert_eq!(scimap::scim::Path::parse(&path.to_string()), Ok(path));
        }
        if let Ok(filter) = scimap::scim::Filter::parse(&text) {
            prop_assert_eq!(scimap::scim::Filter::parse(&filter.to_string()), Ok(filter));
        }
    }

    #[test]
    fn mapping_files_never_panic(
        target in prop::collection::vec(path_piece(), 0..6),
        source in "\\PC{0,30}",
        operator in "\\PC{0,12}",
        value in "\\PC{0,12}",
        cut in any::<prop::sample::Index>(),
    ) {
        let text = mapping_text(&target.concat(), &source, &operator, &value);
        if let Ok(mapping) = scimap::Mapping::from_json(&text) {
            let users = mapping.object("User").unwrap();
            let batch = users.batch(&[serde_json::json!({"department": value, "mail": source})]).unwrap();
            users.apply_batch(&batch, &Default::default(), |_, _| {});
        }
        // Truncated files fail with a diagnostic, never a panic.
        let end = cut.index(text.len() + 1);
        if text.is_char_boundary(end) {
            let _ = scimap::Mapping::from_json(&text[..end]);
        }
    }

    #[test]
    fn record_lines_never_panic(line in "\\PC{0,60}", key in "k[a-z]{0,3}", n in any::<i64>()) {
        let mut builder = Batch::builder();
        let _ = builder.push_json_text(&line);
        let object = format!(r#"{{"{key}": {n}, "s": {}}}"#, serde_json::Value::from(line.as_str()));
        builder.push_json_text(&object).unwrap();
        let batch = builder.finish();
        prop_assert_eq!(batch.value(batch.len() - 1, &key), Value::string(n.to_string()));
    }
}
