//! `snapshot`: what a mapping makes of sample records, stored one file per case and
//! compared on every run. Differences are written beside the snapshots as pending
//! `.json.new` files; only `--accept`, `--accept-new` or a keypress in `--review`
//! turns them into snapshots.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::input;
use super::mappings::{self, LoadedMapping};
use super::report::{self, Annotation, CaseReport, Place, Status};
use super::{ContextArgs, MappingChoice, Outcome};
use crate::mapping::{snapshot_name, ObjectMapping, SnapshotOptions};
use crate::records::{self, Format, Position, Raw};
use crate::scim::diff::{changes, Change};

/// `Now()` in snapshots when `--now` is not given, so that they do not change daily.
pub const DEFAULT_NOW: &str = "2000-01-01T00:00:00Z";
const PENDING: &str = ".new";

#[derive(clap::Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    mapping: MappingChoice,
    /// Sample records: NDJSON, a JSON array, a Graph list or CSV.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// The snapshot folder (default: `snapshots` beside the first input); each object
    /// type has a folder of its own in it.
    #[arg(long, value_name = "DIR")]
    snapshots: Option<String>,
    /// The record attribute that names each case (default: objectId, then id).
    #[arg(long, value_name = "ATTRIBUTE")]
    name: Option<String>,
    /// A JSON object from case names to the resource last exported: the PATCH bodies
    /// that bring it up to date go into the snapshot, in both of Entra's shapes.
    #[arg(long, value_name = "FILE")]
    exported: Option<String>,
    /// A JSON object from source object ids to target ids, for references.
    #[arg(long, value_name = "FILE")]
    ids: Option<String>,
    /// Accept every difference: changed and new snapshots written, removed ones deleted.
    #[arg(long, conflicts_with_all = ["accept_new", "review"])]
    accept: bool,
    /// Accept new snapshots only.
    #[arg(long, conflicts_with = "review")]
    accept_new: bool,
    /// Review each difference and answer a (accept), r (reject), s (skip) or q (quit).
    #[arg(long)]
    review: bool,
    /// How to report: for people, JSON, or JUnit XML for CI test reporters.
    #[arg(long, value_enum, default_value_t = report::Format::Human)]
    format: report::Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    out: Option<String>,
    #[command(flatten)]
    context: ContextArgs,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Check,
    Accept,
    AcceptNew,
    Review,
}

/// One record's case, or why it has none.
struct Case {
    input: String,
    position: Position,
    name: Option<String>,
    /// The snapshot value, or why the record could not be snapshotted.
    value: Result<Json, String>,
}

/// A snapshot file as found on disk.
enum Stored {
    Valid(Json),
    Invalid(String),
}

pub fn snapshot(args: SnapshotArgs, color: bool) -> Outcome {
    let mode = match (args.accept, args.accept_new, args.review) {
        (true, _, _) => Mode::Accept,
        (_, true, _) => Mode::AcceptNew,
        (_, _, true) => Mode::Review,
        _ => Mode::Check,
    };
    let loaded = match mappings::load_with_text(args.mapping.mapping.as_deref(), color) {
        Ok(loaded) => loaded,
        Err(outcome) => return outcome,
    };
    let object = match mappings::object(&loaded.mapping, &args.mapping.object) {
        Ok(object) => object,
        Err(outcome) => return outcome,
    };
    let context = match input::context(
        Some(args.context.now.as_deref().unwrap_or(DEFAULT_NOW)),
        Some(args.context.seed.unwrap_or(0)),
        args.context.existing.as_deref(),
        &args.context.tenant_domain,
    ) {
        Ok(context) => context,
        Err(e) => return input_error(&e.to_string()),
    };
    let ids = match args.ids.as_deref().map(mappings::read_ids).transpose() {
        Ok(ids) => ids,
        Err(outcome) => return outcome,
    };
    let exported = match args.exported.as_deref().map(read_exported).transpose() {
        Ok(exported) => exported,
        Err(outcome) => return outcome,
    };
    let options = SnapshotOptions {
        context: Some(&context),
        references: ids.as_ref().map(|m| m as &dyn crate::mapping::References),
        name: args.name.as_deref(),
        exported: exported.as_ref(),
    };
    let root = args
        .snapshots
        .clone()
        .map(PathBuf::from)
        .unwrap_or_else(|| default_folder(&args.inputs[0]));
    let folder = root.join(object.target.name());
    let (cases, read_problems) = read_cases(object, &args.inputs, &options);
    let stored = match read_stored(&folder) {
        Ok(stored) => stored,
        Err(e) => return input_error(&format!("cannot read {}: {e}", folder.display())),
    };
    let mut run = Run {
        object,
        folder,
        mapping: &loaded,
        reports: Vec::new(),
        complete: read_problems.is_empty(),
    };
    run.compare(cases, stored, &read_problems);
    let written = match mode {
        Mode::Review => run.review(color),
        _ => run.settle(mode),
    };
    if let Err(e) = written {
        return input_error(&e);
    }
    run.finish(&args, &read_problems, color)
}

