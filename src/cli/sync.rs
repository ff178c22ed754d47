//! `scimap sync`: provisioning cycles from a directory snapshot to a SCIM target, back
//! to back as a daemon, once, or for one object on demand.

use std::collections::HashSet;
use std::io::{BufReader, IsTerminal};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::SignedDuration;
use serde_json::Value as Json;

use super::Outcome;
use crate::records::{self, Format, Position, Raw};
use crate::scim::ObjectKind;
use crate::sync::plan::Assignments;
use crate::sync::source::{Duplicate, Packed, Unreadable};
use crate::sync::state::State;
use crate::sync::{Cycle, Engine, EngineError, Options, QuarantinePolicy, Source};
use crate::sync::{Target, TargetConfig};

/// `scimap sync`: one job from its flags, or a subcommand for jobs shared by workers.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncCommand {
    #[command(subcommand)]
    pub command: Option<Shared>,
    #[command(flatten)]
    pub args: Option<SyncArgs>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Shared {
    /// Store the jobs of a jobs file in PostgreSQL, for workers to run.
    Jobs(super::worker::JobsArgs),
    /// Run the stored jobs: take a due one with a lease, run a cycle, give it back.
    Worker(super::worker::WorkerArgs),
}

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The mapping file; Entra's default SCIM mapping when absent.
    #[arg(long, short, value_name = "FILE")]
    mapping: Option<String>,
    /// The users: NDJSON, a JSON array or a Graph list.
    #[arg(long, value_name = "FILE")]
    users: String,
    /// The groups, with their members' ids.
    #[arg(long, value_name = "FILE")]
    groups: Option<String>,
    /// {"users": [ids], "groups": [ids]}: only these (and the direct members of these
    /// groups) are provisioned. Without it, everything is ("sync all").
    #[arg(long, value_name = "FILE")]
    assignments: Option<String>,
    /// The target's SCIM base URL, such as http://127.0.0.1:8080/scim/v2.
    #[arg(long, value_name = "URL")]
    target: String,
    /// The target's bearer token (better given in SCIMAP_TARGET_TOKEN: a command line
    /// is visible to other users of the machine).
    #[arg(
        long,
        env = "SCIMAP_TARGET_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: String,
    /// Where the sync remembers links, last exports, escrow and cycles (SQLite).
    #[arg(long, default_value = "scimap-sync.db", value_name = "PATH")]
    state: String,
    /// The PATCH shape: Entra's legacy one or aadOptscim062020's (RFC).
    #[arg(long, value_enum, default_value_t = super::Style::Rfc)]
    patch_style: super::Style,
    /// Run one cycle and exit (without it, cycles run back to back every --interval).
    #[arg(long, conflicts_with = "only")]
    once: bool,
    /// The time between the start of two cycles, such as 40m, 90s or 1h.
    #[arg(long, default_value = "40m", value_parser = super::positive_duration)]
    interval: SignedDuration,
    /// Provision one user or group (and a group's first 5 members) now, whether it
    /// changed or not, and print each step.
    #[arg(long, value_name = "ID")]
    only: Option<String>,
    /// Print the write requests a cycle would send, one JSON line each, and send none
    /// (reads for matching still go out); the state is left as it was. Implies --once.
    #[arg(long)]
    dry_run: bool,
    /// Leave objects that go out of scope as they are (Entra's SkipOutOfScopeDeletions).
    #[arg(long)]
    skip_out_of_scope_deletions: bool,
    /// Stage, and send nothing, when a cycle would disable or delete more than N objects
    /// (Entra's accidental deletions prevention); `off` for no limit.
    #[arg(long, value_name = "N|off", default_value = "500", value_parser = parse_threshold)]
    deletion_threshold: Threshold,
    /// Send the disables and deletes that passed the deletion threshold.
    #[arg(long)]
    allow_deletes: bool,
    /// Quarantine the job once this many objects failed in a cycle and more than
    /// --quarantine-ratio of them did (Entra: 5000).
    #[arg(long, default_value_t = QuarantinePolicy::default().start, value_name = "N")]
    quarantine_after: usize,
    /// The share of failed objects that quarantines the job (Entra: 0.4).
    #[arg(long, default_value_t = QuarantinePolicy::default().ratio, value_name = "RATIO", value_parser = parse_ratio)]
    quarantine_ratio: f64,
    /// Clear escrow and quarantine before the cycle (links are kept), as Entra's
    /// "restart provisioning" does.
    #[arg(long)]
    restart: bool,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    concurrency: usize,
    /// Requests started per second at most.
    #[arg(long, value_name = "N")]
    rate: Option<u32>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// Attempts after the first for a target that is busy, failing or slow.
    #[arg(long, default_value_t = 4, value_name = "N")]
    retries: u32,
}

