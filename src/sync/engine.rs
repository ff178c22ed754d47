//! Running a cycle: each planned action sent to the target as Entra sends it, the state
//! updated after each success, each failure put in escrow, one log record per object.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value as Json};

use super::plan::{fingerprint, plan, source_id, Action, Assignments, PlanOptions, Planned};
use super::state::{Link, State, StateError};
use super::target::{Target, TargetError};
use crate::mapping::{ApplyOptions, Mapping, ObjectMapping, Phase};
use crate::scim::{apply_patch, patch as diff, PatchStyle};

/// One provisioning-log record (Entra's fields, reduced to what scimap knows).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    /// `Create`, `Update`, `Disable`, `Delete` or `Other`.
    pub action: &'static str,
    /// `Success`, `Failure` or `Skipped`.
    pub status: &'static str,
    pub kind: &'static str,
    pub source_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a cycle did, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub disabled: usize,
    pub deleted: usize,
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    State(#[from] StateError),
    /// The target refused the token: the cycle stops (Entra quarantines the job).
    #[error("{0}")]
    Target(TargetError),
}

pub struct Engine {
    pub mapping: Mapping,
    pub state: State,
    pub target: Target,
    pub style: PatchStyle,
    pub plan: PlanOptions,
    /// Send no write request: record each in `would_send` instead (reads, for
    /// matching, still go to the target). Give the engine a copy of the state.
    pub dry_run: bool,
    pub would_send: std::sync::Mutex<Vec<Json>>,
}

/// The target id of each provisioned source object, for references.
struct Links(HashMap<String, String>);

impl crate::mapping::References for Links {
    fn target_id(&self, source_id: &str) -> Option<String> {
        self.0.get(source_id).cloned()
    }
}

fn endpoint(kind: &str) -> &'static str {
    if kind == "Group" {
        "/Groups"
    } else {
        "/Users"
    }
}

impl Engine {
    /// A write request to the target, or in a dry run its record, with an answer made
    /// up so that the cycle goes on (a created object gets the id `dry-run-N`).
    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> Result<super::Answer, TargetError> {
        if !self.dry_run {
            return self.target.send(method, path, body).await;
        }
        let mut sent = self.would_send.lock().unwrap_or_else(|p| p.into_inner());
        sent.push(json!({"method": method.as_str(), "path": path, "body": body}));
        let created = method == Method::POST;
        Ok(super::Answer {
            status: if created { 201 } else { 204 },
            body: created.then(|| json!({"id": format!("dry-run-{}", sent.len())})),
        })
    }

