//! The `scimap` command's contract: output shapes and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value as Json};

fn scimap(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // A command that fails early (a bad mapping) may exit without reading its input.
    let _ = pipe.write_all(stdin.unwrap_or_default());
    drop(pipe);
    child.wait_with_output().expect("the binary finishes")
}

/// Runs `scimap eval --json` and returns the exit code and the single JSON object printed.
fn eval_json(expression: &str, record: Option<&str>) -> (i32, Json) {
    let mut args = vec!["eval", "--json", expression];
    if record.is_some() {
        args.extend(["--record", "-"]);
    }
    let out = scimap(&args, record.map(str::as_bytes));
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    assert_eq!(
        stdout.lines().count(),
        1,
        "exactly one JSON line, got {stdout:?}"
    );
    let value = serde_json::from_str(&stdout).expect("stdout is JSON");
    (out.status.code().expect("exited"), value)
}

#[test]
fn values_are_typed() {
    assert_eq!(
        eval_json(
            r#"Join(" ", [a], [b])"#,
            Some(r#"{"a": "John", "b": "Doe"}"#)
        ),
        (0, json!({"value": "John Doe"}))
    );
    assert_eq!(
        eval_json("BitAnd(&HF, &HF7)", None),
        (0, json!({"value": 7}))
    );
    assert_eq!(
        eval_json(r#"IsPresent([x])"#, None),
        (0, json!({"value": false}))
    );
    assert_eq!(
        eval_json(r#"Split("a,b", ",")"#, None),
        (0, json!({"value": ["a", "b"]}))
    );
    assert_eq!(eval_json("[missing]", None), (0, json!({"value": null})));
}

#[test]
fn ignored_flow() {
    assert_eq!(
        eval_json("IgnoreFlowIfNullOrEmpty([department])", Some("{}")),
        (0, json!({"ignored": true}))
    );
}

#[test]
fn evaluation_error_exits_1_with_span() {
    let (code, out) = eval_json(r#"Mid([a], 1, -1)"#, Some(r#"{"a": "x"}"#));
    assert_eq!(code, 1);
    assert_eq!(out["error"]["code"], "argument");
    assert_eq!(out["error"]["span"], json!([12, 14]));
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Mid: argument `length`"));
}

#[test]
fn check_errors_exit_2_with_span() {
    let (code, out) = eval_json(r#"toLower("ABC")"#, None);
    assert_eq!(code, 2);
    assert_eq!(out["error"]["code"], "unknown-function");
    assert_eq!(out["error"]["span"], json!([0, 7]));
    let (code, out) = eval_json(r#"Join(" ", [a]"#, None);
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (2, Some("unclosed-delimiter"))
    );
    let (code, out) = eval_json(r#"Join(" , [a])"#, None);
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (2, Some("unterminated-string"))
    );
    let (code, out) = eval_json(r#"Join(" ", [a]) ?"#, None);
    assert_eq!((code, out["error"]["span"].clone()), (2, json!([15, 16])));
}

#[test]
fn several_errors_are_all_reported() {
    let (code, out) = eval_json(r#"Jion(Mid([a], "x", 1), Lefty())"#, None);
    assert_eq!(code, 2);
    assert_eq!(out["diagnostics"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_records_exit_3() {
    let (code, out) = eval_json("[a]", Some("{not json"));
    assert_eq!((code, out["error"]["code"].as_str()), (3, Some("input")));
    assert_eq!(out["error"]["location"], "<stdin>:1:2");
    let (code, out) = eval_json("[a]", Some("[1, 2]"));
    assert_eq!(code, 3);
    assert!(out["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not an array"));
    let (code, out) = eval_json("[a]", Some(r#"{"a": [["nested"]]}"#));
    assert_eq!(
        (code, out["error"]["location"].as_str()),
        (3, Some("<stdin>: $.a[0]"))
    );
    let out = scimap(
        &["eval", "--json", "[a]", "--record", "-"],
        Some(b"{\"a\": \"\xff\"}"),
    );
    assert_eq!(out.status.code(), Some(3));
    let out = scimap(
        &["eval", "[a]", "--record", "/nonexistent/record.json"],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/record.json"));
}

#[test]
fn graph_input_shape_is_accepted() {
    let record = r#"{"definition": {"name": "User"}, "properties": [{"key": "mail", "value": "a@contoso.com"}]}"#;
    assert_eq!(
        eval_json("[mail]", Some(record)),
        (0, json!({"value": "a@contoso.com"}))
    );
}

/// The Graph keys of a parseExpression response's top-level parameters.
fn parameter_keys(response: &Json) -> Vec<&str> {
    response["parsedExpression"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect()
}

#[test]
fn graph_format() {
    let out = scimap(
        &[
            "eval",
            "--format",
            "graph",
            r#"Mid([userPrincipalName], 1, 8)"#,
            "--record",
            "-",
        ],
        Some(br#"{"userPrincipalName": "johns@contoso.com"}"#),
    );
    assert_eq!(out.status.code(), Some(0));
    let response: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["parsingSucceeded"], true);
    assert_eq!(response["evaluationSucceeded"], true);
    assert_eq!(response["evaluationResult"], json!(["johns@co"]));
    assert_eq!(parameter_keys(&response), ["source", "start", "length"]);
    assert_eq!(
        response["parsedExpression"]["parameters"][1]["value"],
        json!({"expression": "1", "name": "1", "parameters": [], "type": "Constant"})
    );

    // FormatDateTime's three-argument form keeps its three keys.
    let out = scimap(
        &[
            "eval",
            "--format",
            "graph",
            r#"FormatDateTime([d], "yyyyMMdd", "yyyy-MM-dd")"#,
            "--record",
            "-",
        ],
        Some(br#"{"d": "20240301"}"#),
    );
    let response: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["evaluationResult"], json!(["2024-03-01"]));
    assert_eq!(
        parameter_keys(&response),
        ["source", "inputFormat", "outputFormat"]
    );

    let out = scimap(&["eval", "--format", "graph", "Mid([a], 1"], None);
    assert_eq!(out.status.code(), Some(2));
    let response: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["parsingSucceeded"], false);
    assert_eq!(response["error"]["code"], "unclosed-delimiter");
}

#[test]
fn human_output_renders_snippets() {
    let out = scimap(
        &["eval", "--color", "never", r#"Append([a], Lefty("x", 1))"#],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error[unknown-function]: unknown function `Lefty`"),
        "{stderr}"
    );
    assert!(stderr.contains("^^^^^"), "{stderr}");
    assert!(stderr.contains("did you mean `Left`?"), "{stderr}");
}

#[test]
fn explain_prints_tree_and_bytecode() {
    let out = scimap(
        &[
            "explain",
            r#"IIF(IsPresent([department]), [department], "none")"#,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("Call IIF @0..50"), "{stdout}");
    assert!(stdout.contains("branch"), "{stdout}");
}

#[test]
fn explain_with_a_record_gives_each_node_its_value() {
    let out = scimap(
        &[
            "explain",
            "--record",
            "-",
            r#"IIF(IsPresent([department]), [department], "none")"#,
        ],
        Some(br#"{"department": ""}"#),
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let values = &stdout[stdout.find("values:").expect("a values section")..];
    assert!(values.contains(r#"→  string "none""#), "{values}");
    assert!(
        values.contains("(the condition does not hold: the third argument)"),
        "{values}"
    );
    assert!(
        values.contains(r#"      [department]  →  string """#),
        "{values}"
    );
    let bad = scimap(&["explain", "--record", "-", "[a]"], Some(b"[1]"));
    assert_eq!(bad.status.code(), Some(3), "a record that is not an object");
}

#[test]
fn huge_and_deep_inputs_fail_cleanly() {
    let long = format!(r#"Append("{}", "")"#, "x".repeat(100_000));
    let (code, out) = eval_json(&long, None);
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (2, Some("expression-too-long"))
    );
    let deep = format!("{}[a]{}", "ToLower(".repeat(10_000), ")".repeat(10_000));
    let (code, out) = eval_json(&deep, None);
    assert_eq!(code, 2);
    let codes: Vec<&str> = out["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"nesting-too-deep"), "{codes:?}");
}

#[test]
fn context_flags_make_results_reproducible() {
    let run = |args: &[&str]| {
        let out = scimap(args, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let guid = [
        "eval",
        "--seed",
        "42",
        "Join(\" \", Guid(), RandomString(12, 2, 2, 2, 2))",
    ];
    assert_eq!(run(&guid), run(&guid));
    let other = [
        "eval",
        "--seed",
        "43",
        "Join(\" \", Guid(), RandomString(12, 2, 2, 2, 2))",
    ];
    assert_ne!(run(&guid), run(&other));
    assert_eq!(
        run(&["eval", "--now", "2021-07-02T15:33:38Z", "Now()"]),
        "7/2/2021 3:33:38 PM\n"
    );
    assert_eq!(
        run(&["eval", "--tenant-domain", "contoso.com", "DefaultDomain()"]),
        "contoso.com\n"
    );
}

#[test]
fn select_unique_value_reads_existing_values() {
    let dir = std::env::temp_dir().join(format!("scimap-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let existing = dir.join("existing.json");
    let expression = r#"SelectUniqueValue(Join("@", Join(".", [a], [b]), "contoso.com"), Join("@", Join(".", Left([a], 1), [b]), "contoso.com"))"#;
    let path = existing.to_str().unwrap();
    let select = |taken: &str| {
        std::fs::write(&existing, taken).unwrap();
        let args = [
            "eval",
            "--json",
            "--existing",
            path,
            expression,
            "--record",
            "-",
        ];
        scimap(&args, Some(br#"{"a": "John", "b": "Smith"}"#))
    };
    let out = select(r#"["john.smith@contoso.com", "J.Smith@contoso.com"]"#);
    assert_eq!(
        out.status.code(),
        Some(1),
        "every candidate is taken (compared without case)"
    );
    let response: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert!(response["error"]["message"]
        .as_str()
        .unwrap()
        .contains("escrow"));
    let out = select(r#"["john.smith@contoso.com"]"#);
    assert_eq!(
        serde_json::from_slice::<Json>(&out.stdout).unwrap(),
        json!({"value": "J.Smith@contoso.com"})
    );
    std::fs::write(&existing, r#"{"not": "an array"}"#).unwrap();
    let out = scimap(&["eval", "--json", "--existing", path, expression], None);
    assert_eq!(out.status.code(), Some(3));
    let out = scimap(&["eval", "--json", "--now", "soon", "Now()"], None);
    assert_eq!(out.status.code(), Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file in a fresh temporary folder for one test, removed with the folder.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("scimap-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("a temporary file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

#[test]
fn apply_reads_every_input_layout_alike() {
    let ndjson = "{\"userPrincipalName\": \"a@contoso.com\", \"givenName\": \"Ann\", \"IsSoftDeleted\": \"False\"}\n{\"userPrincipalName\": \"b@contoso.com\", \"mail\": \"b@contoso.com\"}\n";
    let array = "[{\"userPrincipalName\": \"a@contoso.com\", \"givenName\": \"Ann\", \"IsSoftDeleted\": \"False\"},\n {\"userPrincipalName\": \"b@contoso.com\", \"mail\": \"b@contoso.com\"}]";
    let graph = format!("{{\"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#users\",\n \"value\": {array}}}");
    let csv = "userPrincipalName,givenName,IsSoftDeleted,mail\na@contoso.com,Ann,False,\nb@contoso.com,,,b@contoso.com\n";
    let outputs: Vec<Output> = [ndjson, array, &graph, csv]
        .iter()
        .map(|input| scimap(&["apply", "-"], Some(input.as_bytes())))
        .collect();
    let first = text(&outputs[0].stdout);
    assert_eq!(first.lines().count(), 2, "{first}");
    let resource: Json = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(resource["userName"], "a@contoso.com");
    assert_eq!(resource["active"], true);
    assert_eq!(resource["name"]["formatted"], "Ann");
    for out in &outputs {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), first);
        assert!(text(&out.stderr).contains("2 records: 2 resources, 0 out of scope, 0 failed"));
    }
}

#[test]
fn apply_reports_failed_records_and_maps_the_rest() {
    let scratch = Scratch::new("apply-failures");
    let mapping = scratch.file(
        "mapping.json",
        r#"{"objects": [{"name": "users", "source": "User", "target": "User", "attributes": [
            {"target": "userName", "source": "[userPrincipalName]", "matching": 1},
            {"target": "active", "source": "[accountEnabled]"}]}]}"#,
    );
    let input = "{\"objectId\": \"u0\", \"userPrincipalName\": \"a@contoso.com\", \"accountEnabled\": true}\n\
                 {\"objectId\": \"u1\", \"userPrincipalName\": \"b@contoso.com\", \"accountEnabled\": \"perhaps\"}\n\
                 [\"not\", \"a record\"]\n\
                 {\"objectId\": \"u3\", \"userPrincipalName\": \"d@contoso.com\"\n\
                 {\"objectId\": \"u4\", \"userPrincipalName\": \"e@contoso.com\", \"accountEnabled\": false}\n";
    let report = scratch.0.join("report.ndjson");
    let out = scimap(
        &[
            "apply",
            "--mapping",
            &mapping,
            "--report",
            report.to_str().unwrap(),
            "-",
        ],
        Some(input.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let users: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(users.len(), 2);
    assert_eq!(
        (users[0]["active"].clone(), users[1]["active"].clone()),
        (json!(true), json!(false))
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("record 1 (line 2) [u1]: active: a boolean is needed, and \"perhaps\" is not True or False"), "{stderr}");
    assert!(
        stderr.contains("record 2 (line 3): a record must be a JSON object, not an array"),
        "{stderr}"
    );
    assert!(
        stderr.contains("record 3 (line 4): invalid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("5 records: 2 resources, 0 out of scope, 3 failed"),
        "{stderr}"
    );
    let report = std::fs::read_to_string(report).unwrap();
    let indices: Vec<u64> = report
        .lines()
        .map(|l| {
            serde_json::from_str::<Json>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indices, [1, 2, 3]);
}

#[test]
fn apply_reports_ragged_csv_rows() {
    let out = scimap(
        &["apply", "-"],
        Some(b"userPrincipalName,mail\na@contoso.com,a@contoso.com\nb@contoso.com\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("record 1 (line 3): the row has 1 fields but the header has 2")
    );
    assert_eq!(text(&out.stdout).lines().count(), 1);
}

#[test]
fn apply_with_a_broken_mapping_exits_2_at_its_line_and_column() {
    let scratch = Scratch::new("apply-broken");
    let mapping = scratch.file(
        "mapping.json",
        "{\"objects\": [{\"name\": \"u\", \"source\": \"User\", \"target\": \"User\", \"attributes\": [\n  {\"target\": \"userName\", \"source\": \"Lower([mail])\"}]}]}",
    );
    let out = scimap(&["apply", "--mapping", &mapping, "-"], Some(b"{}"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("mapping.json:2:37"), "{stderr}");
    assert!(stderr.contains("unknown function `Lower`"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn check_exit_codes() {
    let scratch = Scratch::new("check");
    let clean = scimap(&["check", "docs/examples/mapping.json"], None);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    let warned = scratch.file(
        "warned.json",
        r#"{"objects": [{"name": "u", "source": "User", "target": "User", "attributes": [
            {"target": "userName", "source": "[userPrincipalName]"},
            {"target": "title", "source": "[jobTitel]"}]}]}"#,
    );
    let out = scimap(&["check", &warned], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("did you mean [jobTitle]?"));
    let out = scimap(&["check", &warned, "--source-attribute", "jobTitel"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = scimap(&["check", "tests/mappings/bad/everything.json"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stdout).contains("7 errors, 2 warnings"),
        "{}",
        text(&out.stdout)
    );
    let out = scimap(&["check", "no/such/file.json"], None);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn mapping_tests_pass_and_fail_with_a_diff() {
    let out = scimap(&["test", "docs/examples/mapping.tests.json"], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("3 passed, 0 failed"));
    let scratch = Scratch::new("mapping-tests");
    let tests = scratch.file(
        "failing.tests.json",
        r#"{"cases": [
            {"name": "wrong title", "record": {"userPrincipalName": "a@b.c", "jobTitle": "Boss"},
             "expect": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                        "userName": "a@b.c", "active": true, "title": "Chief"}},
            {"name": "expects nothing", "record": {}}]}"#,
    );
    let out = scimap(&["test", &tests], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAILED  wrong title"), "{stdout}");
    assert!(stdout.contains(r#"-   "title": "Chief""#), "{stdout}");
    assert!(stdout.contains(r#"+   "title": "Boss""#), "{stdout}");
    assert!(stdout.contains("the case expects nothing"), "{stdout}");
    assert!(stdout.contains("0 passed, 2 failed"), "{stdout}");
}

#[test]
fn convert_writes_a_native_file_that_loads() {
    let scratch = Scratch::new("convert");
    let out_path = scratch.0.join("native.json");
    let out = scimap(
        &[
            "convert",
            "tests/mappings/graph-schema.json",
            "--out",
            out_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let native: Json = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(
        native["objects"][0]["attributes"][4]["source"],
        "ToLower([mail])"
    );
    let check = scimap(&["check", out_path.to_str().unwrap()], None);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
}

/// An attribute that is nowhere (not Entra's, not in the record) or differs from one
/// only in case is a warning with the name meant; the expression still evaluates.
#[test]
fn attributes_that_are_nowhere_are_warnings() {
    let out = scimap(
        &["eval", "[Surname]", "--record", "-"],
        Some(br#"{"surname": "Lee"}"#),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), "null");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("warning[unknown-attribute]"), "{stderr}");
    assert!(stderr.contains("write [surname]"), "{stderr}");
    let out = scimap(&["eval", r#"Join(" ", [givenName], [surnmae])"#], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("did you mean [surname]?"));
    let out = scimap(
        &["eval", "[custom]", "--record", "-"],
        Some(br#"{"custom": "x"}"#),
    );
    assert!(
        text(&out.stderr).is_empty(),
        "a record's own attribute is known"
    );
}

/// A gallery app that is not SCIM, from its Graph document: checked against the app's
/// own attribute definitions, applied to flat objects with typed values, tested with
/// change sets, and refused by `sync`, which speaks only SCIM.
#[test]
fn gallery_apps_that_are_not_scim() {
    let schema = "tests/mappings/gallery/salesforce.json";
    let check = scimap(&["check", schema], None);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let record = br#"{"objectId": "u1", "userPrincipalName": "ann@contoso.com", "mail": "ann@contoso.com", "mailNickname": "AnnLongname", "surname": "Lee", "userType": "Member", "department": "Sales", "IsSoftDeleted": "True", "appRoleAssignments": [{"value": "Standard User"}]}"#;
    let out = scimap(&["apply", "-m", schema, "-"], Some(record));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let made: Json = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(made["IsActive"], json!(false));
    assert_eq!(made["Alias"], "annlongn");
    assert_eq!(made["ProfileName"], "Standard User");
    assert!(made.get("schemas").is_none(), "{made}");

    let scratch = Scratch::new("gallery");
    let mapping = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(schema);
    let record: Json = serde_json::from_slice(record).unwrap();
    let tests = json!({
        "mapping": mapping,
        "cases": [{
            "name": "deactivated",
            "record": record,
            "exported": {"Username": "ann@contoso.com", "Email": "ann@contoso.com", "Alias": "annlongn", "LastName": "Lee", "IsActive": true, "ProfileName": "Standard User", "PermissionSets": ["Standard User"], "EmailEncodingKey": "UTF-8", "FederationIdentifier": "ann@contoso.com", "UserPermissionsMarketingUser": false, "LocaleSidKey": "en_US"},
            "expectPatch": {"IsActive": {"old": true, "new": false}, "Department": {"old": null, "new": "Sales"}}
        }]
    });
    let tests = scratch.file("app.tests.json", &tests.to_string());
    let out = scimap(&["test", &tests], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let users = scratch.file("users.json", "[]");
    let out = scimap(
        &[
            "sync",
            "-m",
            schema,
            "--users",
            &users,
            "--target",
            "http://127.0.0.1:9/scim/v2",
            "--token",
            "t",
            "--once",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("targets an app that is not SCIM"),
        "{}",
        text(&out.stderr)
    );
}
