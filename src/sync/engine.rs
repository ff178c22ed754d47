//! Running a cycle: each planned action sent to the target as Entra sends it, several
//! objects at once, the state updated after each success, each failure put in escrow,
//! one log record per object and action; the job stopped by the deletion threshold or
//! quarantined when most calls fail.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{json, Value as Json};

use super::log::{modified, ErrorInfo, LogRecord, Step};
use super::plan::{
    fingerprint, member_ids, plan, Action, Assignments, Linked, PlanOptions, Planned,
    PENDING_REASON,
};
use super::source::{self as snapshot, Checked, Duplicate, Packed, Problem, Records, Unreadable};
use super::state::{Escrow, Link, Quarantine, State, StateError};
use super::target::{Target, TargetError};
use crate::mapping::{ApplyOptions, Mapping, ObjectMapping, Phase};
use crate::scim::{apply_patch, patch as diff, PatchStyle};
use crate::{Context, ExistingSet, ExistingValues};

/// Disables and deletes one cycle may send before it stops (Entra's default for
/// accidental deletions prevention).
pub const DELETION_THRESHOLD: usize = 500;

/// Member values sent in one group PATCH at most; larger membership changes are split.
pub const MEMBER_BATCH: usize = 500;

/// How long a job may stay quarantined before it is disabled (Entra: four weeks).
const QUARANTINE_LIMIT: SignedDuration = SignedDuration::from_hours(28 * 24);

/// What a cycle did, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleSummary {
    pub created: usize,
    pub updated: usize,
    pub disabled: usize,
    pub deleted: usize,
    /// Nothing to send, or waiting in escrow.
    pub skipped: usize,
    /// Disables and deletes held back by the deletion threshold.
    pub staged: usize,
    pub failed: usize,
    /// Problems of the snapshot worked around (self-references, membership cycles).
    pub warnings: usize,
    /// Planned but not attempted, because the cycle stopped.
    pub not_run: usize,
}

/// When the job quarantines itself (Entra's `EncounteredEscrowProportionThreshold`):
/// once `start` objects failed in a cycle, if more than `ratio` of the attempted
/// ones failed or more than `max` did; or at `cap` failures counting references.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuarantinePolicy {
    pub start: usize,
    pub ratio: f64,
    pub max: usize,
    pub cap: usize,
}

impl Default for QuarantinePolicy {
    fn default() -> QuarantinePolicy {
        QuarantinePolicy {
            start: 5_000,
            ratio: 0.4,
            max: 40_000,
            cap: 60_000,
        }
    }
}

impl QuarantinePolicy {
    pub fn exceeded(&self, failed: usize, reference_failed: usize, attempted: usize) -> bool {
        failed + reference_failed >= self.cap
            || (failed >= self.start
                && (failed as f64 > self.ratio * attempted as f64 || failed > self.max))
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Entra's `SkipOutOfScopeDeletions`: objects leaving scope are left as they are.
    pub skip_out_of_scope_deletions: bool,
    /// Disables and deletes allowed in one cycle; past it they are staged.
    pub deletion_threshold: Option<usize>,
    /// Send the disables and deletes even past the threshold.
    pub allow_deletes: bool,
    pub quarantine: QuarantinePolicy,
    /// Objects worked on at once (requests in flight are limited by the target).
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            skip_out_of_scope_deletions: false,
            deletion_threshold: Some(DELETION_THRESHOLD),
            allow_deletes: false,
            quarantine: QuarantinePolicy::default(),
            concurrency: 16,
        }
    }
}

/// The source of a cycle: a directory snapshot and who is assigned.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub users: Records<'a>,
    pub groups: Records<'a>,
    pub assignments: &'a Assignments,
    /// Records the snapshot files held that could not be read: each is logged as a
    /// failure, and while there are any, nothing is deleted for being absent from the
    /// snapshot (the absent object may be one of them).
    pub unreadable: &'a [Unreadable],
}

impl<'a> Source<'a> {
    pub fn new(users: &'a [Json], groups: &'a [Json], assignments: &'a Assignments) -> Source<'a> {
        Source {
            users: users.into(),
            groups: groups.into(),
            assignments,
            unreadable: &[],
        }
    }

    /// A snapshot whose records are kept as their text, each parsed when a step needs
    /// it: for snapshots too large to hold parsed.
    pub fn packed(
        users: &'a Packed,
        groups: &'a Packed,
        assignments: &'a Assignments,
    ) -> Source<'a> {
        Source {
            users: users.into(),
            groups: groups.into(),
            assignments,
            unreadable: &[],
        }
    }
}

/// Why a cycle stopped before it was done.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Stop {
    /// More disables and deletes than the threshold: staged, nothing sent. `why` counts
    /// them by reason (`312 not assigned`).
    DeletionThreshold {
        staged: usize,
        threshold: usize,
        why: String,
    },
    /// The snapshot holds no object of a kind of which some are linked: a truncated
    /// export looks like this. Nothing sent.
    EmptySource { kind: &'static str, linked: usize },
    /// None of the ids the assignments name is in the snapshot (the wrong file, most
    /// likely), or they name nobody while objects are linked. Nothing sent.
    UnknownAssignments { ids: usize },
    /// Most calls failed, or the target refused the token mid-cycle.
    Quarantined(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::DeletionThreshold {
                staged,
                threshold,
                why,
            } => write!(
                f,
                "{staged} disables and deletes ({why}) exceed the deletion threshold of {threshold}: \
                 staged and nothing sent; check the source, then run again with --allow-deletes"
            ),
            Stop::EmptySource { kind, linked } => write!(
                f,
                "the snapshot has no {}s, and {linked} are linked: a truncated export looks like this, \
                 so nothing was disabled, deleted or sent; run again with --allow-deletes if they are really gone",
                kind.to_lowercase()
            ),
            Stop::UnknownAssignments { ids: 0 } => write!(
                f,
                "the assignments name nobody, and objects are linked: nothing was sent, nobody \
                 disabled; check the assignments file"
            ),
            Stop::UnknownAssignments { ids } => write!(
                f,
                "none of the {ids} ids the assignments name is in the snapshot: nothing was sent; \
                 check that the assignments belong to this snapshot"
            ),
            Stop::Quarantined(reason) => write!(f, "the job is quarantined: {reason}"),
        }
    }
}

/// One cycle's outcome.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub id: i64,
    pub summary: CycleSummary,
    /// In the order of the plan (users, then groups, each by source id, references
    /// last); empty when [`Engine::on_log`] took them.
    pub logs: Vec<LogRecord>,
    pub stop: Option<Stop>,
    /// What the cycle has to say about the job as a whole (a target without usable
    /// `/Schemas`, assignments naming unknown ids).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error("{0}")]
    State(#[from] StateError),
    /// The connection test before the cycle failed: nothing was sent.
    #[error("the target failed the connection test: {0}")]
    Connection(TargetError),
    #[error(
        "the job is disabled: quarantined since {since} ({reason}); fix the cause, then --restart"
    )]
    Disabled { since: Timestamp, reason: String },
    #[error("no user or group has the id `{0}` in the snapshot or the state")]
    UnknownObject(String),
    /// Two records with one id: nothing was sent.
    #[error("{0}")]
    Duplicate(#[from] Duplicate),
}

