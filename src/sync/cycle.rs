//! One cycle, start to end: the quarantine and connection checks, the plan, the safety
//! stops, the planned actions several at a time (users, then groups, then the
//! references they left), the counters that may quarantine the job, and the summary.
//! What a cycle learns as it goes lives in its [`Run`], made for it and dropped with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures_util::stream::{self, StreamExt};
use jiff::Timestamp;
use reqwest::Method;
use serde_json::{json, Value as Json};

use super::engine::{Cycle, CycleSummary, Engine, EngineError, Source, Stop, QUARANTINE_LIMIT};
use super::log::{
    ErrorInfo, LogRecord, ProvisioningAction, ProvisioningStatus, ProvisioningStep, StepName,
};
use super::object::encode;
use super::plan::{plan, Action, Assignments, Linked, PlanOptions, Planned, PENDING_REASON};
use super::required::Required;
use super::source::{Checked, Problem, Unreadable};
use super::state::{Escrow, Quarantine, StateError};
use super::target::TargetError;
use crate::scim::ObjectKind;

/// The record of a planned object, parsed when it is packed.
pub(super) type RecordOf<'a> = dyn Fn(&Planned) -> Option<std::borrow::Cow<'a, Json>> + Sync + 'a;

/// One cycle under way: the engine it runs for, and everything it learns as it goes.
pub(super) struct Run<'e> {
    pub(super) engine: &'e Engine,
    pub(super) id: i64,
    pub(super) on_demand: bool,
    /// Every linked object, both ways, for references and for matches.
    pub(super) links: RwLock<LinkIndex>,
    /// The objects in escrow when the cycle began.
    pub(super) escrowed: HashMap<(ObjectKind, String), Escrow>,
    /// The attributes the target requires of each kind, read from its `/Schemas`.
    pub(super) required: Required,
    /// In a dry run, the write requests not sent.
    pub(super) would_send: Mutex<Vec<Json>>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    total: usize,
    done: AtomicUsize,
    attempted: AtomicUsize,
    failed: AtomicUsize,
    reference_failed: AtomicUsize,
    stop: Mutex<Option<Stop>>,
    summary: Mutex<CycleSummary>,
}

/// The links made so far: source id → target id, and back, so that one target object
/// is never linked to two source objects.
/// Each id is kept once, shared by both directions: a million links stay small.
#[derive(Default)]
pub(super) struct LinkIndex {
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
    pub(super) fn claim(&mut self, source: &Arc<str>, target: &str) -> Result<(), String> {
        match self.sources.get(target) {
            Some(other) if **other != **source => Err(other.to_string()),
            _ => {
                self.remove(source);
                self.insert(source.clone(), target.into());
                Ok(())
            }
        }
    }

    pub(super) fn remove(&mut self, source: &str) {
        if let Some(target) = self.targets.remove(source) {
            self.sources.remove(&target);
        }
    }

    pub(super) fn target(&self, source: &str) -> Option<&Arc<str>> {
        self.targets.get(source)
    }
}

