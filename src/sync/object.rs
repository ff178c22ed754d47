//! One object's actions in a cycle: match it in the target, create it (never twice),
//! update what changed, disable or delete it; each request logged in the object's
//! record, each failure put in escrow.

use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{json, Value as Json};

use super::cycle::{lock, read, write, Run};
use super::engine::MEMBER_BATCH;
use super::log::{
    ErrorInfo, LogRecord, Modified, ProvisioningAction, ProvisioningStatus, ProvisioningStep,
    StepName,
};
use super::plan::{fingerprint, Action, Planned, PENDING};
use super::state::{Link, StateError};
use super::target::{Answer, TargetError};
use crate::mapping::{ApplyOptions, ObjectMapping, Phase, TargetAttribute};
use crate::scim::{apply_patch, in_batches, Diff, ObjectKind};
use crate::Context;

/// Why an object's action failed.
pub(super) enum Failure {
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
pub(super) struct Trace {
    pub(super) log: LogRecord,
    current: StepName,
    /// References that could not be resolved yet.
    pending: bool,
    started: Instant,
}

impl Trace {
    pub(super) fn step(&mut self, name: StepName, detail: impl Into<String>) {
        self.log.steps.push(ProvisioningStep {
            name,
            status: ProvisioningStatus::Success,
            detail: detail.into(),
        });
    }

    fn at(&mut self, name: StepName) {
        self.current = name;
    }

    pub(super) fn finish(mut self, status: ProvisioningStatus) -> (LogRecord, bool) {
        self.log.status = status;
        self.log.duration_ms = self.started.elapsed().as_millis() as u64;
        (self.log, self.pending)
    }
}

/// What the mapping makes of a record; for a linked object, also the state the target
/// should hold from what was exported.
pub(super) struct Evaluated {
    pub(super) resource: Json,
    pub(super) desired: Option<Json>,
    pub(super) pending: bool,
}

/// Whether a value a target returned is the value searched for: exactly for `id` and
/// `externalId` (case-exact in RFC 7643), ignoring case otherwise, as Entra compares
/// `userName`.
fn same_value(attribute: &TargetAttribute, found: &str, wanted: &str) -> bool {
    match attribute.attribute.as_str() {
        "id" | "externalId" if attribute.sub.is_none() => found == wanted,
        _ => found.to_lowercase() == wanted.to_lowercase(),
    }
}

/// References resolved through the links made so far.
struct Links<'r>(&'r Run<'r>);

impl crate::mapping::References for Links<'_> {
    fn target_id(&self, source_id: &str) -> Option<String> {
        read(&self.0.links).target(source_id).map(|t| t.to_string())
    }
}

fn modified(diff: &Diff) -> Vec<Modified> {
    diff.changes().iter().map(Modified::from).collect()
}