/// The record of a planned object, parsed when it is packed.
type RecordOf<'a> = dyn Fn(&Planned) -> Option<Cow<'a, Json>> + Sync + 'a;

/// Takes each log record as its object finishes.
pub type LogSink = Box<dyn Fn(&LogRecord) + Send + Sync>;

/// Told (objects done, objects planned) as a cycle goes.
pub type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

pub struct Engine {
    pub mapping: Mapping,
    pub state: State,
    pub target: Target,
    pub style: PatchStyle,
    pub options: Options,
    /// Send no write request: record each, for [`Engine::would_send`], and answer it
    /// as a target would (reads, for matching, still go to the target). Give the
    /// engine a copy of the state.
    pub dry_run: bool,
    /// Called with (objects done, objects planned) as a cycle goes.
    pub progress: Option<Progress>,
    /// When set, each log record is given to it as its object finishes (in the order
    /// objects finish) instead of being kept in [`Cycle::logs`], which stays empty: a
    /// long cycle is logged as it goes, in constant memory.
    pub on_log: Option<LogSink>,
    would_send: Mutex<Vec<Json>>,
    /// Every linked object, both ways, for references and for matches.
    links: RwLock<LinkIndex>,
    /// The objects in escrow when the cycle began.
    escrowed: RwLock<HashMap<(&'static str, String), Escrow>>,
    /// The attributes the target requires of each kind, read from its `/Schemas`.
    required: RwLock<Required>,
    /// What the cycle under way has to say about the job as a whole.
    notes: Mutex<Vec<String>>,
}

/// What a target requires of a resource before it creates it.
#[derive(Debug, Clone)]
struct Required {
    users: Vec<String>,
    groups: Vec<String>,
}

impl Default for Required {
    /// SCIM's own: `userName`; and the `displayName` every Entra group has, which
    /// groups are matched by.
    fn default() -> Required {
        Required {
            users: vec!["userName".into()],
            groups: vec!["displayName".into()],
        }
    }
}

impl Required {
    /// The attributes `/Schemas` marks required in the User and Group schemas and
    /// their extensions (extension ones as `urn:…:name`), beside the defaults;
    /// `None` when the answer is not a list of schemas.
    fn from_schemas(body: &Json) -> Option<Required> {
        let schemas = match body {
            Json::Array(items) => items,
            other => other.get("Resources")?.as_array()?,
        };
        let mut required = Required::default();
        for schema in schemas {
            let id = schema.get("id")?.as_str()?;
            let kind = match id {
                crate::scim::schema::USER => None,
                crate::scim::schema::GROUP => Some(true),
                _ if id.ends_with(":User") => Some(false),
                _ => continue,
            };
            let list = match kind {
                Some(true) => &mut required.groups,
                _ => &mut required.users,
            };
            for attribute in schema.get("attributes")?.as_array()? {
                let name = attribute.get("name")?.as_str()?;
                let wanted = attribute.get("required").and_then(Json::as_bool) == Some(true);
                let assigned = matches!(name, "id" | "meta" | "schemas");
                let name = match kind {
                    Some(false) => format!("{id}:{name}"),
                    _ => name.to_string(),
                };
                if wanted && !assigned && !list.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                    list.push(name);
                }
            }
        }
        Some(required)
    }

    /// Those of `kind`'s required attributes that `resource` has no value for.
    fn missing(&self, kind: &str, resource: &Json) -> Vec<String> {
        let names = if kind == "Group" {
            &self.groups
        } else {
            &self.users
        };
        names
            .iter()
            .filter(|name| {
                let (holder, key) = match name.rsplit_once(':') {
                    Some((urn, key)) => (resource.get(urn), key),
                    None => (Some(resource), name.as_str()),
                };
                let value = holder.and_then(|holder| crate::json::field(holder, key));
                matches!(value, None | Some(Json::Null)) || value == Some(&json!(""))
            })
            .cloned()
            .collect()
    }
}

/// The links made so far: source id → target id, and back, so that one target object
/// is never linked to two source objects.
/// Each id is kept once, shared by both directions: a million links stay small.
#[derive(Default)]
struct LinkIndex {
    targets: HashMap<Arc<str>, Arc<str>>,
    sources: HashMap<Arc<str>, Arc<str>>,
}

impl LinkIndex {
    /// The links so far, with room for `room` in all: growing a map of a million
    /// links would hold the old table and the new one at once.
    fn new(links: impl Iterator<Item = (Arc<str>, Arc<str>)>, room: usize) -> LinkIndex {
        let mut index = LinkIndex {
            targets: HashMap::with_capacity(room),
            sources: HashMap::with_capacity(room),
        };
        for (source, target) in links {
            index.insert(source, target);
        }
        index
    }

    fn insert(&mut self, source: Arc<str>, target: Arc<str>) {
        self.sources.insert(target.clone(), source.clone());
        self.targets.insert(source, target);
    }

    /// Links `source` to `target`, unless another source object holds `target`: then
    /// that object's id.
    fn claim(&mut self, source: &Arc<str>, target: &str) -> Result<(), String> {
        match self.sources.get(target) {
            Some(other) if **other != **source => Err(other.to_string()),
            _ => {
                self.remove(source);
                self.insert(source.clone(), target.into());
                Ok(())
            }
        }
    }

    fn remove(&mut self, source: &str) {
        if let Some(target) = self.targets.remove(source) {
            self.sources.remove(&target);
        }
    }
}

/// References resolved through the links made so far.
struct Links<'e>(&'e RwLock<LinkIndex>);

impl crate::mapping::References for Links<'_> {
    fn target_id(&self, source_id: &str) -> Option<String> {
        read(self.0).targets.get(source_id).map(|t| t.to_string())
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn endpoint(kind: &str) -> &'static str {
    if kind == "Group" {
        "/Groups"
    } else {
        "/Users"
    }
}

/// Why an object's action failed.
enum Failure {
    Target(TargetError),
    State(StateError),
    Mapping(&'static str, String),
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        Failure::State(e)
    }
}

impl From<TargetError> for Failure {
    fn from(e: TargetError) -> Failure {
        Failure::Target(e)
    }
}

/// A record under way: the steps so far, what changed, where it failed.
struct Trace {
    log: LogRecord,
    current: &'static str,
    /// References that could not be resolved yet.
    pending: bool,
    started: Instant,
}

impl Trace {
    fn step(&mut self, name: &'static str, detail: impl Into<String>) {
        self.log.steps.push(Step {
            name,
            status: "Success",
            detail: detail.into(),
        });
    }

    fn at(&mut self, name: &'static str) {
        self.current = name;
    }

    fn finish(mut self, status: &'static str) -> (LogRecord, bool) {
        self.log.status = status;
        self.log.duration_ms = self.started.elapsed().as_millis() as u64;
        (self.log, self.pending)
    }
}

/// What the mapping makes of a record, and the PATCH from what was exported.
struct Evaluated {
    resource: Json,
    patch: Option<Json>,
    pending: bool,
}

