//! `apply`, `check`, `test` and `convert`: the commands that work with mapping files.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};

use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::input::{self, InputError};
use super::report::Place;
use super::{say, Outcome};
use crate::mapping::{
    file::MappingFile, ApplyOptions, Mapping, ObjectMapping, Phase, Report, StreamOptions, Summary,
};
use crate::records::{Format as RecordFormat, ReadError};
use crate::scim::PatchStyle;
use crate::{Context, Diagnostics};

/// Loads the mapping at `path`, or the embedded default. Problems are printed.
pub fn load(path: Option<&str>, color: bool) -> Result<Mapping, Outcome> {
    load_with_text(path, color).map(|loaded| loaded.mapping)
}

/// A mapping with the text it was read from, for placing things in the file.
pub struct LoadedMapping {
    pub mapping: Mapping,
    /// The file's name and text; `None` for the embedded default.
    pub source: Option<(String, String)>,
}

impl LoadedMapping {
    /// Each attribute mapping's target path (as `scim::diff` names changes) with its
    /// place in the file.
    pub fn locations(&self, object: &ObjectMapping) -> Vec<(String, Place)> {
        let Some((name, text)) = &self.source else {
            return Vec::new();
        };
        object
            .attributes()
            .iter()
            .filter_map(|a| {
                let span = a.span?;
                Some((
                    a.target.diff_path(),
                    place_of(name, text, span.start as usize),
                ))
            })
            .collect()
    }

    /// The mapping file itself, when there is one.
    pub fn object_location(&self) -> Option<Place> {
        self.source
            .as_ref()
            .map(|(name, _)| Place::file(std::path::Path::new(name)))
    }
}

/// The line and column (in characters, from 1) of a byte offset.
fn place_of(name: &str, text: &str, offset: usize) -> Place {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Place {
        file: name.to_string(),
        line: Some(before.matches('\n').count() + 1),
        column: Some(before[line_start..].chars().count() + 1),
        record: None,
    }
}

/// Loads the mapping at `path` with its text, or the embedded default.
pub fn load_with_text(path: Option<&str>, color: bool) -> Result<LoadedMapping, Outcome> {
    let Some(path) = path else {
        return Ok(LoadedMapping {
            mapping: Mapping::embedded_default(),
            source: None,
        });
    };
    let (name, text) = read_text(path)?;
    match Mapping::from_json(&text) {
        Ok(mapping) => Ok(LoadedMapping {
            mapping,
            source: Some((name, text)),
        }),
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render(&text, &name, color));
            let errors = diagnostics.errors().count();
            eprintln!(
                "error: {name}: {errors} error{} in the mapping",
                plural(errors)
            );
            Err(Outcome::CheckError)
        }
    }
}

fn read_text(path: &str) -> Result<(String, String), Outcome> {
    input::read_text(path).map_err(|e| {
        eprintln!("error[input]: {e}");
        Outcome::InputError
    })
}

/// Sizes the thread pool for `--jobs N` (every core when absent).
pub fn use_threads(jobs: Option<usize>) {
    if let Some(jobs) = jobs {
        // Only fails when the pool exists already, which leaves its size as it was.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .build_global();
    }
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub fn object<'m>(mapping: &'m Mapping, name: &str) -> Result<&'m ObjectMapping, Outcome> {
    mapping.object(name).ok_or_else(|| {
        let names: Vec<String> = mapping
            .objects()
            .iter()
            .map(|o| format!("{} ({})", o.target, o.name))
            .collect();
        eprintln!(
            "error: the mapping has no object mapping for `{name}`; it has {}",
            names.join(", ")
        );
        Outcome::CheckError
    })
}

/// The `apply` command's settings.
pub struct ApplyArgs<'a> {
    pub mapping: Option<&'a str>,
    pub object: &'a str,
    pub inputs: &'a [String],
    pub format: RecordFormat,
    pub out: Option<&'a str>,
    pub ids: Option<&'a str>,
    pub phase: Phase,
    pub jobs: Option<usize>,
    pub report: Option<&'a str>,
    pub context: Context,
    pub color: bool,
}

