//! How `scimap snapshot` reports its cases: for people, as JSON, as JUnit XML for CI
//! test reporters, and as GitHub Actions annotations.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value as Json};

use crate::scim::diff::Change;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Each difference with its diff.
    Human,
    /// One JSON object with every case.
    Json,
    /// JUnit XML (Azure DevOps, GitHub test reporters, GitLab, Jenkins).
    Junit,
}

/// Where something is: a file, with a line (and column) when known, or a record's
/// position in a file without lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub record: Option<usize>,
}

impl Place {
    pub fn file(path: &Path) -> Place {
        Place {
            file: path.display().to_string(),
            line: None,
            column: None,
            record: None,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        match (self.line, self.column, self.record) {
            (Some(line), Some(column), _) => write!(f, ":{line}:{column}"),
            (Some(line), None, _) => write!(f, ":{line}"),
            (None, _, Some(record)) => write!(f, ": record {record}"),
            (None, _, None) => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Changed,
    New,
    Removed,
    /// The stored snapshot is not readable JSON.
    Invalid,
    /// The record could not be snapshotted (unreadable, unnamed, a duplicate name).
    Failed,
    /// A snapshot with no record, while some input could not be read to its end.
    Unchecked,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Changed => "changed",
            Status::New => "new",
            Status::Removed => "removed",
            Status::Invalid => "invalid",
            Status::Failed => "failed",
            Status::Unchecked => "unchecked",
        }
    }
}

/// Where an annotation points, and the attribute it is about.
#[derive(Debug, Clone)]
pub struct Annotation {
    pub location: Place,
    pub attribute: Option<String>,
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseReport {
    pub object: String,
    pub name: Option<String>,
    pub status: Status,
    /// The record's place, or the snapshot's for a removed one.
    pub place: Place,
    pub snapshot: Option<String>,
    pub message: Option<String>,
    pub changes: Vec<Change>,
    pub old: Option<Json>,
    pub new: Option<Json>,
    pub accepted: bool,
    pub rejected: bool,
    pub annotations: Vec<Annotation>,
}

impl CaseReport {
    /// A difference nobody accepted yet.
    pub fn is_pending(&self) -> bool {
        !self.accepted
            && matches!(
                self.status,
                Status::Changed | Status::New | Status::Removed | Status::Invalid
            )
    }

    fn title(&self) -> String {
        match &self.name {
            Some(name) => format!("{}/{name}", self.object),
            None => format!("{} record", self.object),
        }
    }
}

/// The counts of a run.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub passed: usize,
    pub changed: usize,
    pub new: usize,
    pub removed: usize,
    pub invalid: usize,
    pub failed: usize,
    pub unchecked: usize,
    pub accepted: usize,
}

impl Summary {
    pub fn of(reports: &[CaseReport]) -> Summary {
        let mut s = Summary::default();
        for r in reports {
            if r.accepted {
                s.accepted += 1;
                continue;
            }
            *match r.status {
                Status::Passed => &mut s.passed,
                Status::Changed => &mut s.changed,
                Status::New => &mut s.new,
                Status::Removed => &mut s.removed,
                Status::Invalid => &mut s.invalid,
                Status::Failed => &mut s.failed,
                Status::Unchecked => &mut s.unchecked,
            } += 1;
        }
        s
    }

    /// Differences left for somebody to accept.
    pub fn pending(&self) -> usize {
        self.changed + self.new + self.removed + self.invalid
    }