impl Run<'_> {
    /// A log record begun with the import and scope steps.
    pub(super) fn trace(&self, planned: &Planned, record: Option<&Json>) -> Trace {
        let display_name = record.and_then(|r| {
            ["displayName", "userPrincipalName"]
                .iter()
                .find_map(|k| r.get(*k).and_then(Json::as_str))
                .map(str::to_string)
        });
        let mut trace = Trace {
            log: LogRecord {
                cycle_id: self.id,
                timestamp: Timestamp::now().to_string(),
                action: match planned.action {
                    Action::Create => ProvisioningAction::Create,
                    Action::Update => ProvisioningAction::Update,
                    Action::Disable => ProvisioningAction::Disable,
                    Action::Delete => ProvisioningAction::Delete,
                    Action::Skip => ProvisioningAction::Other,
                },
                status: ProvisioningStatus::Success,
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
            current: StepName::Import,
            pending: false,
            started: Instant::now(),
        };
        match record {
            Some(_) => trace.step(StepName::Import, "read from the source snapshot"),
            None => trace.step(StepName::Import, "not in the source snapshot"),
        }
        trace.at(StepName::Scope);
        trace.step(StepName::Scope, planned.scope);
        trace
    }

    /// One planned action, logged; only the state failing is an error.
    pub(super) async fn step(
        &self,
        planned: &Planned,
        record: Option<&Json>,
    ) -> Result<(LogRecord, bool), StateError> {
        let mut trace = self.trace(planned, record);
        let (kind, id) = (planned.kind, &planned.source_id);
        if planned.action == Action::Skip {
            return Ok(trace.finish(ProvisioningStatus::Skipped));
        }
        let escrow = self.escrowed.get(&(kind, id.to_string()));
        if let Some(escrow) = escrow {
            if !self.on_demand && escrow.next_attempt > Timestamp::now() {
                trace.log.action = ProvisioningAction::Other;
                trace.log.reason = format!(
                    "in escrow after {} failures, next attempt at {}: {}",
                    escrow.attempts, escrow.next_attempt, escrow.error
                );
                return Ok(trace.finish(ProvisioningStatus::Skipped));
            }
        }
        let state = &self.engine.state;
        let outcome = match (planned.action, record) {
            (Action::Create, Some(record)) => self.create(&mut trace, kind, id, record).await,
            (Action::Update, Some(record)) => match state.link(kind, id)? {
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
                    state.clear(kind, id)?;
                }
                let status = if trace.log.action == ProvisioningAction::Other {
                    ProvisioningStatus::Skipped
                } else {
                    ProvisioningStatus::Success
                };
                return Ok(trace.finish(status));
            }
            Err(Failure::State(e)) => return Err(e),
            Err(Failure::Target(e)) => ErrorInfo::from(&e),
            Err(Failure::Mapping(code, reason)) => ErrorInfo::new(code, reason),
        };
        self.fail(&mut trace, error)?;
        Ok(trace.finish(ProvisioningStatus::Failure))
    }

    fn fail(&self, trace: &mut Trace, error: ErrorInfo) -> Result<(), StateError> {
        trace.log.steps.push(ProvisioningStep {
            name: trace.current,
            status: ProvisioningStatus::Failure,
            detail: error.reason.clone(),
        });
        // A refused token is the job's problem, not the object's: no escrow.
        if error.code != "Unauthorized" {
            self.engine.state.fail(
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
    pub(super) async fn reference_step(
        &self,
        planned: &Planned,
        record: Option<&Json>,
    ) -> Result<Option<LogRecord>, StateError> {
        let link = self.engine.state.link(planned.kind, &planned.source_id)?;
        let (Some(record), Some(link)) = (record, link) else {
            return Ok(None);
        };
        let mut trace = self.trace(planned, Some(record));
        trace.log.action = ProvisioningAction::Update;
        trace.log.reason = "references to objects provisioned in this cycle".into();
        let error = match self.update(&mut trace, record, link, false).await {
            Ok(()) if trace.log.action == ProvisioningAction::Other => return Ok(None),
            Ok(()) => return Ok(Some(trace.finish(ProvisioningStatus::Success).0)),
            Err(Failure::State(e)) => return Err(e),
            Err(Failure::Target(e)) => ErrorInfo::from(&e),
            Err(Failure::Mapping(code, reason)) => ErrorInfo::new(code, reason),
        };
        self.fail(&mut trace, error)?;
        Ok(Some(trace.finish(ProvisioningStatus::Failure).0))
    }

    pub(super) fn object(&self, kind: ObjectKind) -> &ObjectMapping {
        self.engine
            .mapping
            .object(kind.as_str())
            .expect("planned only for mapped kinds")
    }

    /// The resource the mapping makes of a record in a phase, references resolved
    /// through the links made so far, with `context` for `SelectUniqueValue`.
    pub(super) fn evaluate_with(
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
        let links = Links(self);
        let options = ApplyOptions {
            context,
            phase,
            references: Some(&links),
        };
        let resource = object
            .apply_one(&batch, &options)
            .map_err(|e| mapping_failed(&e))?
            .ok_or_else(|| Failure::Mapping("OutOfScope", "out of the scoping filters".into()))?;
        Ok(Evaluated {
            pending: !resource.unresolved.is_empty(),
            desired: link.map(|l| object.desired(&l.exported, &resource)),
            resource: resource.to_json(),
        })
    }

    /// The target objects whose `attribute` equals `value`, as the target answers a
    /// filter for it, keeping only those whose value really is `value`: a target that
    /// ignores filters, or matches on part of a value, does not make a match.
    pub(super) async fn find(
        &self,
        trace: &mut Trace,
        kind: ObjectKind,
        attribute: &TargetAttribute,
        value: &str,
    ) -> Result<Vec<Json>, Failure> {
        let filter = format!("{} eq {}", attribute.text, Json::from(value));
        let excluded = match kind {
            ObjectKind::Group => "&excludedAttributes=members",
            ObjectKind::User => "",
        };
        let path = format!("{}?filter={}{excluded}", kind.endpoint(), encode(&filter));
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
                StepName::Match,
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
        kind: ObjectKind,
        source: &Arc<str>,
        record: &Json,
    ) -> Result<(), Failure> {
        trace.at(StepName::Evaluate);
        let evaluated = self
            .evaluate(trace, kind, record, Phase::Create, None)
            .await?;
        let missing = self.required.missing(kind, &evaluated.resource);
        if !missing.is_empty() {
            return Err(Failure::Mapping(
                "RequiredValueMissing",
                format!(
                    "the target requires {} and the mapping gives no value: not created",
                    missing.join(", ")
                ),
            ));
        }
        trace.at(StepName::Match);
        let matched = self
            .match_target(trace, kind, source, &evaluated.resource)
            .await?;
        trace.at(StepName::Evaluate);
        trace.step(
            StepName::Evaluate,
            format!(
                "{} target attributes",
                evaluated.resource.as_object().map_or(0, |o| o.len())
            ),
        );
        trace.at(StepName::Provision);
        let (target_id, exported) = match matched {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_string();
                trace.log.action = ProvisioningAction::Update;
                trace.log.reason = "in scope, matched an existing target object".into();
                (id, existing)
            }
            None => {
                let id = self.post(trace, kind, source, &evaluated.resource).await?;
                trace.log.modified_properties = modified(&Diff::created(&evaluated.resource));
                (id, evaluated.resource)
            }
        };
        let link = Link {
            kind,
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
        kind: ObjectKind,
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
                    trace.step(
                        StepName::Match,
                        format!("matched target object {id} by {filter}"),
                    );
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
                StepName::Match,
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
        kind: ObjectKind,
        source: &Arc<str>,
        resource: &Json,
    ) -> Result<String, Failure> {
        let path = kind.endpoint();
        let error = match self.send(trace, Method::POST, path, Some(resource)).await {
            Err(Failure::Target(e)) if e.outcome_unknown() => e,
            Err(e) => return Err(e),
            Ok(created) => {
                let id = created.body.as_ref().and_then(|b| b["id"].as_str());
                if let Some(id) = id {
                    trace.step(
                        StepName::Provision,
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
        };
        trace.step(
            StepName::Provision,
            format!("POST {path}: {error}; the target may have created the object, so it is matched again instead of sent again"),
        );
        trace.at(StepName::Match);
        let found = self.match_target(trace, kind, source, resource).await?;
        trace.at(StepName::Provision);
        match found {
            Some(existing) => {
                let id = existing["id"].as_str().unwrap_or_default().to_string();
                trace.step(
                    StepName::Provision,
                    format!("the create had reached the target: linked to {id}"),
                );
                Ok(id)
            }
            None => Err(Failure::Target(error)),
        }
    }

    /// PATCHes what changed since the last export (`Other` when nothing did). The log's
    /// modified properties are the changes of the very diff the PATCH is made from.
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
                StepName::Match,
                format!("linked to target object {id} in an earlier cycle"),
            );
        }
        trace.at(StepName::Evaluate);
        let evaluated = self
            .evaluate(trace, link.kind, record, Phase::Update, Some(&link))
            .await?;
        let mut desired = evaluated.desired.unwrap_or_default();
        // A user back in scope is enabled again, whether the mapping sets `active` or not.
        if !link.active && link.exported.get("active").is_some() {
            desired["active"] = json!(true);
        }
        let diff = Diff::between(&link.exported, &desired);
        let patch = diff.patch(self.engine.style);
        let mut updated = link.exported.clone();
        if let Some(body) = &patch {
            let object = self.object(link.kind);
            let resource = object.target.scim().ok_or_else(|| {
                let why = format!("{} is not a SCIM resource type", object.target);
                Failure::Mapping("MappingFailed", why)
            })?;
            apply_patch(&mut updated, body, resource)
                .map_err(|e| Failure::Mapping("MappingFailed", e.to_string()))?;
        }
        if log_match {
            trace.step(
                StepName::Evaluate,
                format!("{} target attributes changed", diff.changes().len()),
            );
        }
        trace.at(StepName::Provision);
        match patch {
            Some(body) => {
                self.send_patch(trace, link.kind, &id, &body).await?;
                trace.log.modified_properties.extend(modified(&diff));
            }
            None if trace.log.action == ProvisioningAction::Create => {}
            None => {
                trace.log.action = ProvisioningAction::Other;
                trace.step(
                    StepName::Provision,
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
                PENDING
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
    async fn disable(
        &self,
        trace: &mut Trace,
        kind: ObjectKind,
        source: &str,
    ) -> Result<(), Failure> {
        let link = self.linked(trace, kind, source)?;
        let mut disabled = link.exported.clone();
        disabled["active"] = json!(false);
        trace.at(StepName::Evaluate);
        trace.step(StepName::Evaluate, "active: false");
        trace.at(StepName::Provision);
        let diff = Diff::between(&link.exported, &disabled);
        if let Some(body) = diff.patch(self.engine.style) {
            self.send_patch(trace, kind, &link.target_id, &body).await?;
        }
        trace.log.modified_properties = modified(&diff);
        self.save(&Link {
            exported: disabled,
            active: false,
            ..link
        })?;
        Ok(())
    }

    async fn delete(
        &self,
        trace: &mut Trace,
        kind: ObjectKind,
        source: &str,
    ) -> Result<(), Failure> {
        let link = self.linked(trace, kind, source)?;
        trace.at(StepName::Provision);
        let path = format!("{}/{}", kind.endpoint(), link.target_id);
        let status = match self.send(trace, Method::DELETE, &path, None).await {
            Ok(answer) => answer.status,
            Err(Failure::Target(TargetError::Scim { status: 404, .. })) => 404,
            Err(e) => return Err(e),
        };
        trace.step(StepName::Provision, format!("DELETE {path} -> {status}"));
        self.engine.state.remove_link(kind, source)?;
        write(&self.links).remove(source);
        Ok(())
    }

    /// A PATCH, in several requests when it changes more members than one may carry.
    async fn send_patch(
        &self,
        trace: &mut Trace,
        kind: ObjectKind,
        target_id: &str,
        body: &Json,
    ) -> Result<(), Failure> {
        let path = format!("{}/{target_id}", kind.endpoint());
        for batch in in_batches(body, MEMBER_BATCH) {
            let answer = self.send(trace, Method::PATCH, &path, Some(&batch)).await?;
            trace.step(
                StepName::Provision,
                format!("PATCH {path} -> {}", answer.status),
            );
        }
        Ok(())
    }

    fn linked(&self, trace: &mut Trace, kind: ObjectKind, source: &str) -> Result<Link, Failure> {
        trace.at(StepName::Match);
        let link =
            self.engine.state.link(kind, source)?.ok_or_else(|| {
                Failure::Mapping("NotLinked", "not linked to a target object".into())
            })?;
        trace.log.target_id = Some(link.target_id.clone());
        trace.step(
            StepName::Match,
            format!("linked to target object {}", link.target_id),
        );
        Ok(link)
    }

    fn save(&self, link: &Link) -> Result<(), StateError> {
        self.engine.state.save_link(link)?;
        // Claimed when the object was matched or created; an update keeps its target.
        let _ = write(&self.links).claim(&link.source_id.as_str().into(), &link.target_id);
        Ok(())
    }

    /// A request to the target, each attempt logged in the object's record. A write
    /// goes out only while the engine's fence allows it (a worker's lease). In a dry
    /// run a write request is only recorded, with an answer made up so that the cycle
    /// goes on (a created object gets the id `dry-run-N`); reads still go out.
    pub(super) async fn send(
        &self,
        trace: &mut Trace,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<Answer, Failure> {
        if method != Method::GET {
            if let Some(fence) = &self.engine.fence {
                fence()?;
            }
        }
        if !self.engine.dry_run || method == Method::GET {
            let (outcome, attempts) = self.engine.target.exchange(method, path, body).await;
            trace.log.requests.extend(attempts);
            return Ok(outcome?);
        }
        let mut sent = lock(&self.would_send);
        sent.push(json!({"method": method.as_str(), "path": path, "body": body}));
        let created = method == Method::POST;
        Ok(Answer {
            status: if created { 201 } else { 204 },
            body: created.then(|| json!({"id": format!("dry-run-{}", sent.len())})),
        })
    }
}

/// Percent-encoding of a filter for a query string.
pub(super) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