fn input_error(message: &str) -> Outcome {
    eprintln!("error[input]: {message}");
    Outcome::InputError
}

/// `snapshots/` in the folder of the first input (the current folder for stdin).
fn default_folder(first_input: &str) -> PathBuf {
    if first_input == "-" {
        return PathBuf::from("snapshots");
    }
    Path::new(first_input)
        .parent()
        .unwrap_or(Path::new(""))
        .join("snapshots")
}

fn read_exported(path: &str) -> Result<HashMap<String, Json>, Outcome> {
    let (name, value) = input::read_json(path).map_err(|e| {
        eprintln!("error[input]: {e}");
        Outcome::InputError
    })?;
    match value {
        Json::Object(map) if map.values().all(Json::is_object) => Ok(map.into_iter().collect()),
        _ => {
            eprintln!(
                "error[input]: {name}: expected a JSON object from case names to exported resources (objects)"
            );
            Err(Outcome::InputError)
        }
    }
}

/// Reads every input's records and snapshots each; problems that stop a file are
/// returned apart, since records after them were never seen.
fn read_cases(
    object: &ObjectMapping,
    inputs: &[String],
    options: &SnapshotOptions<'_>,
) -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut problems = Vec::new();
    for path in inputs {
        let reader = match open(path) {
            Ok(reader) => reader,
            Err(e) => {
                problems.push(format!("cannot read {path}: {e}"));
                continue;
            }
        };
        let read = records::read(reader, Format::Auto, &mut |position, record| {
            let record = record.and_then(|raw| match raw {
                Raw::Parsed(value) => Ok(value),
                Raw::Line(line) => records::parse_line(line),
            });
            cases.push(case(object, path, position, record, options));
        });
        if let Err(e) = read {
            problems.push(format!(
                "{path}: {e}; the records after this point were not read"
            ));
        }
    }
    (cases, problems)
}

fn open(path: &str) -> std::io::Result<Box<dyn BufRead>> {
    if path == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
        path,
    )?)))
}

fn case(
    object: &ObjectMapping,
    input: &str,
    position: Position,
    record: Result<Json, String>,
    options: &SnapshotOptions<'_>,
) -> Case {
    let named = record.and_then(|record| {
        let name = snapshot_name(&record, options.name).ok_or_else(|| {
            let attribute = options.name.unwrap_or("objectId` or `id");
            format!("the record has no `{attribute}` to name its snapshot (choose one with --name)")
        })?;
        Ok((name, record))
    });
    match named {
        Ok((name, record)) => Case {
            input: input.to_string(),
            position,
            value: object.snapshot(&name, &record, options),
            name: Some(name),
        },
        Err(message) => Case {
            input: input.to_string(),
            position,
            name: None,
            value: Err(message),
        },
    }
}

/// The snapshots in `folder`, by lower-cased name. A folder that does not exist yet
/// holds none.
fn read_stored(folder: &Path) -> std::io::Result<BTreeMap<String, (String, Stored)>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        let stored = match std::fs::read_to_string(&path) {
            Err(e) => Stored::Invalid(format!("cannot read it: {e}")),
            Ok(text) => match serde_json::from_str(&text) {
                Ok(value) => Stored::Valid(value),
                Err(e) => Stored::Invalid(format!(
                    "{}:{}:{}: invalid JSON: {}",
                    path.display(),
                    e.line(),
                    e.column(),
                    crate::json::message(&e)
                )),
            },
        };
        out.insert(name.to_lowercase(), (name.to_string(), stored));
    }
    Ok(out)
}

struct Run<'a> {
    object: &'a ObjectMapping,
    folder: PathBuf,
    mapping: &'a LoadedMapping,
    reports: Vec<CaseReport>,
    /// Whether every input was read to its end: only then is a snapshot without a
    /// record known to be removed.
    complete: bool,
}