    pub fn line(&self, object: &str) -> String {
        let mut line = format!(
            "{object} snapshots: {} passed, {} changed, {} new, {} removed, {} failed",
            self.passed,
            self.changed,
            self.new,
            self.removed,
            self.failed + self.invalid
        );
        if self.unchecked > 0 {
            let _ = write!(line, ", {} unchecked", self.unchecked);
        }
        if self.accepted > 0 {
            let _ = write!(line, "; {} accepted", self.accepted);
        }
        line
    }
}

pub fn render(reports: &[CaseReport], format: Format, color: bool) -> String {
    match format {
        Format::Human => reports
            .iter()
            .filter(|r| r.status != Status::Passed)
            .map(|r| describe(r, color) + "\n")
            .collect(),
        Format::Json => json_report(reports),
        Format::Junit => junit(reports),
    }
}

/// One case for a person: what happened, where, and the diff.
pub fn describe(report: &CaseReport, color: bool) -> String {
    let mut out = String::new();
    let verb = if report.accepted {
        format!("accepted ({})", report.status.word())
    } else if report.rejected {
        format!("{} (rejected)", report.status.word())
    } else {
        report.status.word().to_string()
    };
    let _ = write!(out, "{verb:<9} {}  {}", report.title(), report.place);
    if let Some(message) = &report.message {
        let _ = write!(out, ": {message}");
    }
    out.push('\n');
    if report.accepted {
        return out;
    }
    match (report.status, &report.old, &report.new) {
        (Status::Changed, Some(old), Some(new)) => {
            out.push_str(&changes_list(&report.changes));
            out.push_str(&unified(old, new, color));
        }
        (Status::New | Status::Invalid, _, Some(new)) => {
            for line in pretty(new).lines() {
                out.push_str(&paint(&format!("  + {line}\n"), '+', color));
            }
        }
        _ => {}
    }
    out
}

fn changes_list(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let _ = writeln!(
            out,
            "  {}: {} → {}",
            change.path,
            show(&change.old),
            show(&change.new)
        );
    }
    out
}

/// A value that may be absent, for a line of text: its JSON, or `(none)`.
pub fn show(value: &Option<Json>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(none)".to_string(), Json::to_string)
}

fn pretty(value: &Json) -> String {
    serde_json::to_string_pretty(value).expect("JSON values serialize")
}