pub fn apply(args: ApplyArgs<'_>) -> Outcome {
    let mapping = match load(args.mapping, args.color) {
        Ok(mapping) => mapping,
        Err(outcome) => return outcome,
    };
    let object = match object(&mapping, args.object) {
        Ok(object) => object,
        Err(outcome) => return outcome,
    };
    let ids = match args.ids.map(read_ids).transpose() {
        Ok(ids) => ids,
        Err(outcome) => return outcome,
    };
    use_threads(args.jobs);
    let options = StreamOptions {
        apply: ApplyOptions {
            context: Some(&args.context),
            phase: args.phase,
            references: ids.as_ref().map(|m| m as &dyn crate::mapping::References),
        },
        parallel: args.jobs != Some(1),
        ..StreamOptions::default()
    };
    let mut out: Box<dyn Write> = match args.out {
        None => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout().lock(),
        )),
        Some(path) => match std::fs::File::create(path) {
            Ok(file) => Box::new(std::io::BufWriter::with_capacity(1 << 16, file)),
            Err(e) => {
                eprintln!("error[input]: cannot write {path}: {e}");
                return Outcome::InputError;
            }
        },
    };
    let mut report_file = match args.report.map(std::fs::File::create).transpose() {
        Ok(file) => file.map(std::io::BufWriter::new),
        Err(e) => {
            eprintln!("error[input]: cannot write the report: {e}");
            return Outcome::InputError;
        }
    };
    let mut total = Summary::default();
    let mut unreadable = false;
    for path in args.inputs {
        let (reader, progress) = match open_input(path) {
            Ok(opened) => opened,
            Err(e) => {
                eprintln!("error[input]: {e}");
                unreadable = true;
                continue;
            }
        };
        let mut on_report = |report: Report| {
            print_report(path, &report);
            if let Some(file) = report_file.as_mut() {
                let _ = writeln!(file, "{}", report_json(path, &report));
            }
        };
        let result = object.apply_stream(reader, args.format, &options, &mut out, &mut on_report);
        if let Some(progress) = progress {
            progress.finish_and_clear();
        }
        match result {
            Ok(summary) => add(&mut total, summary),
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => {
                eprintln!("error[input]: {path}: {e}; records after this point were not read");
                unreadable = true;
            }
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write the output: {e}");
            return Outcome::InputError;
        }
    }
    eprintln!(
        "{} record{}: {} resource{}, {} out of scope, {} failed",
        total.records,
        plural(total.records),
        total.resources,
        plural(total.resources),
        total.out_of_scope,
        total.failed
    );
    if unreadable {
        Outcome::InputError
    } else if total.failed > 0 {
        Outcome::EvalError
    } else {
        Outcome::Ok
    }
}

fn add(total: &mut Summary, s: Summary) {
    total.records += s.records;
    total.resources += s.resources;
    total.out_of_scope += s.out_of_scope;
    total.failed += s.failed;
}

fn print_report(path: &str, report: &Report) {
    if let Report::Failed { position, error } = report {
        let id = error
            .id
            .as_ref()
            .map(|id| format!(" [{id}]"))
            .unwrap_or_default();
        let target = error
            .target
            .as_ref()
            .map(|t| format!("{t}: "))
            .unwrap_or_default();
        eprintln!("error: {path}: {position}{id}: {target}{}", error.message);
    }
}

fn report_json(path: &str, report: &Report) -> Json {
    match report {
        Report::Failed { position, error } => json!({
            "input": path, "index": position.index, "line": position.line, "id": error.id,
            "status": "failed", "target": error.target, "message": error.message,
        }),
        Report::OutOfScope { position, id } => json!({
            "input": path, "index": position.index, "line": position.line, "id": id,
            "status": "outOfScope",
        }),
    }
}

pub type Progress = Option<indicatif::ProgressBar>;

/// An input file (or `-`), wrapped in a progress bar when stderr is a terminal and the
/// file is large enough to wait for.
pub fn open_input(path: &str) -> Result<(Box<dyn BufRead>, Progress), InputError> {
    if path == "-" {
        return Ok((
            Box::new(BufReader::with_capacity(1 << 16, std::io::stdin())),
            None,
        ));
    }
    let file = std::fs::File::open(path).map_err(|source| InputError::Io {
        name: path.to_string(),
        source,
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if std::io::stderr().is_terminal() && size > 8 << 20 {
        let bar = indicatif::ProgressBar::new(size);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("a valid template"),
        );
        let reader = bar.wrap_read(file);
        return Ok((
            Box::new(BufReader::with_capacity(1 << 16, reader)),
            Some(bar),
        ));
    }
    Ok((Box::new(BufReader::with_capacity(1 << 16, file)), None))
}

/// A JSON object from source ids to target ids.
pub fn read_ids(path: &str) -> Result<HashMap<String, String>, Outcome> {
    let (name, text) = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| {
        eprintln!(
            "error[input]: {name}: expected a JSON object of source id → target id strings: {e}"
        );
        Outcome::InputError
    })
}