/// Whether a value a target returned is the value searched for: exactly for `id` and
/// `externalId` (case-exact in RFC 7643), ignoring case otherwise, as Entra compares
/// `userName`.
fn same_value(attribute: &crate::mapping::TargetAttribute, found: &str, wanted: &str) -> bool {
    match attribute.attribute.as_str() {
        "id" | "externalId" if attribute.sub.is_none() => found == wanted,
        _ => found.to_lowercase() == wanted.to_lowercase(),
    }
}

/// Answers every candidate as taken, recording it: the candidates `SelectUniqueValue`
/// would try, to be looked up in the target.
#[derive(Default)]
struct Probe(Mutex<Vec<String>>);

impl ExistingValues for Probe {
    fn contains(&self, value: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(value.to_string());
        true
    }
}

struct Counters {
    total: usize,
    done: AtomicUsize,
    attempted: AtomicUsize,
    failed: AtomicUsize,
    reference_failed: AtomicUsize,
    stop: Mutex<Option<Stop>>,
    summary: Mutex<CycleSummary>,
}

impl Engine {
    pub fn new(mapping: Mapping, state: State, target: Target) -> Engine {
        Engine {
            mapping,
            state,
            target,
            style: PatchStyle::Rfc,
            options: Options::default(),
            dry_run: false,
            progress: None,
            on_log: None,
            would_send: Mutex::default(),
            links: RwLock::default(),
            escrowed: RwLock::default(),
            required: RwLock::default(),
            notes: Mutex::default(),
        }
    }

    /// The write requests a dry run would have sent (`method`, `path`, `body`), taken.
    pub fn would_send(&self) -> Vec<Json> {
        std::mem::take(&mut self.would_send.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs one cycle over a snapshot: users first, then groups (so that members exist).
    pub async fn cycle(&self, source: Source<'_>) -> Result<Cycle, EngineError> {
        let options = PlanOptions {
            skip_out_of_scope_deletions: self.options.skip_out_of_scope_deletions,
            ..PlanOptions::default()
        };
        let checked = snapshot::check(source.users, source.groups)?;
        self.run_cycle(source, &checked, options).await
    }

    /// Provisions one object on demand, whether it changed or not; for a group, its
    /// first five members too (as Entra does).
    pub async fn provision_on_demand(
        &self,
        source: Source<'_>,
        id: &str,
    ) -> Result<Cycle, EngineError> {
        let checked = snapshot::check(source.users, source.groups)?;
        let mut only = HashSet::from([id.to_string()]);
        if let Some(i) = checked.position("Group", id) {
            only.extend(
                member_ids(&checked.record("Group", i).1)
                    .take(5)
                    .map(str::to_string),
            );
        }
        let known = checked.position("User", id).is_some()
            || checked.position("Group", id).is_some()
            || self.state.link("User", id)?.is_some()
            || self.state.link("Group", id)?.is_some();
        if !known {
            return Err(EngineError::UnknownObject(id.to_string()));
        }
        let options = PlanOptions {
            skip_out_of_scope_deletions: self.options.skip_out_of_scope_deletions,
            only: Some(only),
            ..PlanOptions::default()
        };
        self.run_cycle(source, &checked, options).await
    }

    async fn run_cycle(
        &self,
        source: Source<'_>,
        checked: &Checked<'_>,
        options: PlanOptions,
    ) -> Result<Cycle, EngineError> {
        let now = Timestamp::now();
        if let Some(q) = self.state.quarantine()? {
            if now.duration_since(q.since) > QUARANTINE_LIMIT {
                return Err(EngineError::Disabled {
                    since: q.since,
                    reason: q.reason,
                });
            }
        }
        self.test_connection().await?;
        let on_demand = options.only.is_some();
        let linked = Linked::load(&self.state, checked)?;
        let missing_ids = checked.problems.iter().any(|p| p.source_id.is_none());
        let options = PlanOptions {
            keep_absent: !source.unreadable.is_empty() || missing_ids,
            ..options
        };
        let planned = plan(
            checked,
            source.assignments,
            &self.mapping,
            &linked,
            &options,
        );
        let stop = self.safety_stop(&planned, checked, &linked, source.assignments);
        let creates = planned
            .iter()
            .filter(|p| p.action == Action::Create)
            .count();
        let room = linked.count("User") + linked.count("Group") + creates;
        *write(&self.links) = LinkIndex::new(linked.into_target_ids(), room);
        self.load_escrow()?;
        let id = self.state.begin_cycle(now)?;
        let record = |p: &Planned| p.record.map(|i| checked.record(p.kind, i).1);
        let counters = Counters {
            total: planned.len(),
            done: AtomicUsize::new(0),
            attempted: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            reference_failed: AtomicUsize::new(0),
            stop: Mutex::new(None),
            summary: Mutex::default(),
        };
        let mut logs = self.report_source(id, &checked.problems, source.unreadable, &counters);
        logs.extend(match stop {
            Some(stop) => {
                let staged = self.stage(id, &planned, &record, &counters, &stop);
                *counters.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
                staged
            }
            None => {
                let mut logs = Vec::new();
                for kind in ["User", "Group"] {
                    let steps: Vec<&Planned> = planned.iter().filter(|p| p.kind == kind).collect();
                    logs.extend(
                        self.run_kind(id, &steps, &record, &counters, on_demand)
                            .await?,
                    );
                }
                logs
            }
        });
        let mut summary = counters
            .summary
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        let stop = counters
            .stop
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        summary.not_run = match &stop {
            Some(
                Stop::DeletionThreshold { .. }
                | Stop::EmptySource { .. }
                | Stop::UnknownAssignments { .. },
            ) => planned.len() - summary.staged,
            _ => planned.len() - counters.done.into_inner(),
        };
        self.settle_quarantine(&stop, &summary)?;
        let mut record = serde_json::to_value(&summary).unwrap_or(Json::Null);
        if let Some(stop) = &stop {
            record["stopped"] = json!(stop.to_string());
        }
        self.state.finish_cycle(id, Timestamp::now(), &record)?;
        Ok(Cycle {
            id,
            summary,
            logs,
            stop,
            notes: std::mem::take(&mut *self.notes.lock().unwrap_or_else(|p| p.into_inner())),
        })
    }

    /// The snapshot's problems, one log record each: records that could not be read
    /// fail; self-references dropped and membership cycles are warnings.
    fn report_source(
        &self,
        cycle: i64,
        problems: &[Problem],
        unreadable: &[Unreadable],
        counters: &Counters,
    ) -> Vec<LogRecord> {
        let unreadable = unreadable.iter().map(|u| Problem {
            code: "SourceRecordInvalid",
            kind: u.kind,
            source_id: None,
            detail: format!("{}: {}", u.place, u.reason),
        });
        let mut logs = Vec::new();
        for problem in unreadable.chain(problems.iter().cloned()) {
            let status = match problem.source_id {
                None => "Failure",
                Some(_) => "Warning",
            };
            let mut detail = problem.detail.clone();
            if problem.source_id.is_none() {
                detail
                    .push_str("; objects missing from the snapshot are not deleted in this cycle");
            }
            let log = LogRecord {
                cycle_id: cycle,
                timestamp: Timestamp::now().to_string(),
                action: "Other",
                status,
                kind: problem.kind,
                source_id: problem.source_id.clone().unwrap_or_default(),
                display_name: None,
                target_id: None,
                reason: detail.clone(),
                steps: vec![Step {
                    name: "import",
                    status,
                    detail: detail.clone(),
                }],
                modified_properties: Vec::new(),
                requests: Vec::new(),
                error: Some(ErrorInfo::new(problem.code, detail)),
                duration_ms: 0,
            };
            logs.extend(self.publish(counters, log));
        }
        logs
    }

    /// The escrow entries as the cycle begins.
    fn load_escrow(&self) -> Result<(), StateError> {
        *write(&self.escrowed) = self
            .state
            .escrows()?
            .into_iter()
            .filter_map(|e| {
                let kind = ["User", "Group"].into_iter().find(|k| *k == e.kind)?;
                Some(((kind, e.source_id.clone()), e))
            })
            .collect();
        Ok(())
    }

    /// The disables and deletes held back by the deletion threshold, logged.
    fn stage(
        &self,
        cycle: i64,
        planned: &[Planned],
        record: &RecordOf<'_>,
        counters: &Counters,
        stop: &Stop,
    ) -> Vec<LogRecord> {
        planned
            .iter()
            .filter(|p| matches!(p.action, Action::Disable | Action::Delete))
            .filter_map(|p| {
                let mut trace = self.trace(cycle, p, record(p).as_deref());
                trace.log.action = "StagedDelete";
                trace.step("provision", format!("staged: {stop}"));
                self.finished(counters, trace.finish("Skipped").0, false, false)
            })
            .collect()
    }

    /// The steps of one kind, then the references they left to resolve.
    async fn run_kind(
        &self,
        cycle: i64,
        steps: &[&Planned],
        record: &RecordOf<'_>,
        counters: &Counters,
        on_demand: bool,
    ) -> Result<Vec<LogRecord>, StateError> {
        let outcomes = self
            .run_steps(cycle, steps, record, counters, on_demand)
            .await?;
        let mut logs = Vec::new();
        let mut pending = Vec::new();
        for (i, log, references) in outcomes {
            // A quiet step (no log) may still have references to resolve.
            if references && log.as_ref().is_none_or(|l| l.status != "Failure") {
                pending.push(steps[i]);
            }
            logs.extend(log);
        }
        // References to objects provisioned later in the cycle (a manager after the
        // user, a group in a group) are set now that both ends exist.
        logs.extend(
            self.resolve_references(cycle, &pending, record, counters)
                .await?,
        );
        Ok(logs)
    }

    /// Entra's test connection: a filtered GET that must come back as SCIM.
    async fn test_connection(&self) -> Result<(), EngineError> {
        let kind = match self.mapping.object("User") {
            Some(_) => "User",
            None => "Group",
        };
        let attribute = if kind == "User" {
            "userName"
        } else {
            "displayName"
        };
        let filter = format!(
            "{attribute} eq \"scimap-connection-test-{}\"",
            fastrand::u64(..)
        );
        let path = format!("{}?filter={}&count=1", endpoint(kind), encode(&filter));
        match self.target.send(Method::GET, &path, None).await {
            Ok(answer)
                if answer.body.as_ref().is_some_and(|b| {
                    b.get("Resources").is_some() || b.get("totalResults").is_some()
                }) =>
            {
                *write(&self.required) = self.read_schemas().await;
                Ok(())
            }
            Ok(answer) => Err(EngineError::Connection(TargetError::NotScim {
                status: answer.status,
                excerpt: "a filtered GET did not answer with a ListResponse".into(),
            })),
            Err(e) => Err(EngineError::Connection(e)),
        }
    }

    fn note(&self, text: String) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text);
    }