fn unified(old: &Json, new: &Json, color: bool) -> String {
    let (old, new) = (pretty(old) + "\n", pretty(new) + "\n");
    let diff = similar::TextDiff::from_lines(&old, &new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header("snapshot", "now")
        .to_string();
    text.lines()
        .map(|line| {
            let sign = line.chars().next().unwrap_or(' ');
            paint(&format!("  {line}\n"), sign, color)
        })
        .collect()
}

fn paint(line: &str, sign: char, color: bool) -> String {
    match (color, sign) {
        (true, '-') => format!("\x1b[31m{}\x1b[0m\n", line.trim_end_matches('\n')),
        (true, '+') => format!("\x1b[32m{}\x1b[0m\n", line.trim_end_matches('\n')),
        _ => line.to_string(),
    }
}

fn json_report(reports: &[CaseReport]) -> String {
    let cases: Vec<Json> = reports
        .iter()
        .map(|r| {
            let mut case = json!({
                "object": r.object,
                "name": r.name,
                "status": r.status.word(),
                "accepted": r.accepted,
                "place": r.place.to_string(),
                "snapshot": r.snapshot,
            });
            if let Some(message) = &r.message {
                case["message"] = json!(message);
            }
            if !r.changes.is_empty() {
                case["changes"] = r
                    .changes
                    .iter()
                    .map(|c| json!({"path": c.path, "old": c.old, "new": c.new}))
                    .collect();
            }
            if r.status == Status::New {
                case["value"] = r.new.clone().unwrap_or(Json::Null);
            }
            case
        })
        .collect();
    let summary = Summary::of(reports);
    let mut text = pretty(&json!({"summary": summary, "cases": cases}));
    text.push('\n');
    text
}

fn junit(reports: &[CaseReport]) -> String {
    let summary = Summary::of(reports);
    let failures = summary.pending() - summary.invalid + summary.unchecked;
    let errors = summary.failed + summary.invalid;
    let object = reports.first().map_or("snapshots", |r| r.object.as_str());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"scimap snapshot\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        reports.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
        xml(object),
        reports.len()
    );
    for r in reports {
        let name = r.name.clone().unwrap_or_else(|| r.place.to_string());
        let _ = write!(
            out,
            "    <testcase classname=\"scimap.snapshot.{}\" name=\"{}\" file=\"{}\"",
            xml(&r.object),
            xml(&name),
            xml(r.snapshot.as_deref().unwrap_or(&r.place.file))
        );
        let body = xml(&describe(r, false));
        let message = xml(&failure_message(r));
        match r.status {
            _ if r.accepted => out.push_str("/>\n"),
            Status::Passed => out.push_str("/>\n"),
            Status::Failed | Status::Invalid => {
                let _ = writeln!(
                    out,
                    ">\n      <error type=\"{}\" message=\"{message}\">{body}</error>\n    </testcase>",
                    r.status.word()
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    ">\n      <failure type=\"{}\" message=\"{message}\">{body}</failure>\n    </testcase>",
                    r.status.word()
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn failure_message(r: &CaseReport) -> String {
    match (r.status, &r.message) {
        (Status::Changed, _) => {
            let paths: Vec<&str> = r.changes.iter().map(|c| c.path.as_str()).collect();
            format!("the snapshot changed: {}", paths.join(", "))
        }
        (Status::New, _) => "a new case without a snapshot".to_string(),
        (_, Some(message)) => message.clone(),
        (status, None) => status.word().to_string(),
    }
}

/// Text for XML attributes and content; characters XML 1.0 cannot hold become U+FFFD.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || matches!(c, '\u{FFFE}' | '\u{FFFF}') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// GitHub Actions workflow commands: one `::error` per mapping attribute whose values
/// changed (with how many snapshots and an example), one per other difference.
pub fn github_commands(reports: &[CaseReport]) -> String {
    struct Group {
        location: Place,
        attribute: String,
        cases: Vec<String>,
        example: String,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut out = String::new();
    for r in reports
        .iter()
        .filter(|r| r.is_pending() || r.status == Status::Failed)
    {
        for annotation in &r.annotations {
            let Some(attribute) = &annotation.attribute else {
                let title = format!("snapshot {}", r.status.word());
                let message = format!(
                    "{}: {}",
                    r.title(),
                    r.message.clone().unwrap_or_else(|| failure_message(r))
                );
                out.push_str(&command(&annotation.location, &title, &message));
                continue;
            };
            let example = r
                .changes
                .iter()
                .find(|c| &c.path == attribute)
                .map(|c| format!("{}: {} → {}", r.title(), show(&c.old), show(&c.new)))
                .unwrap_or_default();
            match groups
                .iter_mut()
                .find(|g| g.location == annotation.location && &g.attribute == attribute)
            {
                Some(group) => group.cases.push(r.title()),
                None => groups.push(Group {
                    location: annotation.location.clone(),
                    attribute: attribute.clone(),
                    cases: vec![r.title()],
                    example,
                }),
            }
        }
    }
    let mut grouped = String::new();
    for g in groups {
        let title = format!("snapshot changed: {}", g.attribute);
        let count = g.cases.len();
        let message = format!(
            "{} {} changed {}, e.g. {}",
            count,
            if count == 1 { "snapshot" } else { "snapshots" },
            g.attribute,
            g.example
        );
        grouped.push_str(&command(&g.location, &title, &message));
    }
    grouped + &out
}

fn command(location: &Place, title: &str, message: &str) -> String {
    let mut properties = format!("file={}", property(&location.file));
    if let Some(line) = location.line {
        let _ = write!(properties, ",line={line}");
    }
    if let Some(column) = location.column {
        let _ = write!(properties, ",col={column}");
    }
    let _ = write!(properties, ",title={}", property(title));
    format!("::error {properties}::{}\n", data(message))
}

fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("a<b>&\"c'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}"
        );
    }

    #[test]
    fn workflow_commands_escape_their_parts() {
        let place = Place {
            file: "m,a:p.json".into(),
            line: Some(3),
            column: Some(7),
            record: None,
        };
        assert_eq!(
            command(&place, "t: x", "50%\nmore"),
            "::error file=m%2Ca%3Ap.json,line=3,col=7,title=t%3A x::50%25%0Amore\n"
        );
    }
}