    /// Runs one cycle over a snapshot: users first, then groups (so that members exist).
    pub async fn cycle(
        &self,
        users: &[Json],
        groups: &[Json],
        assignments: &Assignments,
    ) -> Result<(Summary, Vec<LogRecord>), EngineError> {
        let planned = plan(
            users,
            groups,
            assignments,
            &self.mapping,
            &self.state,
            self.plan,
        )?;
        let records: HashMap<(&str, &str), &Json> = users
            .iter()
            .map(|r| ("User", r))
            .chain(groups.iter().map(|r| ("Group", r)))
            .filter_map(|(kind, r)| Some(((kind, source_id(r)?), r)))
            .collect();
        let mut summary = Summary::default();
        let mut logs = Vec::new();
        let mut created = Vec::new();
        for step in &planned {
            let record = records.get(&(step.kind, step.source_id.as_str())).copied();
            let outcome = self.run(step, record).await;
            let (status, target_id, error) = match outcome {
                Ok(target_id) => {
                    self.state.clear(step.kind, &step.source_id)?;
                    match step.action {
                        Action::Create => summary.created += 1,
                        Action::Update => summary.updated += 1,
                        Action::Disable => summary.disabled += 1,
                        Action::Delete => summary.deleted += 1,
                    }
                    ("Success", target_id, None)
                }
                Err(Failure::Target(e @ TargetError::Unauthorized(..))) => {
                    return Err(EngineError::Target(e))
                }
                Err(Failure::State(e)) => return Err(e.into()),
                Err(Failure::Target(e)) => {
                    summary.failed += 1;
                    self.state.fail(
                        step.kind,
                        &step.source_id,
                        &e.to_string(),
                        jiff::Timestamp::now(),
                    )?;
                    ("Failure", None, Some(e.to_string()))
                }
                Err(Failure::Mapping(message)) => {
                    summary.failed += 1;
                    ("Failure", None, Some(message))
                }
            };
            if status == "Success" && step.action == Action::Create {
                created.push(step);
            }
            logs.push(LogRecord {
                action: match step.action {
                    Action::Create => "Create",
                    Action::Update => "Update",
                    Action::Disable => "Disable",
                    Action::Delete => "Delete",
                },
                status,
                kind: step.kind,
                source_id: step.source_id.clone(),
                target_id,
                reason: step.reason.clone(),
                error,
            });
        }
        // References to objects created later in the cycle (a manager after the user)
        // are set now that both ends exist.
        for step in created {
            let (Some(record), Some(link)) = (
                records.get(&(step.kind, step.source_id.as_str())),
                self.state.link(step.kind, &step.source_id)?,
            ) else {
                continue;
            };
            let target_id = Some(link.target_id.clone());
            let error = match self.update(record, link).await {
                Ok(_) => continue,
                Err(Failure::State(e)) => return Err(e.into()),
                Err(Failure::Target(e)) => e.to_string(),
                Err(Failure::Mapping(message)) => message,
            };
            summary.failed += 1;
            self.state
                .fail(step.kind, &step.source_id, &error, jiff::Timestamp::now())?;
            logs.push(LogRecord {
                action: "Update",
                status: "Failure",
                kind: step.kind,
                source_id: step.source_id.clone(),
                target_id,
                reason: "references to objects created in this cycle".into(),
                error: Some(error),
            });
        }
        Ok((summary, logs))
    }

    fn object(&self, kind: &str) -> &ObjectMapping {
        self.mapping
            .object(kind)
            .expect("planned only for mapped kinds")
    }

    /// The resource the mapping makes of a record in a phase, references resolved
    /// through the links made so far; with `exported`, also the PATCH from it.
    fn resource(
        &self,
        kind: &str,
        record: &Json,
        phase: Phase,
        exported: Option<&Json>,
    ) -> Result<(Json, Option<Json>), Failure> {
        let object = self.object(kind);
        let links = Links(
            self.state
                .links("User")?
                .into_iter()
                .map(|l| (l.source_id, l.target_id))
                .collect(),
        );
        let batch = object
            .batch(std::slice::from_ref(record))
            .map_err(|e| Failure::Mapping(e.to_string()))?;
        let options = ApplyOptions {
            context: None,
            phase,
            references: Some(&links),
        };
        let resource = object
            .apply_one(&batch, &options)
            .map_err(|e| Failure::Mapping(e.to_string()))?
            .ok_or_else(|| Failure::Mapping("out of scope".into()))?;
        let patch = exported.and_then(|exported| object.patch(exported, &resource, self.style));
        Ok((resource.to_json(), patch))
    }

    async fn run(&self, step: &Planned, record: Option<&Json>) -> Result<Option<String>, Failure> {
        let kind = step.kind;
        let link = self.state.link(kind, &step.source_id)?;
        match (step.action, record, link) {
            (Action::Create, Some(record), _) => {
                self.create(kind, &step.source_id, record).await.map(Some)
            }
            (Action::Update, Some(record), Some(link)) => self.update(record, link).await.map(Some),
            (Action::Disable, _, Some(link)) => {
                let id = link.target_id.clone();
                self.disable(link).await?;
                Ok(Some(id))
            }
            (Action::Delete, _, Some(link)) => {
                match self
                    .write(
                        Method::DELETE,
                        &format!("{}/{}", endpoint(kind), link.target_id),
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(TargetError::Scim { status: 404, .. }) => {}
                    Err(e) => return Err(Failure::Target(e)),
                }
                self.state.remove_link(kind, &step.source_id)?;
                Ok(Some(link.target_id))
            }
            _ => Err(Failure::Mapping("nothing to act on".into())),
        }
    }