/// A lock's value, even when a holder panicked: every value behind these locks stays
/// consistent between statements.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    pub(super) async fn run_cycle(
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
        let mut notes = Vec::new();
        let required = self.test_connection(&mut notes).await?;
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
        let stop = self.safety_stop(&planned, checked, &linked, source.assignments, &mut notes);
        let creates = planned
            .iter()
            .filter(|p| p.action == Action::Create)
            .count();
        let room = linked.count(ObjectKind::User) + linked.count(ObjectKind::Group) + creates;
        let links = RwLock::new(LinkIndex::new(linked.into_target_ids(), room));
        let escrowed = self
            .state
            .escrows()?
            .into_iter()
            .map(|e| ((e.kind, e.source_id.clone()), e))
            .collect();
        let run = Run {
            engine: self,
            id: self.state.begin_cycle(now)?,
            on_demand,
            links,
            escrowed,
            required,
            would_send: Mutex::default(),
            counters: Counters {
                total: planned.len(),
                ..Counters::default()
            },
        };
        let record = |p: &Planned| p.record.map(|i| checked.record(p.kind, i).1);
        let logs = run
            .run(&planned, &record, checked, source.unreadable, stop)
            .await?;
        let Run {
            id,
            counters,
            would_send,
            ..
        } = run;
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
            notes,
            would_send: would_send.into_inner().unwrap_or_else(|p| p.into_inner()),
        })
    }

    /// Entra's test connection: a filtered GET that must come back as SCIM; then what
    /// the target requires, from its `/Schemas`.
    async fn test_connection(&self, notes: &mut Vec<String>) -> Result<Required, EngineError> {
        let kind = match self.mapping.object(ObjectKind::User.as_str()) {
            Some(_) => ObjectKind::User,
            None => ObjectKind::Group,
        };
        let attribute = match kind {
            ObjectKind::User => "userName",
            ObjectKind::Group => "displayName",
        };
        let filter = format!(
            "{attribute} eq \"scimap-connection-test-{}\"",
            fastrand::u64(..)
        );
        let path = format!("{}?filter={}&count=1", kind.endpoint(), encode(&filter));
        match self.target.send(Method::GET, &path, None).await {
            Ok(answer)
                if answer.body.as_ref().is_some_and(|b| {
                    b.get("Resources").is_some() || b.get("totalResults").is_some()
                }) =>
            {
                Ok(Required::read(&self.target, notes).await)
            }
            Ok(answer) => Err(EngineError::Connection(TargetError::NotScim {
                status: answer.status,
                excerpt: "a filtered GET did not answer with a ListResponse".into(),
            })),
            Err(e) => Err(EngineError::Connection(e)),
        }
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
        notes: &mut Vec<String>,
    ) -> Option<Stop> {
        if let Assignments::Assigned { users, groups } = assignments {
            let named = users.len() + groups.len();
            let known = users
                .iter()
                .filter(|id| checked.position(ObjectKind::User, id).is_some())
                .chain(
                    groups
                        .iter()
                        .filter(|id| checked.position(ObjectKind::Group, id).is_some()),
                )
                .count();
            let linked_any = linked.count(ObjectKind::User) + linked.count(ObjectKind::Group) > 0;
            if known == 0 && (named > 0 || linked_any) {
                return Some(Stop::UnknownAssignments { ids: named });
            }
            let unknown = named - known;
            if unknown > 0 {
                notes.push(format!(
                    "{unknown} of the {named} ids the assignments name are in no snapshot file"
                ));
            }
        }
        if self.options.allow_deletes {
            return None;
        }
        for kind in ObjectKind::ALL {
            let links = linked.count(kind);
            if checked.count(kind) == 0 && links > 0 && self.mapping.object(kind.as_str()).is_some()
            {
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
}

impl Run<'_> {
    /// The snapshot's problems logged, then the staged removals when the cycle stopped
    /// before sending anything, else each kind's steps.
    async fn run(
        &self,
        planned: &[Planned],
        record: &RecordOf<'_>,
        checked: &Checked<'_>,
        unreadable: &[Unreadable],
        stop: Option<Stop>,
    ) -> Result<Vec<LogRecord>, StateError> {
        let mut logs = self.report_source(&checked.problems, unreadable);
        if let Some(stop) = stop {
            logs.extend(self.stage(planned, record, &stop));
            *lock(&self.counters.stop) = Some(stop);
            return Ok(logs);
        }
        for kind in ObjectKind::ALL {
            let steps: Vec<&Planned> = planned.iter().filter(|p| p.kind == kind).collect();
            logs.extend(self.run_kind(&steps, record).await?);
        }
        Ok(logs)
    }

    /// The snapshot's problems, one log record each: records that could not be read
    /// fail; self-references dropped and membership cycles are warnings.
    fn report_source(&self, problems: &[Problem], unreadable: &[Unreadable]) -> Vec<LogRecord> {
        let unreadable = unreadable.iter().map(|u| Problem {
            code: "SourceRecordInvalid",
            kind: u.kind,
            source_id: None,
            detail: format!("{}: {}", u.place, u.reason),
        });
        let mut logs = Vec::new();
        for problem in unreadable.chain(problems.iter().cloned()) {
            let status = match problem.source_id {
                None => ProvisioningStatus::Failure,
                Some(_) => ProvisioningStatus::Warning,
            };
            let mut detail = problem.detail.clone();
            if problem.source_id.is_none() {
                detail
                    .push_str("; objects missing from the snapshot are not deleted in this cycle");
            }
            let log = LogRecord {
                cycle_id: self.id,
                timestamp: Timestamp::now().to_string(),
                action: ProvisioningAction::Other,
                status,
                kind: problem.kind,
                source_id: problem.source_id.clone().unwrap_or_default(),
                display_name: None,
                target_id: None,
                reason: detail.clone(),
                steps: vec![ProvisioningStep {
                    name: StepName::Import,
                    status,
                    detail: detail.clone(),
                }],
                modified_properties: Vec::new(),
                requests: Vec::new(),
                error: Some(ErrorInfo::new(problem.code, detail)),
                duration_ms: 0,
            };
            logs.extend(self.publish(log));
        }
        logs
    }

    /// The disables and deletes held back by the deletion threshold, logged.
    fn stage(&self, planned: &[Planned], record: &RecordOf<'_>, stop: &Stop) -> Vec<LogRecord> {
        planned
            .iter()
            .filter(|p| matches!(p.action, Action::Disable | Action::Delete))
            .filter_map(|p| {
                let mut trace = self.trace(p, record(p).as_deref());
                trace.log.action = ProvisioningAction::StagedDelete;
                trace.step(StepName::Provision, format!("staged: {stop}"));
                self.finished(trace.finish(ProvisioningStatus::Skipped).0, false, false)
            })
            .collect()
    }

    /// The steps of one kind, then the references they left to resolve.
    async fn run_kind(
        &self,
        steps: &[&Planned],
        record: &RecordOf<'_>,
    ) -> Result<Vec<LogRecord>, StateError> {
        let outcomes = self.run_steps(steps, record).await?;
        let mut logs = Vec::new();
        let mut pending = Vec::new();
        for (i, log, references) in outcomes {
            // A quiet step (no log) may still have references to resolve.
            let failed = log
                .as_ref()
                .is_some_and(|l| l.status == ProvisioningStatus::Failure);
            if references && !failed {
                pending.push(steps[i]);
            }
            logs.extend(log);
        }
        // References to objects provisioned later in the cycle (a manager after the
        // user, a group in a group) are set now that both ends exist.
        logs.extend(self.resolve_references(&pending, record).await?);
        Ok(logs)
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
            .buffer_unordered(self.engine.options.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await;
        done.sort_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, t)| t).collect()
    }

    fn stopped(&self) -> bool {
        lock(&self.counters.stop).is_some()
    }

    /// Runs steps several at a time; for each, its log record (none when the cycle
    /// stopped before it) and whether references are left to resolve.
    async fn run_steps(
        &self,
        steps: &[&Planned],
        record: &RecordOf<'_>,
    ) -> Result<Vec<(usize, Option<LogRecord>, bool)>, StateError> {
        self.in_order(steps.len(), |i| async move {
            if self.stopped() {
                return None;
            }
            let record = record(steps[i]);
            let (log, pending) = match self.step(steps[i], record.as_deref()).await {
                Ok(done) => done,
                Err(e) => return Some(Err(e)),
            };
            let quiet = !self.on_demand
                && log.action == ProvisioningAction::Other
                && steps[i].reason == PENDING_REASON;
            let log = self.finished(log, false, quiet);
            (log.is_some() || pending).then_some(Ok((i, log, pending)))
        })
        .await
        .into_iter()
        .collect()
    }

    async fn resolve_references(
        &self,
        pending: &[&Planned],
        record: &RecordOf<'_>,
    ) -> Result<Vec<LogRecord>, StateError> {
        self.in_order(pending.len(), |i| async move {
            if self.stopped() {
                return None;
            }
            let record = record(pending[i]);
            self.reference_step(pending[i], record.as_deref())
                .await
                .map(|log| log.and_then(|log| self.finished(log, true, false)))
                .transpose()
        })
        .await
        .into_iter()
        .collect()
    }

    /// A finished record: counted, then given to `on_log` or kept for the cycle's
    /// logs (a quiet one is only counted).
    fn finished(&self, log: LogRecord, reference: bool, quiet: bool) -> Option<LogRecord> {
        self.count(&log, reference);
        if quiet {
            return None;
        }
        self.publish(log)
    }

    /// Adds a record to the summary and hands it to the engine's log sink; the record
    /// back when there is none, for [`Cycle::logs`].
    fn publish(&self, log: LogRecord) -> Option<LogRecord> {
        lock(&self.counters.summary).add(&log);
        match &self.engine.on_log {
            Some(on_log) => {
                on_log(&log);
                None
            }
            None => Some(log),
        }
    }

    /// Counts an outcome and stops the cycle when the job must be quarantined.
    fn count(&self, log: &LogRecord, reference: bool) {
        let counters = &self.counters;
        if !reference {
            let done = counters.done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(progress) = &self.engine.progress {
                progress(done, counters.total);
            }
        }
        if log.status == ProvisioningStatus::Skipped {
            return;
        }
        let attempted = counters.attempted.fetch_add(1, Ordering::Relaxed) + 1;
        if log.status != ProvisioningStatus::Failure {
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
            .engine
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
            lock(&counters.stop).get_or_insert(Stop::Quarantined(reason));
        }
    }
}