impl Run<'_> {
    fn snapshot_path(&self, name: &str) -> PathBuf {
        self.folder.join(format!("{name}.json"))
    }

    fn pending_path(&self, name: &str) -> PathBuf {
        self.folder.join(format!("{name}.json{PENDING}"))
    }

    fn compare(
        &mut self,
        cases: Vec<Case>,
        mut stored: BTreeMap<String, (String, Stored)>,
        read_problems: &[String],
    ) {
        let duplicates = duplicate_names(&cases);
        let mut referenced = HashSet::new();
        for case in cases {
            let place = place(&case.input, case.position);
            let Some(name) = case.name.clone() else {
                let message = case.value.err().unwrap_or_default();
                self.reports
                    .push(self.report(None, Status::Failed, place, Some(message)));
                continue;
            };
            let key = name.to_lowercase();
            referenced.insert(key.clone());
            if let Some(places) = duplicates.get(&key) {
                let message = format!(
                    "{} records would share the snapshot name `{name}`: {}; give each a distinct name or choose another attribute with --name",
                    places.len(),
                    places.join(", ")
                );
                self.reports
                    .push(self.report(Some(&name), Status::Failed, place, Some(message)));
                continue;
            }
            let value = match case.value {
                Ok(value) => value,
                Err(message) => {
                    self.reports.push(self.report(
                        Some(&name),
                        Status::Failed,
                        place,
                        Some(message),
                    ));
                    continue;
                }
            };
            let (stored_name, old) = match stored.remove(&key) {
                Some((stored_name, old)) => (stored_name, Some(old)),
                None => (name.clone(), None),
            };
            let mut report = match old {
                None => self.report(Some(&stored_name), Status::New, place, None),
                Some(Stored::Invalid(message)) => {
                    self.report(Some(&stored_name), Status::Invalid, place, Some(message))
                }
                Some(Stored::Valid(old)) if old == value => {
                    self.report(Some(&stored_name), Status::Passed, place, None)
                }
                Some(Stored::Valid(old)) => {
                    let mut r = self.report(Some(&stored_name), Status::Changed, place, None);
                    r.changes = resource_changes(&old, &value);
                    r.old = Some(old);
                    r
                }
            };
            report.new = Some(value);
            self.reports.push(report);
        }
        for (key, (name, old)) in stored {
            if referenced.contains(&key) {
                continue;
            }
            let path = Place::file(&self.snapshot_path(&name));
            let mut report = if self.complete {
                let message = "no record has this name any more".to_string();
                self.report(Some(&name), Status::Removed, path, Some(message))
            } else {
                let message = format!(
                    "not checked: {} could not be read to the end",
                    read_problems.len()
                );
                self.report(Some(&name), Status::Unchecked, path, Some(message))
            };
            if let Stored::Valid(old) = old {
                report.old = Some(old);
            }
            self.reports.push(report);
        }
    }

    fn report(
        &self,
        name: Option<&str>,
        status: Status,
        place: Place,
        message: Option<String>,
    ) -> CaseReport {
        CaseReport {
            object: self.object.target.name().to_string(),
            name: name.map(str::to_string),
            status,
            place,
            snapshot: name.map(|n| self.snapshot_path(n).display().to_string()),
            message,
            changes: Vec::new(),
            old: None,
            new: None,
            accepted: false,
            rejected: false,
            annotations: Vec::new(),
        }
    }

    /// Writes pending files for differences, accepts what `mode` accepts, and
    /// removes pending files that no longer apply.
    fn settle(&mut self, mode: Mode) -> Result<(), String> {
        for i in 0..self.reports.len() {
            let accept = match self.reports[i].status {
                Status::Changed | Status::Invalid | Status::Removed => mode == Mode::Accept,
                Status::New => matches!(mode, Mode::Accept | Mode::AcceptNew),
                _ => false,
            };
            if accept {
                self.accept(i)?;
            } else {
                self.keep_pending(i)?;
            }
        }
        self.clean_pending()
    }

    fn accept(&mut self, i: usize) -> Result<(), String> {
        let report = &self.reports[i];
        let Some(name) = report.name.clone() else {
            return Ok(());
        };
        match &report.new {
            Some(value) => write_atomic(&self.snapshot_path(&name), &pretty(value))?,
            None => remove(&self.snapshot_path(&name))?,
        }
        remove(&self.pending_path(&name))?;
        self.reports[i].accepted = true;
        Ok(())
    }

    fn keep_pending(&self, i: usize) -> Result<(), String> {
        let report = &self.reports[i];
        let (Some(name), Some(value)) = (&report.name, &report.new) else {
            return Ok(());
        };
        match report.status {
            Status::Changed | Status::New | Status::Invalid => {
                write_atomic(&self.pending_path(name), &pretty(value))
            }
            _ => remove(&self.pending_path(name)),
        }
    }

    /// Pending files of cases that no longer differ (or no longer exist) go.
    fn clean_pending(&self) -> Result<(), String> {
        if !self.complete {
            return Ok(());
        }
        let waiting: HashSet<String> = self
            .reports
            .iter()
            .filter(|r| r.is_pending())
            .filter_map(|r| r.name.as_ref().map(|n| n.to_lowercase()))
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(stem) = name.strip_suffix(&format!(".json{PENDING}")) {
                if !waiting.contains(&stem.to_lowercase()) {
                    remove(&path)?;
                }
            }
        }
        Ok(())
    }

    /// Shows each difference and asks what to do with it, on standard input.
    fn review(&mut self, color: bool) -> Result<(), String> {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let total = self.reports.iter().filter(|r| r.needs_review()).count();
        let mut seen = 0;
        let mut quit = false;
        for i in 0..self.reports.len() {
            if !self.reports[i].needs_review() {
                continue;
            }
            seen += 1;
            if quit {
                self.keep_pending(i)?;
                continue;
            }
            eprintln!(
                "\n[{seen}/{total}] {}",
                report::describe(&self.reports[i], color)
            );
            let answer = loop {
                eprint!("a accept · r reject · s skip · q quit > ");
                let _ = std::io::stderr().flush();
                match lines.next() {
                    Some(Ok(line)) => match line.trim().to_ascii_lowercase().as_str() {
                        "a" | "accept" => break 'a',
                        "r" | "reject" => break 'r',
                        "s" | "skip" | "" => break 's',
                        "q" | "quit" => break 'q',
                        other => eprintln!("unknown answer `{other}`"),
                    },
                    _ => break 'q',
                }
            };
            match answer {
                'a' => self.accept(i)?,
                'r' => {
                    if let Some(name) = &self.reports[i].name {
                        remove(&self.pending_path(name))?;
                    }
                    self.reports[i].rejected = true;
                }
                'q' => {
                    quit = true;
                    self.keep_pending(i)?;
                }
                _ => self.keep_pending(i)?,
            }
        }
        self.clean_pending()
    }

    fn finish(mut self, args: &SnapshotArgs, read_problems: &[String], color: bool) -> Outcome {
        for problem in read_problems {
            eprintln!("error[input]: {problem}");
        }
        let locations = self.mapping.locations(self.object);
        for report in &mut self.reports {
            report.annotations = annotations(report, &locations, self.mapping);
        }
        if let Err(e) = self.write_reports(args, color) {
            return input_error(&e);
        }
        let summary = report::Summary::of(&self.reports);
        eprintln!("{}", summary.line(self.object.target.name()));
        if summary.pending() > 0 {
            eprintln!(
                "pending results are beside the snapshots as *.json{PENDING}: accept them with --accept (all), --accept-new (new ones) or --review (one by one)"
            );
        }
        if !read_problems.is_empty() || summary.failed > 0 || summary.invalid > 0 {
            Outcome::InputError
        } else if summary.pending() > 0 || summary.unchecked > 0 {
            Outcome::EvalError
        } else {
            Outcome::Ok
        }
    }
}

