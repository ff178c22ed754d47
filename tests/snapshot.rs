//! `scimap snapshot` and `scimap diff` end to end through the binary: record, check,
//! review and accept; reports for CI; bad input; the CI example in docs/ run as its
//! workflows run it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value as Json};

fn scimap_in(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scimap"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let _ = pipe.write_all(stdin);
    drop(pipe);
    child.wait_with_output().expect("the binary finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// A folder of its own under the target directory, emptied first.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("snapshot-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/ci")
}

/// A work folder holding the CI example's mapping and sample users, without snapshots.
fn sample(name: &str) -> PathBuf {
    let dir = workdir(name);
    for file in ["mapping.json", "users.ndjson", "ids.json", "exported.json"] {
        std::fs::copy(example().join(file), dir.join(file)).unwrap();
    }
    dir
}

/// Every file under `dir` with its contents, for "nothing was touched" checks.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn names(dir: &Path, suffix: &str) -> Vec<String> {
    let mut found: Vec<String> = files(dir)
        .into_keys()
        .filter(|name| name.ends_with(suffix))
        .collect();
    found.sort();
    found
}

const SNAPSHOT: &[&str] = &["snapshot", "--mapping", "mapping.json", "users.ndjson"];
const ZOE: &str = "snapshots/User/7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01.json";