    /// What the target's `/Schemas` requires; SCIM's own requirements when the target
    /// has no usable `/Schemas` (many do not serve it), said once per cycle.
    async fn read_schemas(&self) -> Required {
        let answer = self.target.send(Method::GET, "/Schemas", None).await;
        let read = match &answer {
            Ok(answer) => answer.body.as_ref().and_then(Required::from_schemas),
            Err(_) => None,
        };
        read.unwrap_or_else(|| {
            let why = match answer {
                Err(e) => e.to_string(),
                Ok(_) => "not a list of schemas".to_string(),
            };
            self.note(format!(
                "the target's /Schemas cannot be used ({why}); users need userName and groups displayName before they are created"
            ));
            Required::default()
        })
    }

    /// What stops a cycle before it sends anything: a kind of object missing from the
    /// snapshot while some are linked, assignments naming no object of the snapshot,
    /// or more disables and deletes than the threshold. `--allow-deletes` lets the
    /// first and the last through; the assignments never.
    fn safety_stop(
        &self,
        planned: &[Planned],
        checked: &Checked<'_>,
        linked: &Linked,
        assignments: &Assignments,
    ) -> Option<Stop> {
        if let Assignments::Assigned { users, groups } = assignments {
            let named = users.len() + groups.len();
            let known = users
                .iter()
                .filter(|id| checked.position("User", id).is_some())
                .chain(
                    groups
                        .iter()
                        .filter(|id| checked.position("Group", id).is_some()),
                )
                .count();
            let linked_any = linked.count("User") + linked.count("Group") > 0;
            if known == 0 && (named > 0 || linked_any) {
                return Some(Stop::UnknownAssignments { ids: named });
            }
            let unknown = named - known;
            if unknown > 0 {
                self.note(format!(
                    "{unknown} of the {named} ids the assignments name are in no snapshot file"
                ));
            }
        }
        if self.options.allow_deletes {
            return None;
        }
        for kind in ["User", "Group"] {
            let links = linked.count(kind);
            if checked.count(kind) == 0 && links > 0 && self.mapping.object(kind).is_some() {
                return Some(Stop::EmptySource {
                    kind,
                    linked: links,
                });
            }
        }
        let threshold = self.options.deletion_threshold?;
        let removals: Vec<&Planned> = planned
            .iter()
            .filter(|p| matches!(p.action, Action::Disable | Action::Delete))
            .collect();
        if removals.len() <= threshold {
            return None;
        }
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for p in &removals {
            match reasons.iter_mut().find(|(r, _)| *r == p.reason) {
                Some((_, n)) => *n += 1,
                None => reasons.push((p.reason, 1)),
            }
        }
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        Some(Stop::DeletionThreshold {
            staged: removals.len(),
            threshold,
            why: why.join(", "),
        })
    }

    /// Quarantine begins when the cycle stopped for it, and ends with any success.
    fn settle_quarantine(
        &self,
        stop: &Option<Stop>,
        summary: &CycleSummary,
    ) -> Result<(), StateError> {
        match stop {
            Some(Stop::Quarantined(reason)) => {
                let since = match self.state.quarantine()? {
                    Some(q) => q.since,
                    None => Timestamp::now(),
                };
                self.state.set_quarantine(&Quarantine {
                    reason: reason.clone(),
                    since,
                })
            }
            _ if summary.created + summary.updated + summary.disabled + summary.deleted > 0
                || summary.failed == 0 =>
            {
                self.state.lift_quarantine()
            }
            _ => Ok(()),
        }
    }