impl Run<'_> {
    /// The report in the chosen format (to `--out` or standard output), the report
    /// for people on standard output when the chosen one went to a file, and GitHub
    /// annotations under GitHub Actions (on standard error when standard output holds
    /// a machine-readable report).
    fn write_reports(&self, args: &SnapshotArgs, color: bool) -> Result<(), String> {
        let stdout_color = color && std::io::stdout().is_terminal();
        // A review has shown each case already.
        let reviewed = args.review;
        let human = args.format == report::Format::Human;
        match &args.out {
            Some(path) => {
                let text = report::render(&self.reports, args.format, false);
                std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
                if !reviewed && !human {
                    super::say(&report::render(
                        &self.reports,
                        report::Format::Human,
                        stdout_color,
                    ));
                }
            }
            None if reviewed && human => {}
            None => super::say(&report::render(&self.reports, args.format, stdout_color)),
        }
        if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
            let commands = report::github_commands(&self.reports);
            if args.out.is_none() && !human {
                eprint!("{commands}");
            } else {
                super::say(&commands);
            }
        }
        Ok(())
    }
}

fn place(input: &str, position: Position) -> Place {
    Place {
        file: input.to_string(),
        line: position.line,
        column: None,
        record: Some(position.index),
    }
}

/// The places of the records that share a name, by lower-cased name.
fn duplicate_names(cases: &[Case]) -> HashMap<String, Vec<String>> {
    let mut places: HashMap<String, Vec<String>> = HashMap::new();
    for case in cases {
        if let Some(name) = &case.name {
            places
                .entry(name.to_lowercase())
                .or_default()
                .push(place(&case.input, case.position).to_string());
        }
    }
    places.retain(|_, places| places.len() > 1);
    places
}