/// `check`: every problem in a mapping file.
pub fn check(path: &str, extra_sources: &[String], color: bool) -> Outcome {
    let (name, text) = match read_text(path) {
        Ok(read) => read,
        Err(outcome) => return outcome,
    };
    match Mapping::from_json_with_sources(&text, extra_sources) {
        Ok(mapping) => {
            let warnings = mapping.warnings();
            if !warnings.is_empty() {
                eprintln!(
                    "{}",
                    Diagnostics(warnings.to_vec()).render(&text, &name, color)
                );
            }
            let attributes: usize = mapping.objects().iter().map(|o| o.attributes().len()).sum();
            let kind = if mapping.is_graph_schema() {
                "Graph schema"
            } else {
                "mapping"
            };
            say(&format!(
                "{name}: {kind} with {} object mapping{} and {attributes} attribute mapping{}: {} warning{}\n",
                mapping.objects().len(),
                plural(mapping.objects().len()),
                plural(attributes),
                warnings.len(),
                plural(warnings.len()),
            ));
            if warnings.is_empty() {
                Outcome::Ok
            } else {
                Outcome::EvalError
            }
        }
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render(&text, &name, color));
            let errors = diagnostics.errors().count();
            let warnings = diagnostics.0.len() - errors;
            say(&format!(
                "{name}: {errors} error{}, {warnings} warning{}\n",
                plural(errors),
                plural(warnings)
            ));
            Outcome::CheckError
        }
    }
}

/// `convert`: a Graph schema (or a native file) written as a native mapping file.
pub fn convert(path: &str, out: Option<&str>, color: bool) -> Outcome {
    let (name, text) = match read_text(path) {
        Ok(read) => read,
        Err(outcome) => return outcome,
    };
    let file: MappingFile = match crate::mapping::file_from_json(&text) {
        Ok(file) => file,
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render(&text, &name, color));
            return Outcome::CheckError;
        }
    };
    let mut written = serde_json::to_string_pretty(&file).expect("mapping files serialize");
    written.push('\n');
    match out {
        None => say(&written),
        Some(path) => {
            if let Err(e) = std::fs::write(path, written) {
                eprintln!("error[input]: cannot write {path}: {e}");
                return Outcome::InputError;
            }
        }
    }
    Outcome::Ok
}

/// A file of mapping test cases.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestFile {
    /// The mapping, relative to the test file; the embedded default when absent.
    mapping: Option<String>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    tenant_domain: Option<String>,
    cases: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default = "user")]
    object: String,
    record: Json,
    #[serde(default)]
    ids: HashMap<String, String>,
    /// The expected resource on creation.
    #[serde(default)]
    expect: Option<Json>,
    /// The record must be out of scope.
    #[serde(default)]
    expect_out_of_scope: bool,
    /// The record must fail, with a message containing this.
    #[serde(default)]
    expect_error: Option<String>,
    /// The previously exported resource, for a PATCH.
    #[serde(default)]
    exported: Option<Json>,
    #[serde(default)]
    patch_style: PatchStyle,
    /// The expected update (`null`: no change): the PATCH body, or for an app that is
    /// not SCIM the change set.
    #[serde(default, deserialize_with = "some")]
    expect_patch: Option<Json>,
}

fn user() -> String {
    "User".into()
}