    /// Matches by each matching attribute in precedence order, then creates (or links
    /// to the one match); more than one match is a failure.
    async fn create(
        &self,
        kind: &'static str,
        source: &str,
        record: &Json,
    ) -> Result<String, Failure> {
        let (resource, _) = self.resource(kind, record, Phase::Create, None)?;
        let object = self.object(kind);
        let mut matched = None;
        for attribute in object.matching() {
            let Some(value) = attribute.target.find(&resource).and_then(Json::as_str) else {
                continue;
            };
            let filter = format!("{} eq {}", attribute.target.text, Json::from(value));
            let path = format!("{}?filter={}", endpoint(kind), encode(&filter));
            let found = self
                .target
                .send(Method::GET, &path, None)
                .await
                .map_err(Failure::Target)?;
            let resources = found
                .body
                .as_ref()
                .and_then(|b| b.get("Resources"))
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            match resources.len() {
                0 => continue,
                1 => {
                    matched = Some(resources[0].clone());
                    break;
                }
                n => {
                    return Err(Failure::Mapping(format!(
                        "{n} target objects match {filter}; Entra requires one"
                    )))
                }
            }
        }
        let (target_id, exported) = match matched {
            Some(existing) => (
                existing["id"].as_str().unwrap_or_default().to_string(),
                existing,
            ),
            None => {
                let created = self
                    .write(Method::POST, endpoint(kind), Some(&resource))
                    .await
                    .map_err(Failure::Target)?;
                let body = created.body.unwrap_or(Json::Null);
                let id = body["id"].as_str().map(str::to_string).ok_or_else(|| {
                    Failure::Target(TargetError::NotScim {
                        status: created.status,
                        excerpt: "a created resource without an id".into(),
                    })
                })?;
                (id, resource)
            }
        };
        let link = Link {
            kind: kind.into(),
            source_id: source.into(),
            target_id: target_id.clone(),
            exported,
            source_hash: 0,
            active: true,
        };
        self.state.save_link(&link)?;
        // References and group members go in a PATCH once the object exists.
        self.update(record, link).await
    }

    async fn update(&self, record: &Json, link: Link) -> Result<String, Failure> {
        let (_, patch) = self.resource(&link.kind, record, Phase::Update, Some(&link.exported))?;
        let object = self.object(&link.kind);
        let id = link.target_id.clone();
        let mut updated = link.exported.clone();
        if let Some(body) = patch {
            apply_patch(&mut updated, &body, object.resource)
                .map_err(|e| Failure::Mapping(e.to_string()))?;
            self.write(
                Method::PATCH,
                &format!("{}/{id}", endpoint(&link.kind)),
                Some(&body),
            )
            .await
            .map_err(Failure::Target)?;
        }
        let active = updated
            .get("active")
            .and_then(Json::as_bool)
            .unwrap_or(true);
        self.state.save_link(&Link {
            exported: updated,
            source_hash: fingerprint(record),
            active,
            ..link
        })?;
        Ok(id)
    }

    /// `active = false`, in the chosen PATCH shape, and the link marked inactive.
    async fn disable(&self, link: Link) -> Result<(), Failure> {
        let mut disabled = link.exported.clone();
        disabled["active"] = json!(false);
        if let Some(body) = diff(&link.exported, &disabled, self.style) {
            self.write(
                Method::PATCH,
                &format!("{}/{}", endpoint(&link.kind), link.target_id),
                Some(&body),
            )
            .await
            .map_err(Failure::Target)?;
        }
        self.state.save_link(&Link {
            exported: disabled,
            active: false,
            ..link
        })?;
        Ok(())
    }
}

enum Failure {
    Target(TargetError),
    State(StateError),
    Mapping(String),
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Failure {
        Failure::State(e)
    }
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
