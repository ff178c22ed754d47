//! The provisioning engine's face: what it is built from, how it is told to run, and
//! what a cycle gives back. Running a cycle is `cycle`'s job; one object's actions are
//! `object`'s.

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value as Json;

use super::log::{LogRecord, ProvisioningAction, ProvisioningStatus};
use super::plan::{member_ids, Assignments, PlanOptions};
use super::source::{self as snapshot, Duplicate, Packed, Records, Unreadable};
use super::state::{State, StateError};
use super::target::{Target, TargetError};
use crate::mapping::Mapping;
use crate::scim::{ObjectKind, PatchStyle};

/// Disables and deletes one cycle may send before it stops (Entra's default for
/// accidental deletions prevention).
pub const DELETION_THRESHOLD: usize = 500;

/// Member values sent in one group PATCH at most; larger membership changes are split.
pub const MEMBER_BATCH: usize = 500;

/// How long a job may stay quarantined before it is disabled (Entra: four weeks).
pub(super) const QUARANTINE_LIMIT: SignedDuration = SignedDuration::from_hours(28 * 24);

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
#[non_exhaustive]
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

/// How cycles run; `Options::default()` is Entra's behaviour.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    EmptySource { kind: ObjectKind, linked: usize },
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
                kind.as_str().to_lowercase()
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
    /// last); empty when [`EngineBuilder::on_log`] took them.
    pub logs: Vec<LogRecord>,
    pub stop: Option<Stop>,
    /// What the cycle has to say about the job as a whole (a target without usable
    /// `/Schemas`, assignments naming unknown ids).
    pub notes: Vec<String>,
    /// In a dry run, the write requests the cycle would have sent (`method`, `path`,
    /// `body`), in the order they were made.
    pub would_send: Vec<Json>,
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

/// Takes each log record as its object finishes.
pub type LogSink = Box<dyn Fn(&LogRecord) + Send + Sync>;

/// Whether the engine may still write to the target; see [`EngineBuilder::fence`].
pub type Fence = std::sync::Arc<dyn Fn() -> Result<(), StateError> + Send + Sync>;

/// Told (objects done, objects planned) as a cycle goes.
pub type Progress = Box<dyn Fn(usize, usize) + Send + Sync>;

/// A provisioning job: one mapping from one source to one target, and its state. Each
/// cycle keeps what it learns (links made, escrow, counters) in a value of its own, so
/// that two cycles never share one.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use scimap::sync::{Assignments, state::State, Engine, Source, Target, TargetConfig};
/// use scimap::Mapping;
///
/// let target = Target::new(TargetConfig::new("https://app.example/scim/v2", "token"))?;
/// let engine = Engine::builder(Mapping::embedded_default(), State::open("sync.db".as_ref())?, target)
///     .dry_run(true)
///     .build();
/// let users = vec![serde_json::json!({"objectId": "1", "userPrincipalName": "a@contoso.com"})];
/// let cycle = engine.cycle(Source::new(&users, &[], &Assignments::All)).await?;
/// println!("{} would be created", cycle.summary.created);
/// # Ok(()) }
/// ```
pub struct Engine {
    pub(super) mapping: Mapping,
    pub(super) state: State,
    pub(super) target: Target,
    pub(super) style: PatchStyle,
    pub(super) options: Options,
    pub(super) dry_run: bool,
    pub(super) progress: Option<Progress>,
    pub(super) on_log: Option<LogSink>,
    pub(super) fence: Option<Fence>,
}

/// What an [`Engine`] is built with beyond its mapping, state and target.
pub struct EngineBuilder {
    engine: Engine,
}

impl EngineBuilder {
    /// The PATCH shape: Entra's RFC-compliant one by default.
    pub fn style(mut self, style: PatchStyle) -> EngineBuilder {
        self.engine.style = style;
        self
    }

    pub fn options(mut self, options: Options) -> EngineBuilder {
        self.engine.options = options;
        self
    }

    /// Send no write request: record each in [`Cycle::would_send`] and answer it as a
    /// target would (reads, for matching, still go to the target). Give the engine a
    /// copy of the state.
    pub fn dry_run(mut self, dry_run: bool) -> EngineBuilder {
        self.engine.dry_run = dry_run;
        self
    }

    /// Called with (objects done, objects planned) as a cycle goes.
    pub fn progress(mut self, progress: Progress) -> EngineBuilder {
        self.engine.progress = Some(progress);
        self
    }

    /// Given each log record as its object finishes (in the order objects finish)
    /// instead of keeping it in [`Cycle::logs`], which stays empty: a long cycle is
    /// logged as it goes, in constant memory.
    pub fn on_log(mut self, on_log: LogSink) -> EngineBuilder {
        self.engine.on_log = Some(on_log);
        self
    }

    /// Asked before every write request; an error stops the cycle before the request
    /// is sent (a worker whose lease on the job is no longer sure).
    pub fn fence(mut self, fence: Fence) -> EngineBuilder {
        self.engine.fence = Some(fence);
        self
    }

    pub fn build(self) -> Engine {
        self.engine
    }
}

impl Engine {
    pub fn builder(mapping: Mapping, state: State, target: Target) -> EngineBuilder {
        EngineBuilder {
            engine: Engine {
                mapping,
                state,
                target,
                style: PatchStyle::Rfc,
                options: Options::default(),
                dry_run: false,
                progress: None,
                on_log: None,
                fence: None,
            },
        }
    }

    /// The job's state: links, escrow, quarantine, cycle history.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The target it provisions into.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The options the next cycle runs with.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// Runs one cycle over a snapshot: users first, then groups (so that members exist).
    pub async fn cycle(&self, source: Source<'_>) -> Result<Cycle, EngineError> {
        let checked = snapshot::check(source.users, source.groups)?;
        let options = PlanOptions {
            skip_out_of_scope_deletions: self.options.skip_out_of_scope_deletions,
            ..PlanOptions::default()
        };
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
        if let Some(i) = checked.position(ObjectKind::Group, id) {
            let group = checked.record(ObjectKind::Group, i).1;
            only.extend(member_ids(&group).take(5).map(str::to_string));
        }
        let mut known = false;
        for kind in ObjectKind::ALL {
            known |= checked.position(kind, id).is_some() || self.state.link(kind, id)?.is_some();
        }
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
}

impl CycleSummary {
    pub(super) fn add(&mut self, log: &LogRecord) {
        use ProvisioningAction as A;
        use ProvisioningStatus as S;
        let counter = match (log.action, log.status) {
            (_, S::Failure) => &mut self.failed,
            (_, S::Warning) => &mut self.warnings,
            (A::StagedDelete, _) => &mut self.staged,
            (_, S::Skipped) => &mut self.skipped,
            (A::Create, _) => &mut self.created,
            (A::Update, _) => &mut self.updated,
            (A::Disable, _) => &mut self.disabled,
            (A::Delete, _) => &mut self.deleted,
            _ => &mut self.skipped,
        };
        *counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