/// A deletion threshold, or none.
#[derive(Debug, Clone, Copy)]
struct Threshold(Option<usize>);

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    match text {
        "off" => Ok(Threshold(None)),
        n => n
            .parse()
            .map(|n| Threshold(Some(n)))
            .map_err(|_| format!("`{text}` is neither a number of objects nor `off`")),
    }
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("`{text}` is not a ratio between 0 and 1")),
    }
}

/// The snapshot a cycle reads: files read again before each cycle, their records kept
/// packed as text so that a million users fit in memory.
pub(super) struct Snapshot {
    users: Read,
    groups: Read,
    assignments: Assignments,
    /// Records that could not be read, logged as failures by the cycle.
    unreadable: Vec<Unreadable>,
}

/// A snapshot file's records, with where each one is.
#[derive(Default)]
struct Read {
    path: String,
    records: Packed,
    /// Each record's place in the file, for the message naming two with one id: its
    /// number among the file's records and its line (0 when the layout has none), in
    /// 8 bytes rather than a `Position`'s 24.
    positions: Vec<(u32, u32)>,
}

impl Read {
    fn place(&self, i: usize) -> String {
        let (index, line) = self.positions[i];
        let position = Position {
            index: index as usize,
            line: (line > 0).then_some(line as usize),
        };
        format!("{}: {position}", self.path)
    }
}

impl Snapshot {
    /// Reads the files; a file that cannot be read to its end is an error, and nothing
    /// is sent.
    pub(super) fn read(
        users: &str,
        groups: Option<&str>,
        assigned: Option<&str>,
    ) -> Result<Snapshot, String> {
        let mut unreadable = Vec::new();
        let users = records_of(users, ObjectKind::User, &mut unreadable)?;
        let groups = match groups {
            Some(path) => records_of(path, ObjectKind::Group, &mut unreadable)?,
            None => Read::default(),
        };
        Ok(Snapshot {
            assignments: assigned
                .map(assignments)
                .transpose()?
                .unwrap_or(Assignments::All),
            unreadable,
            users,
            groups,
        })
    }

    pub(super) fn source(&self) -> Source<'_> {
        Source {
            unreadable: &self.unreadable,
            ..Source::packed(&self.users.records, &self.groups.records, &self.assignments)
        }
    }

    /// Two records with one id, named by their places in the files.
    pub(super) fn twice(&self, twice: &Duplicate) -> String {
        let read = match twice.kind {
            ObjectKind::Group => &self.groups,
            ObjectKind::User => &self.users,
        };
        format!(
            "{} `{}` is in the snapshot twice: {} and {}; nothing was sent",
            twice.kind,
            twice.id,
            read.place(twice.first),
            read.place(twice.second)
        )
    }
}

/// Every record of a snapshot file; a record that cannot be read is set aside for the
/// log, and a file that cannot be read to its end stops the sync before it starts.
fn records_of(
    path: &str,
    kind: ObjectKind,
    unreadable: &mut Vec<Unreadable>,
) -> Result<Read, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut read = Read {
        path: path.to_string(),
        ..Read::default()
    };
    records::read(
        BufReader::new(file),
        Format::Auto,
        &mut |position, record| {
            let packed = match record {
                Ok(Raw::Parsed(value)) => read.records.push(&value),
                Ok(Raw::Line(line)) => read.records.push_text(line),
                Err(e) => Err(e),
            };
            match packed {
                Ok(()) => read.positions.push((
                    u32::try_from(position.index).unwrap_or(u32::MAX),
                    position
                        .line
                        .map_or(0, |l| u32::try_from(l).unwrap_or(u32::MAX)),
                )),
                Err(reason) => unreadable.push(Unreadable {
                    kind,
                    place: format!("{path}: {position}"),
                    reason,
                }),
            }
        },
    )
    .map_err(|e| format!("{path}: {e}"))?;
    Ok(read)
}

/// `{"users": [ids], "groups": [ids]}`.
fn assignments(path: &str) -> Result<Assignments, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value: Json =
        serde_json::from_str(&text).map_err(|e| format!("{path}: invalid JSON: {e}"))?;
    let ids = |key: &str| -> Result<HashSet<String>, String> {
        match value.get(key) {
            None => Ok(HashSet::new()),
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{path}: /{key}/{i}: an id must be a string"))
                })
                .collect(),
            Some(_) => Err(format!("{path}: /{key}: must be an array of ids")),
        }
    };
    Ok(Assignments::Assigned {
        users: ids("users")?,
        groups: ids("groups")?,
    })
}