    /// `work(0..n)`, several at a time; the results other than `None`, in order (a
    /// cycle of a million objects whose logs are streamed keeps next to nothing).
    async fn in_order<T, F, W>(&self, n: usize, work: W) -> Vec<T>
    where
        W: Fn(usize) -> F,
        F: std::future::Future<Output = Option<T>>,
    {
        let work = &work;
        let mut done: Vec<(usize, T)> = stream::iter(0..n)
            .map(|i| async move { work(i).await.map(|t| (i, t)) })
            .buffer_unordered(self.options.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, t)| t).collect()
    }

    fn stopped(counters: &Counters) -> bool {
        counters
            .stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Runs steps several at a time; for each, its log record (none when the cycle
    /// stopped before it) and whether references are left to resolve.
    async fn run_steps(
        &self,
        cycle: i64,
        steps: &[&Planned],
        record: &RecordOf<'_>,
        counters: &Counters,
        on_demand: bool,
    ) -> Result<Vec<(usize, Option<LogRecord>, bool)>, StateError> {
        self.in_order(steps.len(), |i| async move {
            if Self::stopped(counters) {
                return None;
            }
            let record = record(steps[i]);
            let (log, pending) = match self
                .step(cycle, steps[i], record.as_deref(), on_demand)
                .await
            {
                Ok(done) => done,
                Err(e) => return Some(Err(e)),
            };
            let quiet = !on_demand && log.action == "Other" && steps[i].reason == PENDING_REASON;
            let log = self.finished(counters, log, false, quiet);
            (log.is_some() || pending).then_some(Ok((i, log, pending)))
        })
        .await
        .into_iter()
        .collect()
    }

    async fn resolve_references(
        &self,
        cycle: i64,
        pending: &[&Planned],
        record: &RecordOf<'_>,
        counters: &Counters,
    ) -> Result<Vec<LogRecord>, StateError> {
        self.in_order(pending.len(), |i| async move {
            if Self::stopped(counters) {
                return None;
            }
            let record = record(pending[i]);
            self.reference_step(cycle, pending[i], record.as_deref())
                .await
                .map(|log| log.and_then(|log| self.finished(counters, log, true, false)))
                .transpose()
        })
        .await
        .into_iter()
        .collect()
    }

    /// A finished record: counted, then given to `on_log` or kept for the cycle's
    /// logs (a quiet one is only counted).
    fn finished(
        &self,
        counters: &Counters,
        log: LogRecord,
        reference: bool,
        quiet: bool,
    ) -> Option<LogRecord> {
        self.count(counters, &log, reference);
        if quiet {
            return None;
        }
        self.publish(counters, log)
    }

    /// Adds a record to the summary and hands it to [`Engine::on_log`]; the record back
    /// when there is none, for [`Cycle::logs`].
    fn publish(&self, counters: &Counters, log: LogRecord) -> Option<LogRecord> {
        counters
            .summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(&log);
        match &self.on_log {
            Some(on_log) => {
                on_log(&log);
                None
            }
            None => Some(log),
        }
    }

    /// Counts an outcome and stops the cycle when the job must be quarantined.
    fn count(&self, counters: &Counters, log: &LogRecord, reference: bool) {
        if !reference {
            let done = counters.done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(progress) = &self.progress {
                progress(done, counters.total);
            }
        }
        if log.status == "Skipped" {
            return;
        }
        let attempted = counters.attempted.fetch_add(1, Ordering::Relaxed) + 1;
        if log.status != "Failure" {
            return;
        }
        let (failed, reference_failed) = if reference {
            (
                counters.failed.load(Ordering::Relaxed),
                counters.reference_failed.fetch_add(1, Ordering::Relaxed) + 1,
            )
        } else {
            (
                counters.failed.fetch_add(1, Ordering::Relaxed) + 1,
                counters.reference_failed.load(Ordering::Relaxed),
            )
        };
        let unauthorized = log.error.as_ref().is_some_and(|e| e.code == "Unauthorized");
        let reason = if unauthorized {
            Some("the target refused the token".to_string())
        } else if self
            .options
            .quarantine
            .exceeded(failed, reference_failed, attempted)
        {
            Some(format!(
                "{} of {attempted} objects failed in this cycle ({reference_failed} of them references)",
                failed + reference_failed
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            let mut stop = counters.stop.lock().unwrap_or_else(|p| p.into_inner());
            stop.get_or_insert(Stop::Quarantined(reason));
        }
    }

    /// A log record begun with the import and scope steps.
    fn trace(&self, cycle: i64, planned: &Planned, record: Option<&Json>) -> Trace {
        let display_name = record.and_then(|r| {
            ["displayName", "userPrincipalName"]
                .iter()
                .find_map(|k| r.get(*k).and_then(Json::as_str))
                .map(str::to_string)
        });
        let mut trace = Trace {
            log: LogRecord {
                cycle_id: cycle,
                timestamp: Timestamp::now().to_string(),
                action: match planned.action {
                    Action::Create => "Create",
                    Action::Update => "Update",
                    Action::Disable => "Disable",
                    Action::Delete => "Delete",
                    Action::Skip => "Other",
                },
                status: "Success",
                kind: planned.kind,
                source_id: planned.source_id.to_string(),
                display_name,
                target_id: None,
                reason: planned.reason.to_string(),
                steps: Vec::new(),
                modified_properties: Vec::new(),
                requests: Vec::new(),
                error: None,
                duration_ms: 0,
            },
            current: "import",
            pending: false,
            started: Instant::now(),
        };
        match record {
            Some(_) => trace.step("import", "read from the source snapshot"),
            None => trace.step("import", "not in the source snapshot"),
        }
        trace.at("scope");
        trace.step("scope", planned.scope);
        trace
    }

    /// One planned action, logged; only the state failing is an error.
    async fn step(
        &self,
        cycle: i64,
        planned: &Planned,
        record: Option<&Json>,
        on_demand: bool,
    ) -> Result<(LogRecord, bool), StateError> {
        let mut trace = self.trace(cycle, planned, record);
        let (kind, id) = (planned.kind, &planned.source_id);
        if planned.action == Action::Skip {
            return Ok(trace.finish("Skipped"));
        }
        let escrow = read(&self.escrowed).get(&(kind, id.to_string())).cloned();
        if let Some(escrow) = &escrow {
            if !on_demand && escrow.next_attempt > Timestamp::now() {
                trace.log.action = "Other";
                trace.log.reason = format!(
                    "in escrow after {} failures, next attempt at {}: {}",
                    escrow.attempts, escrow.next_attempt, escrow.error
                );
                return Ok(trace.finish("Skipped"));
            }
        }
        let outcome = match (planned.action, record) {
            (Action::Create, Some(record)) => self.create(&mut trace, kind, id, record).await,
            (Action::Update, Some(record)) => match self.state.link(kind, id)? {
                Some(link) => self.update(&mut trace, record, link, true).await,
                None => Err(Failure::Mapping(
                    "NotLinked",
                    "not linked to a target object".into(),
                )),
            },
            (Action::Disable, _) => self.disable(&mut trace, kind, id).await,
            (Action::Delete, _) => self.delete(&mut trace, kind, id).await,
            _ => Err(Failure::Mapping(
                "NotInSnapshot",
                "not in the source snapshot".into(),
            )),
        };
        let error = match outcome {
            Ok(()) => {
                if escrow.is_some() {
                    self.state.clear(kind, id)?;
                }
                let status = if trace.log.action == "Other" {
                    "Skipped"
                } else {
                    "Success"
                };
                return Ok(trace.finish(status));
            }
            Err(Failure::State(e)) => return Err(e),
            Err(Failure::Target(e)) => ErrorInfo::from(&e),
            Err(Failure::Mapping(code, reason)) => ErrorInfo::new(code, reason),
        };
        self.fail(&mut trace, error)?;
        Ok(trace.finish("Failure"))
    }

    fn fail(&self, trace: &mut Trace, error: ErrorInfo) -> Result<(), StateError> {
        trace.log.steps.push(Step {
            name: trace.current,
            status: "Failure",
            detail: error.reason.clone(),
        });
        // A refused token is the job's problem, not the object's: no escrow.
        if error.code != "Unauthorized" {
            self.state.fail(
                trace.log.kind,
                &trace.log.source_id,
                &error.reason,
                Timestamp::now(),
            )?;
        }
        trace.log.error = Some(error);
        Ok(())
    }

    /// The second pass for an object whose references were not all resolvable: a
    /// record only when it sent something or failed.
    async fn reference_step(
        &self,
        cycle: i64,
        planned: &Planned,
        record: Option<&Json>,
    ) -> Result<Option<LogRecord>, StateError> {
        let (Some(record), Some(link)) =
            (record, self.state.link(planned.kind, &planned.source_id)?)
        else {
            return Ok(None);
        };
        let mut trace = self.trace(cycle, planned, Some(record));
        trace.log.action = "Update";
        trace.log.reason = "references to objects provisioned in this cycle".into();
        let error = match self.update(&mut trace, record, link, false).await {
            Ok(()) if trace.log.action == "Other" => return Ok(None),
            Ok(()) => return Ok(Some(trace.finish("Success").0)),
            Err(Failure::State(e)) => return Err(e),
            Err(Failure::Target(e)) => ErrorInfo::from(&e),
            Err(Failure::Mapping(code, reason)) => ErrorInfo::new(code, reason),
        };
        self.fail(&mut trace, error)?;
        Ok(Some(trace.finish("Failure").0))
    }

    fn object(&self, kind: &str) -> &ObjectMapping {
        self.mapping
            .object(kind)
            .expect("planned only for mapped kinds")
    }

    /// The resource the mapping makes of a record in a phase, references resolved
    /// through the links made so far, `SelectUniqueValue` candidates looked up in the
    /// target; with `exported`, also the PATCH from it.
    async fn evaluate(
        &self,
        trace: &mut Trace,
        kind: &str,
        record: &Json,
        phase: Phase,
        link: Option<&Link>,
    ) -> Result<Evaluated, Failure> {
        let object = self.object(kind);
        let unique = object.unique_targets();
        if unique.is_empty() {
            return self.evaluate_with(object, record, phase, link, None);
        }
        let probe = Arc::new(Probe::default());
        let context = Context {
            existing: Some(probe.clone()),
            ..Context::default()
        };
        let first = self.evaluate_with(object, record, phase, link, Some(&context));
        let candidates = std::mem::take(&mut *probe.0.lock().unwrap_or_else(|p| p.into_inner()));
        if candidates.is_empty() {
            return first;
        }
        let mut taken = Vec::new();
        for candidate in candidates {
            for target in &unique {
                let found = self.find(trace, kind, target, &candidate).await?;
                let own = link.map(|l| l.target_id.as_str());
                if found.iter().any(|r| r["id"].as_str() != own) {
                    taken.push(candidate.clone());
                }
            }
        }
        let context = Context {
            existing: Some(Arc::new(ExistingSet::new(taken))),
            ..Context::default()
        };
        self.evaluate_with(object, record, phase, link, Some(&context))
    }

    fn evaluate_with(
        &self,
        object: &ObjectMapping,
        record: &Json,
        phase: Phase,
        link: Option<&Link>,
        context: Option<&Context>,
    ) -> Result<Evaluated, Failure> {
        let mapping_failed =
            |e: &dyn std::fmt::Display| Failure::Mapping("MappingFailed", e.to_string());
        let batch = object
            .batch(std::slice::from_ref(record))
            .map_err(|e| mapping_failed(&e))?;
        let links = Links(&self.links);
        let options = ApplyOptions {
            context,
            phase,
            references: Some(&links),
        };
        let resource = object
            .apply_one(&batch, &options)
            .map_err(|e| mapping_failed(&e))?
            .ok_or_else(|| Failure::Mapping("OutOfScope", "out of the scoping filters".into()))?;
        let patch = link.and_then(|l| object.patch(&l.exported, &resource, self.style));
        Ok(Evaluated {
            pending: !resource.unresolved.is_empty(),
            resource: resource.to_json(),
            patch,
        })
    }

    /// The target objects whose `attribute` equals `value`, as the target answers a
    /// filter for it, keeping only those whose value really is `value`: a target that
    /// ignores filters, or matches on part of a value, does not make a match.
    async fn find(
        &self,
        trace: &mut Trace,
        kind: &str,
        attribute: &crate::mapping::TargetAttribute,
        value: &str,
    ) -> Result<Vec<Json>, Failure> {
        let filter = format!("{} eq {}", attribute.text, Json::from(value));
        let excluded = if kind == "Group" {
            "&excludedAttributes=members"
        } else {
            ""
        };
        let path = format!("{}?filter={}{excluded}", endpoint(kind), encode(&filter));
        let found = self.send(trace, Method::GET, &path, None).await?;
        // A ListResponse with no results may leave `Resources` out; any other answer
        // says nothing about what the target holds, and reading it as "no match"
        // would create the object again.
        let body = found.body.as_ref();
        let returned = match body.and_then(|b| b.get("Resources")) {
            Some(Json::Array(items)) => items.clone(),
            None if body.and_then(|b| b.get("totalResults")) == Some(&json!(0)) => Vec::new(),
            _ => {
                return Err(Failure::Target(TargetError::NotScim {
                    status: found.status,
                    excerpt: "the answer to a filtered GET is not a ListResponse".into(),
                }))
            }
        };
        let n = returned.len();
        let verified: Vec<Json> = returned
            .into_iter()
            .filter(|r| r["id"].is_string())
            .filter(|r| {
                attribute
                    .find(r)
                    .and_then(Json::as_str)
                    .is_some_and(|v| same_value(attribute, v, value))
            })
            .collect();
        if verified.len() < n {
            trace.step(
                "match",
                format!(
                    "the target returned {n} objects for {filter}, {} of them with that value; the others are not matches",
                    verified.len()
                ),
            );
        }
        Ok(verified)
    }

    /// Matches by each matching attribute in precedence order, then creates (or links
    /// to the one match); more than one match is a failure.
    async fn create(
        &self,
        trace: &mut Trace,
        kind: &'static str,
        source: &Arc<str>,
        record: &Json,
    ) -> Result<(), Failure> {
        trace.at("evaluate");
        let evaluated = self
            .evaluate(trace, kind, record, Phase::Create, None)
            .await?;
        let missing = read(&self.required).missing(kind, &evaluated.resource);
        if !missing.is_empty() {
            return Err(Failure::Mapping(
                "RequiredValueMissing",
                format!(
                    "the target requires {} and the mapping gives no value: not created",
                    missing.join(", ")
                ),
            ));
        }
        trace.at("match");
        let matched = self
            .match_target(trace, kind, source, &evaluated.resource)
            .await?;
        trace.at("evaluate");
        trace.step(
            "evaluate",
            format!(
                "{} target attributes",
                evaluated.resource.as_object().map_or(0, |o| o.len())
            ),
        );
        trace.at("provision");
        let (target_id, exported) = match matched {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_string();
                trace.log.action = "Update";
                trace.log.reason = "in scope, matched an existing target object".into();
                (id, existing)
            }
            None => {
                let id = self.post(trace, kind, source, &evaluated.resource).await?;
                trace.log.modified_properties = modified(&Json::Null, &evaluated.resource);
                (id, evaluated.resource)
            }
        };
        let link = Link {
            kind: kind.into(),
            source_id: source.to_string(),
            target_id: target_id.clone(),
            exported,
            source_hash: 0,
            active: true,
        };
        // Stored by the update below once it succeeds: until then a rerun finds the
        // object by matching, as it would after a crash.
        trace.log.target_id = Some(target_id);
        // References and group members (and a matched object's differences) go in a
        // PATCH once the object exists.
        self.update(trace, record, link, false).await
    }

    /// Matches by each matching attribute in precedence order: the one target object
    /// whose value is the source object's, now linked to it; `None` when there is none.
    /// More than one, or one already linked to another source object, fails the object.
    async fn match_target(
        &self,
        trace: &mut Trace,
        kind: &str,
        source: &Arc<str>,
        resource: &Json,
    ) -> Result<Option<Json>, Failure> {
        let mut tried = Vec::new();
        let matching = self.object(kind).matching();
        if !matching.is_empty()
            && !matching
                .iter()
                .any(|a| a.target.find(resource).and_then(Json::as_str).is_some())
        {
            let names: Vec<&str> = matching.iter().map(|a| a.target.text.as_str()).collect();
            return Err(Failure::Mapping(
                "MatchingValueMissing",
                format!(
                    "no matching attribute ({}) has a value, so the object could not be found again once created: not created",
                    names.join(", ")
                ),
            ));
        }
        for attribute in matching {
            let Some(value) = attribute.target.find(resource).and_then(Json::as_str) else {
                continue;
            };
            let filter = format!("{} eq {}", attribute.target.text, Json::from(value));
            let mut found = self.find(trace, kind, &attribute.target, value).await?;
            match found.len() {
                0 => tried.push(filter),
                1 => {
                    let existing = found.remove(0);
                    let id = existing["id"].as_str().unwrap_or_default();
                    if let Err(other) = write(&self.links).claim(source, id) {
                        return Err(Failure::Mapping(
                            "MatchLinkedToAnother",
                            format!("target object {id} matches {filter}, and it is linked to source object {other}; one target object is never linked to two"),
                        ));
                    }
                    trace.step("match", format!("matched target object {id} by {filter}"));
                    return Ok(Some(existing));
                }
                n => {
                    return Err(Failure::Mapping(
                        "AmbiguousMatch",
                        format!("{n} target objects match {filter}; Entra requires at most one"),
                    ))
                }
            }
        }
        if !tried.is_empty() {
            trace.step(
                "match",
                format!("no target object matches {}", tried.join(", then ")),
            );
        }
        Ok(None)
    }

    /// Creates the object and claims its new id. When the outcome is unknown (no
    /// answer, a proxy's 500, 502 or 504, an answer without an id), the target may
    /// hold the object: it is matched again rather than sent again, and linked if
    /// found; if not, the object fails, and its next attempt matches before it creates.
    async fn post(
        &self,
        trace: &mut Trace,
        kind: &str,
        source: &Arc<str>,
        resource: &Json,
    ) -> Result<String, Failure> {
        let path = endpoint(kind);
        let error = match self.send(trace, Method::POST, path, Some(resource)).await {
            Ok(created) => {
                let id = created.body.as_ref().and_then(|b| b["id"].as_str());
                if let Some(id) = id {
                    trace.step(
                        "provision",
                        format!("POST {path} -> {}, id {id}", created.status),
                    );
                    if let Err(other) = write(&self.links).claim(source, id) {
                        return Err(Failure::Mapping(
                            "MatchLinkedToAnother",
                            format!("the target answered the create with id {id}, which is linked to source object {other}"),
                        ));
                    }
                    return Ok(id.to_string());
                }
                TargetError::NotScim {
                    status: created.status,
                    excerpt: "a created resource without an id".into(),
                }
            }
            Err(e) if e.outcome_unknown() => e,
            Err(e) => return Err(e.into()),
        };
        trace.step(
            "provision",
            format!("POST {path}: {error}; the target may have created the object, so it is matched again instead of sent again"),
        );
        trace.at("match");
        let found = self.match_target(trace, kind, source, resource).await?;
        trace.at("provision");
        match found {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_string();
                trace.step(
                    "provision",
                    format!("the create had reached the target: linked to {id}"),
                );
                Ok(id)
            }
            None => Err(Failure::Target(error)),
        }
    }

    /// PATCHes what changed since the last export (`Other` when nothing did).
    async fn update(
        &self,
        trace: &mut Trace,
        record: &Json,
        link: Link,
        log_match: bool,
    ) -> Result<(), Failure> {
        let id = link.target_id.clone();
        trace.log.target_id = Some(id.clone());
        if log_match {
            trace.step(
                "match",
                format!("linked to target object {id} in an earlier cycle"),
            );
        }
        trace.at("evaluate");
        let evaluated = self
            .evaluate(trace, &link.kind, record, Phase::Update, Some(&link))
            .await?;
        let object = self.object(&link.kind);
        // A user back in scope is enabled again, whether the mapping sets `active` or not.
        let enable = !link.active && link.exported.get("active").is_some();
        let mut updated = link.exported.clone();
        if enable {
            updated["active"] = json!(true);
        }
        if let Some(body) = &evaluated.patch {
            let resource = object.target.scim().ok_or_else(|| {
                let why = format!("{} is not a SCIM resource type", object.target);
                Failure::Mapping("MappingFailed", why)
            })?;
            apply_patch(&mut updated, body, resource)
                .map_err(|e| Failure::Mapping("MappingFailed", e.to_string()))?;
        }
        let patch = match enable {
            true => diff(&link.exported, &updated, self.style).or(evaluated.patch),
            false => evaluated.patch,
        };
        let changes = modified(&link.exported, &updated);
        if log_match {
            trace.step(
                "evaluate",
                format!("{} target attributes changed", changes.len()),
            );
        }
        trace.at("provision");
        match patch {
            Some(body) => {
                let path = format!("{}/{id}", endpoint(&link.kind));
                for batch in batches(&body, MEMBER_BATCH) {
                    let answer = self.send(trace, Method::PATCH, &path, Some(&batch)).await?;
                    trace.step("provision", format!("PATCH {path} -> {}", answer.status));
                }
                trace.log.modified_properties.extend(changes);
            }
            None if trace.log.action == "Create" => {}
            None => {
                trace.log.action = "Other";
                trace.step(
                    "provision",
                    "nothing to send: the target object is up to date",
                );
            }
        }
        let active = updated
            .get("active")
            .and_then(Json::as_bool)
            .unwrap_or(true);
        self.save(&Link {
            exported: updated,
            source_hash: if evaluated.pending {
                super::plan::PENDING
            } else {
                fingerprint(record)
            },
            active,
            ..link
        })?;
        trace.pending = evaluated.pending;
        Ok(())
    }

    /// `active = false`, in the chosen PATCH shape, and the link marked inactive.
    async fn disable(&self, trace: &mut Trace, kind: &str, source: &str) -> Result<(), Failure> {
        let link = self.linked(trace, kind, source)?;
        let mut disabled = link.exported.clone();
        disabled["active"] = json!(false);
        trace.at("evaluate");
        trace.step("evaluate", "active: false");
        trace.at("provision");
        if let Some(body) = diff(&link.exported, &disabled, self.style) {
            let path = format!("{}/{}", endpoint(kind), link.target_id);
            let answer = self.send(trace, Method::PATCH, &path, Some(&body)).await?;
            trace.step("provision", format!("PATCH {path} -> {}", answer.status));
        }
        trace.log.modified_properties = modified(&link.exported, &disabled);
        self.save(&Link {
            exported: disabled,
            active: false,
            ..link
        })?;
        Ok(())
    }

    async fn delete(&self, trace: &mut Trace, kind: &str, source: &str) -> Result<(), Failure> {
        let link = self.linked(trace, kind, source)?;
        trace.at("provision");
        let path = format!("{}/{}", endpoint(kind), link.target_id);
        let status = match self.send(trace, Method::DELETE, &path, None).await {
            Ok(answer) => answer.status,
            Err(TargetError::Scim { status: 404, .. }) => 404,
            Err(e) => return Err(e.into()),
        };
        trace.step("provision", format!("DELETE {path} -> {status}"));
        self.state.remove_link(kind, source)?;
        write(&self.links).remove(source);
        Ok(())
    }

    fn linked(&self, trace: &mut Trace, kind: &str, source: &str) -> Result<Link, Failure> {
        trace.at("match");
        let link = self
            .state
            .link(kind, source)?
            .ok_or_else(|| Failure::Mapping("NotLinked", "not linked to a target object".into()))?;
        trace.log.target_id = Some(link.target_id.clone());
        trace.step(
            "match",
            format!("linked to target object {}", link.target_id),
        );
        Ok(link)
    }

    fn save(&self, link: &Link) -> Result<(), StateError> {
        self.state.save_link(link)?;
        // Claimed when the object was matched or created; an update keeps its target.
        let _ = write(&self.links).claim(&link.source_id.as_str().into(), &link.target_id);
        Ok(())
    }

    /// A request to the target, each attempt logged in the object's record. In a dry
    /// run a write request is only recorded, with an answer made up so that the cycle
    /// goes on (a created object gets the id `dry-run-N`); reads still go out.
    async fn send(
        &self,
        trace: &mut Trace,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<super::Answer, TargetError> {
        if !self.dry_run || method == Method::GET {
            let (outcome, attempts) = self.target.exchange(method, path, body).await;
            trace.log.requests.extend(attempts);
            return outcome;
        }
        let mut sent = self.would_send.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(json!({"method": method.as_str(), "path": path, "body": body}));
        let created = method == Method::POST;
        Ok(super::Answer {
            status: if created { 201 } else { 204 },
            body: created.then(|| json!({"id": format!("dry-run-{}", sent.len())})),
        })
    }
}

impl CycleSummary {
    fn add(&mut self, log: &LogRecord) {
        let counter = match (log.action, log.status) {
            (_, "Failure") => &mut self.failed,
            (_, "Warning") => &mut self.warnings,
            ("StagedDelete", _) => &mut self.staged,
            (_, "Skipped") => &mut self.skipped,
            ("Create", _) => &mut self.created,
            ("Update", _) => &mut self.updated,
            ("Disable", _) => &mut self.disabled,
            ("Delete", _) => &mut self.deleted,
            _ => &mut self.skipped,
        };
        *counter += 1;
    }
}

/// A PATCH split so that no request carries more than `size` member values (member
/// changes of a large group go in several requests, the other changes in the first).
fn batches(body: &Json, size: usize) -> Vec<Json> {
    let Some(operations) = body.get("Operations").and_then(Json::as_array) else {
        return vec![body.clone()];
    };
    let is_members = |op: &Json| {
        op.get("path").and_then(Json::as_str).is_some_and(|p| {
            p.eq_ignore_ascii_case("members") || p.to_ascii_lowercase().starts_with("members[")
        })
    };
    let mut pieces = Vec::new();
    for op in operations {
        match op.get("value").and_then(Json::as_array) {
            Some(values) if is_members(op) && values.len() > size => {
                for chunk in values.chunks(size) {
                    let mut piece = op.clone();
                    piece["value"] = Json::Array(chunk.to_vec());
                    pieces.push((chunk.len(), piece));
                }
            }
            Some(values) if is_members(op) => pieces.push((values.len(), op.clone())),
            _ if is_members(op) => pieces.push((1, op.clone())),
            _ => pieces.push((0, op.clone())),
        }
    }
    let mut requests: Vec<(usize, Vec<Json>)> = vec![(0, Vec::new())];
    for (weight, op) in pieces {
        let last = requests.last_mut().expect("one request at least");
        if last.0 + weight > size && !last.1.is_empty() {
            requests.push((weight, vec![op]));
        } else {
            last.0 += weight;
            last.1.push(op);
        }
    }
    requests
        .into_iter()
        .map(|(_, ops)| {
            let mut request = body.clone();
            request["Operations"] = Json::Array(ops);
            request
        })
        .collect()
}

/// Percent-encoding of a filter for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_membership_changes_go_in_batches() {
        let values: Vec<Json> = (0..1200).map(|i| json!({"value": i.to_string()})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Eng"},
                           {"op": "add", "path": "members", "value": values},
                           {"op": "remove", "path": "members[value eq \"x\"]"}]});
        let requests = batches(&body, 500);
        let sizes: Vec<Vec<usize>> = requests
            .iter()
            .map(|r| {
                r["Operations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|op| op["value"].as_array().map_or(1, Vec::len))
                    .collect()
            })
            .collect();
        assert_eq!(sizes, [vec![1, 500], vec![500], vec![200, 1]]);
        assert!(requests.iter().all(|r| r["schemas"] == body["schemas"]));
        assert_eq!(batches(&json!({"Operations": []}), 500).len(), 1);
    }

    #[test]
    fn quarantine_thresholds() {
        let policy = QuarantinePolicy::default();
        assert!(
            !policy.exceeded(4_999, 0, 5_000),
            "evaluation starts at 5,000"
        );
        assert!(policy.exceeded(5_000, 0, 10_000));
        assert!(!policy.exceeded(5_000, 0, 20_000), "25 % fail");
        assert!(policy.exceeded(40_001, 0, 200_000));
        assert!(
            policy.exceeded(30_000, 30_000, 1_000_000),
            "the absolute cap"
        );
    }
}