fn run(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = SNAPSHOT.iter().chain(extra).copied().collect();
    let out = scimap_in(dir, &args, b"", &[]);
    (
        out.status.code().unwrap(),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn edit(path: &Path, from: &str, to: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    assert!(old.contains(from), "{from:?} is in {}", path.display());
    std::fs::write(path, old.replacen(from, to, 1)).unwrap();
}

const DISPLAY_NAME: &str = r#""source": "Join(\" \", [givenName], [surname])""#;
const UPPER_DISPLAY_NAME: &str = r#""source": "ToUpper(Join(\" \", [givenName], [surname]))""#;

#[test]
fn record_check_and_accept() {
    let dir = sample("record");
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("User snapshots: 0 passed, 0 changed, 5 new, 0 removed, 0 failed"));
    assert!(stdout.contains("new       User/7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01  users.ndjson:1"));
    assert_eq!(names(&dir, ".json.new").len(), 5);
    assert!(
        names(&dir.join("snapshots"), ".json").is_empty(),
        "nothing accepted unasked"
    );

    let (code, _, stderr) = run(&dir, &["--accept-new"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(names(&dir.join("snapshots"), ".json").len(), 5);
    assert!(names(&dir, ".json.new").is_empty());
    let accepted: Json = serde_json::from_slice(&std::fs::read(dir.join(ZOE)).unwrap()).unwrap();
    assert_eq!(accepted["resource"]["displayName"], "Zoë Müller");

    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
    assert!(stderr.contains("5 passed, 0 changed, 0 new, 0 removed, 0 failed"));

    // The mapping changes: three users in scope change; nothing is accepted unasked.
    edit(&dir.join("mapping.json"), DISPLAY_NAME, UPPER_DISPLAY_NAME);
    let before = files(&dir.join("snapshots"));
    let (code, stdout, stderr) = run(&dir, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("2 passed, 3 changed, 0 new"), "{stderr}");
    assert!(
        stdout.contains(r#"  displayName: "Zoë Müller" → "ZOË MÜLLER""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"-    "displayName": "Zoë Müller","#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"+    "displayName": "ZOË MÜLLER","#),
        "{stdout}"
    );
    assert_eq!(names(&dir, ".json.new").len(), 3);
    let unchanged = |after: &BTreeMap<String, Vec<u8>>| {
        before
            .iter()
            .filter(|(name, _)| name.ends_with(".json"))
            .all(|(name, bytes)| after.get(name) == Some(bytes))
    };
    assert!(unchanged(&files(&dir.join("snapshots"))));
    let (code, _, _) = run(&dir, &["--accept-new"]);
    assert_eq!(code, 1, "changed cases are not new ones");
    assert!(unchanged(&files(&dir.join("snapshots"))));

    // A user leaves the samples: their snapshot is reported, then removed on --accept.
    let users = std::fs::read_to_string(dir.join("users.ndjson")).unwrap();
    let kept: Vec<&str> = users.lines().filter(|l| !l.contains("Amara")).collect();
    std::fs::write(dir.join("users.ndjson"), kept.join("\n") + "\n").unwrap();
    let (code, stdout, _) = run(&dir, &[]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("removed   User/c3d0f6b1-88a2-4f4e-a5a9-2e1f0b7c6d02"),
        "{stdout}"
    );
    let (code, _, stderr) = run(&dir, &["--accept"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("2 passed, 0 changed, 0 new, 0 removed, 0 failed; 3 accepted"),
        "{stderr}"
    );
    assert_eq!(names(&dir.join("snapshots"), ".json").len(), 4);
    assert!(names(&dir, ".json.new").is_empty());
    let accepted: Json = serde_json::from_slice(&std::fs::read(dir.join(ZOE)).unwrap()).unwrap();
    assert_eq!(accepted["resource"]["displayName"], "ZOË MÜLLER");
    assert_eq!(run(&dir, &[]).0, 0);
}

#[test]
fn review_case_by_case() {
    let dir = sample("review");
    assert_eq!(run(&dir, &["--accept"]).0, 0);
    edit(&dir.join("mapping.json"), DISPLAY_NAME, UPPER_DISPLAY_NAME);
    let before = files(&dir);
    let args: Vec<&str> = SNAPSHOT.iter().chain(&["--review"]).copied().collect();
    // Accept the first, reject the second; the input ends before the third.
    let out = scimap_in(&dir, &args, b"a\nr\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[1/3] changed   User/7a1c9e52"), "{stderr}");
    assert!(stderr.contains("a accept · r reject · s skip · q quit > "));
    assert!(
        stderr.contains("2 passed, 2 changed, 0 new, 0 removed, 0 failed; 1 accepted"),
        "{stderr}"
    );
    let after = files(&dir);
    assert_ne!(after[ZOE], before[ZOE], "the first was accepted");
    let amara = "snapshots/User/c3d0f6b1-88a2-4f4e-a5a9-2e1f0b7c6d02.json";
    assert_eq!(after[amara], before[amara], "the second was rejected");
    assert!(!after.contains_key(&format!("{amara}.new")));
    let jose = "snapshots/User/9f4a1b3c-6d2e-4f80-8a7b-c5d6e7f80904.json";
    assert_eq!(after[jose], before[jose], "the third was not answered");
    assert!(after.contains_key(&format!("{jose}.new")));

    // No answers at all (CI has no standard input): nothing is accepted.
    let before = files(&dir);
    let out = scimap_in(&dir, &args, b"", &[]);
    assert_eq!(out.status.code(), Some(1));
    let after = files(&dir);
    assert!(before
        .iter()
        .filter(|(n, _)| n.ends_with(".json"))
        .all(|(n, b)| after.get(n) == Some(b)));
}

/// The review on a real terminal (a pseudo-terminal made by util-linux's `script`):
/// the answer typed accepts the first difference, `q` leaves the rest pending.
#[test]
fn review_on_a_terminal() {
    let dir = sample("terminal");
    assert_eq!(run(&dir, &["--accept"]).0, 0);
    edit(&dir.join("mapping.json"), DISPLAY_NAME, UPPER_DISPLAY_NAME);
    let before = files(&dir);
    let command = format!(
        "{} snapshot --mapping mapping.json users.ndjson --review",
        env!("CARGO_BIN_EXE_scimap")
    );
    let out = scimap_script(&dir, &command, b"a\nq\n");
    let screen = text(&out.stdout);
    assert!(screen.contains("[1/3] changed"), "{screen}");
    assert!(
        screen.contains("2 passed, 2 changed, 0 new, 0 removed, 0 failed; 1 accepted"),
        "{screen}"
    );
    let after = files(&dir);
    assert_ne!(after[ZOE], before[ZOE]);
    assert_eq!(names(&dir, ".json.new").len(), 2);
}

/// Runs a shell command on a pseudo-terminal, typing `keys` into it.
fn scimap_script(dir: &Path, command: &str, keys: &[u8]) -> Output {
    let mut child = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's script runs");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(keys).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

#[test]
fn reports_for_ci() {
    let dir = sample("formats");
    assert_eq!(run(&dir, &["--accept"]).0, 0);
    edit(&dir.join("mapping.json"), DISPLAY_NAME, UPPER_DISPLAY_NAME);
    let users = std::fs::read_to_string(dir.join("users.ndjson")).unwrap();
    let extra = r#"{"objectId":"new-1","userPrincipalName":"kai@contoso.com","userType":"Member","employeeId":"9"}"#;
    std::fs::write(dir.join("users.ndjson"), format!("{users}{extra}\n")).unwrap();

    let (code, stdout, _) = run(&dir, &["--format", "json"]);
    assert_eq!(code, 1);
    let report: Json = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(
        report["summary"],
        json!({"passed": 2, "changed": 3, "new": 1, "removed": 0, "invalid": 0, "failed": 0, "unchecked": 0, "accepted": 0})
    );
    let zoe = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01")
        .unwrap();
    assert_eq!(zoe["status"], "changed");
    assert_eq!(zoe["place"], "users.ndjson:1");
    assert_eq!(
        zoe["changes"],
        json!([{"path": "displayName", "old": "Zoë Müller", "new": "ZOË MÜLLER"}])
    );

    // JUnit to a file; the diff for people still on standard output.
    let (code, stdout, _) = run(&dir, &["--format", "junit", "--out", "report.xml"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("changed   User/7a1c9e52"));
    let xml = std::fs::read_to_string(dir.join("report.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suites = doc.root_element();
    assert_eq!(suites.tag_name().name(), "testsuites");
    assert_eq!(suites.attribute("tests"), Some("6"));
    assert_eq!(suites.attribute("failures"), Some("4"));
    assert_eq!(suites.attribute("errors"), Some("0"));
    let failures: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| {
            let case = n.parent().unwrap().attribute("name").unwrap().to_string();
            (case, n.attribute("type").unwrap().to_string())
        })
        .collect();
    assert!(failures.contains(&("new-1".into(), "new".into())));
    assert!(failures.contains(&(
        "7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01".into(),
        "changed".into()
    )));
    let zoe_failure = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("failure")
                && n.parent().unwrap().attribute("name")
                    == Some("7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01")
        })
        .unwrap();
    assert!(zoe_failure
        .text()
        .unwrap()
        .contains(r#"+    "displayName": "ZOË MÜLLER","#));

    // Under GitHub Actions: one annotation at the mapping line of the attribute that
    // changed, one at the record that has no snapshot yet.
    let args: Vec<&str> = SNAPSHOT.to_vec();
    let out = scimap_in(&dir, &args, b"", &[("GITHUB_ACTIONS", "true")]);
    let stdout = text(&out.stdout);
    let mapping = std::fs::read_to_string(dir.join("mapping.json")).unwrap();
    let line = mapping
        .lines()
        .position(|l| l.contains(r#""target": "displayName""#))
        .unwrap()
        + 1;
    let column = mapping
        .lines()
        .nth(line - 1)
        .unwrap()
        .find(r#""displayName""#)
        .unwrap()
        + 1;
    let annotations: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations[0],
        format!("::error file=mapping.json,line={line},col={column},title=snapshot changed%3A displayName::3 snapshots changed displayName, e.g. User/7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01: \"Zoë Müller\" → \"ZOË MÜLLER\"")
    );
    assert!(annotations[1]
        .starts_with("::error file=users.ndjson,line=6,title=snapshot new::User/new-1"));
    assert_eq!(annotations.len(), 2, "{annotations:?}");
}

#[test]
fn bad_input_is_reported_and_nothing_is_lost() {
    let dir = sample("bad");
    assert_eq!(run(&dir, &["--accept"]).0, 0);

    // A snapshot edited by hand into invalid JSON: named with its place, kept as it is.
    std::fs::write(dir.join(ZOE), "{\n  \"case\": \"7a1c\",\n  oops\n}\n").unwrap();
    let (code, stdout, _) = run(&dir, &[]);
    assert_eq!(code, 3);
    assert!(
        stdout.contains(&format!("{ZOE}:3:3: invalid JSON")),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(ZOE)).unwrap(),
        "{\n  \"case\": \"7a1c\",\n  oops\n}\n"
    );
    assert_eq!(
        run(&dir, &["--accept-new"]).0,
        3,
        "an invalid snapshot is not new"
    );
    assert_eq!(run(&dir, &["--accept"]).0, 0, "accepting replaces it");

    // Two records with the same name: both places named, no snapshot for either.
    let users = std::fs::read_to_string(dir.join("users.ndjson")).unwrap();
    let first = users.lines().next().unwrap().to_string();
    let duplicate = first.replace("Zoë", "Zoey");
    std::fs::write(dir.join("users.ndjson"), format!("{users}{duplicate}\n")).unwrap();
    let before = files(&dir);
    let (code, stdout, _) = run(&dir, &["--accept"]);
    assert_eq!(code, 3);
    assert!(
        stdout.contains("2 records would share the snapshot name `7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01`: users.ndjson:1, users.ndjson:6"),
        "{stdout}"
    );
    assert_eq!(files(&dir)[ZOE], before[ZOE], "not overwritten");
    std::fs::write(dir.join("users.ndjson"), &users).unwrap();

    // A record without a name, a record that is not an object, a record that fails to map.
    edit(
        &dir.join("mapping.json"),
        r#"{ "target": "title", "source": "[jobTitle]", "default": "Staff" },"#,
        r#"{ "target": "title", "source": "FormatDateTime([employeeHireDate], , \"yyyy-MM-ddTHH:mm:ssZ\", \"yyyy-MM-dd\")" },"#,
    );
    let odd = concat!(
        r#"{"userPrincipalName":"anon@contoso.com"}"#,
        "\n[1, 2]\n",
        r#"{"objectId":"late","userPrincipalName":"late@contoso.com","userType":"Member","employeeId":"7","employeeHireDate":"soon"}"#,
        "\n"
    );
    std::fs::write(dir.join("odd.ndjson"), odd).unwrap();
    let out = scimap_in(
        &dir,
        &[
            "snapshot",
            "--mapping",
            "mapping.json",
            "odd.ndjson",
            "--snapshots",
            "odd",
        ],
        b"",
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("failed    User record  odd.ndjson:1: the record has no `objectId` or `id` to name its snapshot"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "failed    User record  odd.ndjson:2: a record must be a JSON object, not an array"
        ),
        "{stdout}"
    );
    let late: Json =
        serde_json::from_slice(&std::fs::read(dir.join("odd/User/late.json.new")).unwrap())
            .unwrap();
    assert_eq!(late["outcome"], "error");
    assert_eq!(late["error"]["target"], "title");
    let diagnostic: Vec<&str> = late["error"]["diagnostic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        diagnostic[0].starts_with("error[argument]: FormatDateTime: argument `source` \"soon\"")
    );
    assert!(diagnostic
        .iter()
        .any(|l| l.contains("^^^^^^^^^^^^^^^^^^ evaluation failed here")));
    edit(
        &dir.join("mapping.json"),
        r#"{ "target": "title", "source": "FormatDateTime([employeeHireDate], , \"yyyy-MM-ddTHH:mm:ssZ\", \"yyyy-MM-dd\")" },"#,
        r#"{ "target": "title", "source": "[jobTitle]", "default": "Staff" },"#,
    );

    // A mapping that no longer loads: exit 2, nothing touched.
    edit(
        &dir.join("mapping.json"),
        "ToLower([userPrincipalName])",
        "ToLower([userPrincipalName]",
    );
    let before = files(&dir);
    let (code, _, stderr) = run(&dir, &["--accept"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("mapping.json:"), "{stderr}");
    assert_eq!(files(&dir), before);
    edit(
        &dir.join("mapping.json"),
        "ToLower([userPrincipalName]",
        "ToLower([userPrincipalName])",
    );

    // A records file cut short by invalid JSON (an array cannot be read on past it):
    // the snapshots of the records after it are not called removed, and --accept does
    // not delete them.
    let lines: Vec<&str> = users.lines().collect();
    let broken = format!("[\n{},\n{{\"objectId\": ]\n", lines[0]);
    std::fs::write(dir.join("users.ndjson"), broken).unwrap();
    let (code, stdout, stderr) = run(&dir, &["--accept"]);
    assert_eq!(code, 3);
    assert!(stderr.contains("users.ndjson: line 3"), "{stderr}");
    assert!(stdout.contains("unchecked"), "{stdout}");
    assert!(!stdout.contains("removed"), "{stdout}");
    assert_eq!(
        names(&dir.join("snapshots"), ".json").len(),
        5,
        "nothing deleted"
    );
}

#[test]
fn names_from_another_attribute() {
    let dir = sample("names");
    let (code, stdout, _) = run(&dir, &["--name", "userPrincipalName", "--accept"]);
    assert_eq!(code, 0, "{stdout}");
    let stored = names(&dir.join("snapshots"), ".json");
    assert!(
        stored.contains(&"User/Zoe.Muller@contoso.com.json".to_string()),
        "{stored:?}"
    );
    assert!(
        stored.contains(&"User/li.wei_fabrikam.com_EXT_@contoso.onmicrosoft.com.json".to_string()),
        "{stored:?}"
    );
    let guest: Json = serde_json::from_slice(
        &std::fs::read(
            dir.join("snapshots/User/li.wei_fabrikam.com_EXT_@contoso.onmicrosoft.com.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        guest["case"],
        "li.wei_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    );
}

/// The example repository in docs/ runs as its GitHub Actions and Azure DevOps jobs
/// run it, and its accepted snapshots match what the mapping makes today.
#[test]
fn ci_example_runs_as_its_workflows_run_it() {
    let source = example();
    for workflow in [".github/workflows/mappings.yml", "azure-pipelines.yml"] {
        let dir = workdir(&workflow.replace(['/', '.'], "-"));
        for (name, bytes) in files(&source) {
            let path = dir.join(&name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let yaml = std::fs::read_to_string(source.join(workflow)).unwrap();
        let commands: Vec<Vec<&str>> = yaml
            .lines()
            .filter_map(|l| {
                let l = l.trim_start().trim_start_matches("- ");
                l.strip_prefix("run: ")
                    .or_else(|| l.strip_prefix("script: "))
            })
            .filter_map(|c| c.strip_prefix("scimap "))
            .map(|c| c.split_whitespace().collect())
            .collect();
        assert_eq!(commands.len(), 2, "{workflow}: check and snapshot");
        for args in &commands {
            let out = scimap_in(&dir, args, b"", &[]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{workflow}: scimap {}\n{}{}",
                args.join(" "),
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        let xml = std::fs::read_to_string(dir.join("snapshots.junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(doc.root_element().attribute("tests"), Some("5"));
        assert_eq!(doc.root_element().attribute("failures"), Some("0"));
        assert!(names(&dir, ".json.new").is_empty());
    }
}

#[test]
fn population_diff_between_two_mappings() {
    let dir = sample("diff");
    std::fs::copy(dir.join("mapping.json"), dir.join("new.json")).unwrap();
    edit(&dir.join("new.json"), DISPLAY_NAME, UPPER_DISPLAY_NAME);
    // Guests come into scope: the scoping clause on userType goes.
    edit(
        &dir.join("new.json"),
        r#"{ "attribute": "userType", "operator": "EQUALS", "value": "Member" },"#,
        "",
    );
    edit(
        &dir.join("new.json"),
        r#"{ "attribute": "employeeId", "operator": "IS_NOT_NULL" }"#,
        r#"{ "attribute": "userPrincipalName", "operator": "IS_NOT_NULL" }"#,
    );
    let args = [
        "diff",
        "--mapping",
        "mapping.json",
        "--mapping",
        "new.json",
        "users.ndjson",
        "--format",
        "json",
    ];
    let out = scimap_in(&dir, &args, b"", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let diff: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(diff["records"], 5);
    assert_eq!(diff["changed"], 3);
    assert_eq!(diff["unchanged"], 0);
    assert_eq!(diff["enteringScope"]["count"], 2);
    assert_eq!(
        diff["enteringScope"]["examples"],
        json!([{"record": "5e8b2d7f-3a61-4c09-b3f4-9d0a6e2c1b03"}, {"record": "2b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d05"}])
    );
    assert_eq!(
        diff["attributes"],
        json!([{
            "path": "displayName", "changed": 3, "added": 0, "removed": 0,
            "examples": [
                {"record": "7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01", "old": "Zoë Müller", "new": "ZOË MÜLLER"},
                {"record": "c3d0f6b1-88a2-4f4e-a5a9-2e1f0b7c6d02", "old": "Amara Okafor", "new": "AMARA OKAFOR"},
                {"record": "9f4a1b3c-6d2e-4f80-8a7b-c5d6e7f80904", "old": "José García", "new": "JOSÉ GARCÍA"},
            ],
        }])
    );
    let human = scimap_in(&dir, &args[..6], b"", &[]);
    let human = text(&human.stdout);
    assert!(
        human.starts_with("5 records: 0 unchanged, 3 changed, 2 entering scope, 0 leaving scope"),
        "{human}"
    );
    assert!(
        human.contains("    7a1c9e52-0c1f-4d43-9f57-1b2f6c0d8a01: \"Zoë Müller\" → \"ZOË MÜLLER\"")
    );

    let mut exit = args[..6].to_vec();
    exit.push("--exit-code");
    assert_eq!(scimap_in(&dir, &exit, b"", &[]).status.code(), Some(1));
    let same = [
        "diff",
        "--mapping",
        "mapping.json",
        "--mapping",
        "mapping.json",
        "users.ndjson",
        "--exit-code",
    ];
    assert_eq!(scimap_in(&dir, &same, b"", &[]).status.code(), Some(0));
    let one = scimap_in(
        &dir,
        &["diff", "--mapping", "mapping.json", "users.ndjson"],
        b"",
        &[],
    );
    assert_eq!(one.status.code(), Some(3));
    assert!(text(&one.stderr).contains("give two mappings"));
}

/// The library's snapshot API gives exactly what the command accepted into the CI
/// example: one format, whichever way a team takes its snapshots.
#[test]
fn library_api_gives_the_files_the_command_accepted() {
    use scimap::mapping::{Mapping, SnapshotOptions};
    use std::collections::HashMap;

    let dir = example();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let mapping = Mapping::from_json(&read("mapping.json")).unwrap();
    let records: Vec<Json> = read("users.ndjson")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: HashMap<String, String> = serde_json::from_str(&read("ids.json")).unwrap();
    let exported: HashMap<String, Json> = serde_json::from_str(&read("exported.json")).unwrap();
    let mut context = scimap::Context::default();
    context.now = Some("2000-01-01T00:00:00Z".parse().unwrap());
    context.seed = Some(0);
    let mut options = SnapshotOptions::default();
    options.context = Some(&context);
    options.references = Some(&ids);
    options.exported = Some(&exported);
    let snapshots = mapping
        .object("User")
        .unwrap()
        .snapshots(&records, &options)
        .unwrap();
    assert_eq!(
        snapshots.len(),
        names(&dir.join("snapshots"), ".json").len()
    );
    for snapshot in snapshots {
        let stored = read(&format!("snapshots/User/{}.json", snapshot.name));
        assert_eq!(
            stored,
            serde_json::to_string_pretty(&snapshot.value).unwrap() + "\n",
            "{}",
            snapshot.name
        );
    }
}