pub(super) fn fail(message: impl std::fmt::Display) -> Outcome {
    eprintln!("error: {message}");
    Outcome::InputError
}

pub fn sync(args: SyncArgs, color: bool) -> Outcome {
    let mapping = match super::mappings::load(args.mapping.as_deref(), color) {
        Ok(mapping) => mapping,
        Err(outcome) => return outcome,
    };
    let apps: Vec<String> = mapping
        .objects()
        .iter()
        .filter(|o| o.enabled && o.target.scim().is_none())
        .map(|o| format!("`{}` ({})", o.name, o.target))
        .collect();
    if !apps.is_empty() {
        eprintln!(
            "error: scimap sync provisions into SCIM endpoints, and {} targets an app that is not SCIM\n  = help: `scimap apply` shows what such a mapping makes; disable those object mappings to sync the rest",
            apps.join(", ")
        );
        return Outcome::CheckError;
    }
    // Read before anything else so that a file that cannot be read stops us with the
    // state untouched.
    let snapshot = match Snapshot::read(
        &args.users,
        args.groups.as_deref(),
        args.assignments.as_deref(),
    ) {
        Ok(snapshot) => snapshot,
        Err(e) => return fail(e),
    };
    let state = match State::open(std::path::Path::new(&args.state)) {
        Ok(state) => {
            if let Some(before) = state.fingerprints_migrated_from() {
                eprintln!(
                    "note: {} holds fingerprints made with {before}; they are now made with {}, so the next cycle evaluates every linked object once again and sends only what differs from what was last exported",
                    args.state,
                    crate::sync::plan::FINGERPRINT
                );
            }
            if args.dry_run {
                state.copy_in_memory()
            } else {
                Ok(state)
            }
        }
        Err(e) => Err(e),
    };
    let state = match state {
        Ok(state) => state,
        Err(e) => return fail(e),
    };
    if args.restart {
        if let Err(e) = state.restart() {
            return fail(e);
        }
    }
    let mut config = TargetConfig::new(&args.target, &args.token);
    config.concurrency = args.concurrency.max(1);
    config.rate_per_second = args.rate;
    config.timeout = Duration::from_secs(args.timeout.max(1));
    config.retries = args.retries;
    let target = match Target::new(config) {
        Ok(target) => target,
        Err(e) => return fail(e),
    };
    let options = Options {
        skip_out_of_scope_deletions: args.skip_out_of_scope_deletions,
        deletion_threshold: args.deletion_threshold.0,
        allow_deletes: args.allow_deletes,
        quarantine: QuarantinePolicy {
            start: args.quarantine_after,
            ratio: args.quarantine_ratio,
            ..QuarantinePolicy::default()
        },
        concurrency: args.concurrency.max(1) * 2,
    };
    let bar = Bar::default();
    let mut engine = Engine::builder(mapping, state, target)
        .style(args.patch_style.into())
        .dry_run(args.dry_run)
        .options(options)
        .progress(show_progress(bar.clone()));
    // A dry run prints its requests first, then the log; on demand prints a report.
    if !args.dry_run && args.only.is_none() {
        engine = engine.on_log(stream_logs(bar.clone()));
    }
    let engine = engine.build();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    runtime.block_on(run(engine, bar, args, snapshot))
}