/// Keeps an explicit `null` as `Some(Null)`, apart from an absent field.
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// `test`: runs a file of mapping test cases.
pub fn test(path: &str, color: bool) -> Outcome {
    let (name, text) = match read_text(path) {
        Ok(read) => read,
        Err(outcome) => return outcome,
    };
    let file: TestFile = match serde_json::from_str(&text) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error[input]: {name}:{}:{}: {e}", e.line(), e.column());
            return Outcome::InputError;
        }
    };
    let mapping_path = file.mapping.as_ref().map(|m| {
        std::path::Path::new(path)
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join(m)
            .to_string_lossy()
            .into_owned()
    });
    let mapping = match load(mapping_path.as_deref(), color) {
        Ok(mapping) => mapping,
        Err(outcome) => return outcome,
    };
    let context = match input::context(file.now.as_deref(), file.seed, None, &file.tenant_domain) {
        Ok(context) => context,
        Err(e) => {
            eprintln!("error[input]: {name}: {e}");
            return Outcome::InputError;
        }
    };
    let mut failed = 0;
    for case in &file.cases {
        match run_case(&mapping, case, &context) {
            Ok(()) => say(&format!("ok      {}\n", case.name)),
            Err(why) => {
                failed += 1;
                say(&format!("FAILED  {}\n{}\n", case.name, indent(&why)));
            }
        }
    }
    let passed = file.cases.len() - failed;
    say(&format!("\n{name}: {passed} passed, {failed} failed\n"));
    if failed > 0 {
        Outcome::EvalError
    } else {
        Outcome::Ok
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

fn run_case(mapping: &Mapping, case: &TestCase, context: &Context) -> Result<(), String> {
    let object = mapping
        .object(&case.object)
        .ok_or_else(|| format!("the mapping has no object mapping for `{}`", case.object))?;
    if case.expect.is_none()
        && !case.expect_out_of_scope
        && case.expect_error.is_none()
        && case.expect_patch.is_none()
    {
        return Err(
            "the case expects nothing: give expect, expectOutOfScope, expectError or expectPatch"
                .into(),
        );
    }
    let batch = object
        .batch(std::slice::from_ref(&case.record))
        .map_err(|e| format!("record: {e}"))?;
    let run = |phase| {
        let options = ApplyOptions {
            context: Some(context),
            phase,
            references: Some(&case.ids),
        };
        let applied = object.apply_one(&batch, &options);
        applied.map(|resource| resource.map(|r| (r.to_json(), r)))
    };
    let created = run(Phase::Create);
    match (&created, &case.expect_error) {
        (Err(e), Some(wanted)) if e.to_string().contains(wanted.as_str()) => return Ok(()),
        (Err(e), Some(wanted)) => {
            return Err(format!("expected an error containing {wanted:?}, got: {e}"))
        }
        (Ok(_), Some(wanted)) => {
            return Err(format!(
                "expected an error containing {wanted:?}, but the record mapped"
            ))
        }
        (Err(e), None) => return Err(format!("the record failed: {e}")),
        (Ok(_), None) => {}
    }
    let created = created.expect("checked above");
    match (&created, case.expect_out_of_scope) {
        (None, true) => return Ok(()),
        (Some(_), true) => {
            return Err("expected the record to be out of scope, but it is in scope".into())
        }
        (None, false) => return Err("the record is out of scope".into()),
        (Some(_), false) => {}
    }
    if let (Some(expected), Some((actual, _))) = (&case.expect, &created) {
        if expected != actual {
            return Err(format!(
                "the resource differs (- expected, + actual):\n{}",
                diff(expected, actual)
            ));
        }
    }
    if let Some(expected) = &case.expect_patch {
        let exported = case
            .exported
            .as_ref()
            .ok_or("expectPatch needs `exported`: the resource as last sent")?;
        let updated = run(Phase::Update)
            .map_err(|e| format!("the update failed: {e}"))?
            .ok_or("the record is out of scope for the update")?;
        let actual = object
            .update(exported, &updated.1, case.patch_style)
            .unwrap_or(Json::Null);
        if *expected != actual {
            return Err(format!(
                "the update differs (- expected, + actual):\n{}",
                diff(expected, &actual)
            ));
        }
    }
    Ok(())
}

/// A line diff of two JSON values, pretty-printed.
fn diff(expected: &Json, actual: &Json) -> String {
    let expected = serde_json::to_string_pretty(expected).expect("JSON serializes");
    let actual = serde_json::to_string_pretty(actual).expect("JSON serializes");
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push(sign);
        out.push(' ');
        out.push_str(change.value().trim_end_matches('\n'));
        out.push('\n');
    }
    out
}