/// The attribute changes between two snapshot values: the resource's, the outcome's,
/// and the PATCH bodies' as wholes.
fn resource_changes(old: &Json, new: &Json) -> Vec<Change> {
    let part = |v: &Json, key: &str| v.get(key).cloned().unwrap_or(Json::Null);
    let mut found = changes(&part(old, "resource"), &part(new, "resource"));
    for key in ["outcome", "error", "unresolved", "patch"] {
        let (a, b) = (part(old, key), part(new, key));
        if a != b {
            found.push(Change {
                path: format!("({key})"),
                old: (!a.is_null()).then_some(a),
                new: (!b.is_null()).then_some(b),
            });
        }
    }
    found
}

/// Where GitHub should show a case's problem: the mapping line of each attribute
/// whose value changed, else the record's line.
fn annotations(
    report: &CaseReport,
    locations: &[(String, Place)],
    mapping: &LoadedMapping,
) -> Vec<Annotation> {
    let record = report.place.clone();
    if report.status != Status::Changed {
        return match report.status {
            Status::Passed => Vec::new(),
            _ => vec![Annotation {
                location: record,
                attribute: None,
            }],
        };
    }
    let mut out: Vec<Annotation> = Vec::new();
    for change in &report.changes {
        let location = locate_change(&change.path, locations)
            .or_else(|| mapping.object_location())
            .unwrap_or_else(|| record.clone());
        out.push(Annotation {
            location,
            attribute: Some(change.path.clone()),
        });
    }
    out
}

/// The mapping line of the attribute mapping that writes `path`: the same path, or the
/// same attribute.
fn locate_change(path: &str, locations: &[(String, Place)]) -> Option<Place> {
    let lower = path.to_ascii_lowercase();
    let base = |p: &str| {
        let end = p.find(['[', '.']).unwrap_or(p.len());
        let end = if p.starts_with("urn:") {
            p.rfind(':').map_or(p.len(), |colon| {
                colon
                    + 1
                    + p[colon + 1..]
                        .find(['[', '.'])
                        .unwrap_or(p.len() - colon - 1)
            })
        } else {
            end
        };
        p[..end].to_string()
    };
    locations
        .iter()
        .find(|(p, _)| p.to_ascii_lowercase() == lower)
        .or_else(|| {
            locations
                .iter()
                .find(|(p, _)| base(&p.to_ascii_lowercase()) == base(&lower))
        })
        .map(|(_, location)| location.clone())
}

fn pretty(value: &Json) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Writes a file whole or not at all: a temporary file beside it, then a rename.
fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, text).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

impl CaseReport {
    fn needs_review(&self) -> bool {
        self.name.is_some()
            && matches!(
                self.status,
                Status::Changed | Status::New | Status::Removed | Status::Invalid
            )
            && (self.new.is_some() || self.status == Status::Removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn location(line: usize) -> Place {
        Place {
            file: "m.json".into(),
            line: Some(line),
            column: Some(1),
            record: None,
        }
    }

    #[test]
    fn changes_find_their_attribute_mapping() {
        let locations = vec![
            ("displayName".to_string(), location(1)),
            ("emails[type eq \"work\"].value".to_string(), location(2)),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager".to_string(),
                location(3),
            ),
            ("name.givenName".to_string(), location(4)),
        ];
        let line = |path: &str| locate_change(path, &locations).and_then(|l| l.line);
        assert_eq!(line("DisplayName"), Some(1));
        assert_eq!(line("emails[type eq \"work\"].primary"), Some(2));
        assert_eq!(
            line("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"),
            Some(3)
        );
        assert_eq!(line("name.familyName"), Some(4));
        assert_eq!(line("title"), None);
    }

    #[test]
    fn json_is_written_whole() {
        let dir = std::env::temp_dir().join(format!("scimap-write-{}", std::process::id()));
        let path = dir.join("User/a.json");
        write_atomic(&path, "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn json_values_are_compared_without_key_order() {
        assert_eq!(json!({"a": 1, "b": 2}), json!({"b": 2, "a": 1}));
    }
}