async fn run(engine: Engine, bar: Bar, args: SyncArgs, mut snapshot: Snapshot) -> Outcome {
    if let Some(id) = &args.only {
        let cycle = engine.provision_on_demand(snapshot.source(), id).await;
        if let Err(EngineError::Duplicate(twice)) = &cycle {
            return fail(snapshot.twice(twice));
        }
        return finish(cycle, true);
    }
    let daemon = !(args.once || args.dry_run);
    if daemon {
        eprintln!(
            "sync: a cycle every {}; Ctrl-C stops after the current cycle",
            args.interval
        );
    }
    let mut started = tokio::time::Instant::now();
    let first = one_cycle(&engine, &bar, &snapshot).await;
    if let Err(EngineError::Duplicate(twice)) = &first {
        return fail(snapshot.twice(twice));
    }
    if !daemon {
        // A dry run prints its requests first, then the log.
        return finish(first, false);
    }
    let interval = Duration::from_secs(args.interval.as_secs().max(1) as u64);
    let mut cycle = Some(first);
    loop {
        match cycle {
            // A target down for a while is tried again at the next cycle, as Entra does.
            Some(Err(EngineError::Connection(e))) => {
                eprintln!("error: the target failed the connection test: {e}; nothing was sent")
            }
            Some(Err(EngineError::Duplicate(twice))) => {
                eprintln!("error: {}; the cycle is skipped", snapshot.twice(&twice))
            }
            Some(cycle) => match finish(cycle, false) {
                Outcome::Stopped if !matches!(engine.state().quarantine(), Ok(Some(_))) => {
                    return Outcome::Stopped
                }
                Outcome::InputError => return Outcome::InputError,
                _ => {}
            },
            None => {}
        }
        // A quarantined job runs once a day, as Entra's does.
        let wait = match engine.state().quarantine() {
            Ok(Some(_)) => Duration::from_secs(24 * 3600),
            _ => interval,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(started + wait) => {}
            _ = tokio::signal::ctrl_c() => return Outcome::Ok,
        }
        started = tokio::time::Instant::now();
        cycle = match Snapshot::read(
            &args.users,
            args.groups.as_deref(),
            args.assignments.as_deref(),
        ) {
            Ok(read) => {
                snapshot = read;
                Some(one_cycle(&engine, &bar, &snapshot).await)
            }
            Err(e) => {
                eprintln!("error: {e}; the cycle is skipped");
                None
            }
        };
    }
}

/// The progress bar of the cycle under way, when standard error is a terminal.
type Bar = Arc<Mutex<Option<indicatif::ProgressBar>>>;

/// A cycle with a progress bar on a terminal.
async fn one_cycle(engine: &Engine, bar: &Bar, snapshot: &Snapshot) -> Result<Cycle, EngineError> {
    *lock(bar) = progress_bar();
    let cycle = engine.cycle(snapshot.source()).await;
    if let Some(bar) = lock(bar).take() {
        bar.finish_and_clear();
    }
    cycle
}

fn lock(bar: &Bar) -> std::sync::MutexGuard<'_, Option<indicatif::ProgressBar>> {
    bar.lock().unwrap_or_else(|p| p.into_inner())
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} objects {per_sec} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}

fn show_progress(bar: Bar) -> crate::sync::Progress {
    Box::new(move |done, total| {
        if let Some(bar) = lock(&bar).as_ref() {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })
}

/// Log lines printed as objects finish (above the progress bar, if there is one).
fn stream_logs(bar: Bar) -> crate::sync::LogSink {
    Box::new(move |log| {
        let line = format!("{}\n", serde_json::to_string(log).expect("logs serialize"));
        match lock(&bar).as_ref() {
            Some(bar) => bar.suspend(|| super::say(&line)),
            None => super::say(&line),
        }
    })
}

/// Prints a cycle's logs (or on-demand report) and summary; the exit code.
fn finish(cycle: Result<Cycle, EngineError>, report: bool) -> Outcome {
    let cycle = match cycle {
        Ok(cycle) => cycle,
        Err(e @ EngineError::Disabled { .. }) => {
            eprintln!("error: {e}");
            return Outcome::Stopped;
        }
        // The state can fail in the middle of a cycle, after requests went out.
        Err(e @ EngineError::State(_)) => {
            return fail(format!(
                "{e}; the cycle stopped there (requests sent before it stand)"
            ))
        }
        Err(e) => return fail(format!("{e}; nothing was sent")),
    };
    for request in &cycle.would_send {
        super::say(&format!("{request}\n"));
    }
    for log in &cycle.logs {
        let line = if report {
            crate::sync::log::report(log)
        } else {
            format!("{}\n", serde_json::to_string(log).expect("logs serialize"))
        };
        super::say(&line);
    }
    for note in &cycle.notes {
        eprintln!("note: {note}");
    }
    eprintln!("{}", summary_line(&cycle));
    match &cycle.stop {
        Some(stop) => {
            eprintln!("stopped: {stop}");
            Outcome::Stopped
        }
        None if cycle.summary.failed > 0 => Outcome::EvalError,
        None => Outcome::Ok,
    }
}

/// "cycle 3: 2 created, …", with the counts that are not zero past the usual ones.
pub(super) fn summary_line(cycle: &Cycle) -> String {
    let s = &cycle.summary;
    let mut line = format!(
        "cycle {}: {} created, {} updated, {} disabled, {} deleted, {} skipped, {} failed",
        cycle.id, s.created, s.updated, s.disabled, s.deleted, s.skipped, s.failed
    );
    for (count, what) in [
        (s.warnings, "warnings"),
        (s.staged, "staged"),
        (s.not_run, "not run"),
    ] {
        if count > 0 {
            line.push_str(&format!(", {count} {what}"));
        }
    }
    line
}
