//! Provisioning-log records, in the shape of Entra's provisioning logs: one per object
//! and action, with the steps it went through, the properties it changed and the
//! target's error; and their rendering as a provision-on-demand report.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

use super::target::{Attempt, TargetError};

/// One provisioning-log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    pub cycle_id: i64,
    pub timestamp: String,
    /// `Create`, `Update`, `Disable`, `Delete`, `StagedDelete` or `Other`.
    pub action: &'static str,
    /// `Success`, `Failure` or `Skipped`.
    pub status: &'static str,
    /// `User` or `Group`.
    pub kind: &'static str,
    pub source_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    pub reason: String,
    /// import → scope → match → evaluate → provision, as far as the object went.
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub modified_properties: Vec<Modified>,
    /// Every request sent to the target for this object, each attempt on its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<Attempt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// `import`, `scope`, `match`, `evaluate` or `provision`.
    pub name: &'static str,
    pub status: &'static str,
    pub detail: String,
}

/// A target attribute the action changed, from its old value to its new one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Modified {
    pub name: String,
    pub old_value: Json,
    pub new_value: Json,
}

/// Why an object failed: a code, and the target's status, `scimType` and `detail`
/// when it answered in SCIM.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    pub code: &'static str,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ErrorInfo {
    pub fn new(code: &'static str, reason: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            code,
            reason: reason.into(),
            status: None,
            scim_type: None,
            detail: None,
        }
    }
}

impl From<&TargetError> for ErrorInfo {
    fn from(e: &TargetError) -> ErrorInfo {
        let code = match e {
            TargetError::Unreachable(_) => "TargetUnreachable",
            TargetError::Tls(_) => "TargetTls",
            TargetError::Timeout(_) => "TargetTimeout",
            TargetError::Cut(_) => "TargetConnectionClosed",
            TargetError::CutMidResponse { .. } => "TargetResponseCut",
            TargetError::Unauthorized(..) => "Unauthorized",
            TargetError::Scim { status, .. } if *status >= 500 => "TargetFailed",
            TargetError::Scim { .. } => "TargetRejected",
            TargetError::NotScim { .. } => "TargetIncompatible",
        };
        let mut info = ErrorInfo::new(code, e.to_string());
        match e {
            TargetError::Scim {
                status,
                scim_type,
                detail,
            } => {
                info.status = Some(*status);
                info.scim_type = scim_type.clone();
                info.detail = Some(detail.clone());
            }
            other => info.status = other.status(),
        }
        info
    }
}

/// The attributes that differ between two versions of a resource, by path:
/// `name.givenName`, `emails[type eq "work"].value`, an extension's
/// `urn:…:User:department`; arrays without `type` are compared whole.
pub fn modified(old: &Json, new: &Json) -> Vec<Modified> {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    flatten("", old, &mut before);
    flatten("", new, &mut after);
    let was = |path: &str| {
        before
            .iter()
            .find(|(p, _)| p == path)
            .map_or(&Json::Null, |(_, v)| v)
    };
    // Absent and null are one value: a create from nothing reports only what it sets.
    let mut changes: Vec<Modified> = after
        .iter()
        .filter(|(path, value)| was(path) != value)
        .map(|(path, value)| Modified {
            name: path.clone(),
            old_value: was(path).clone(),
            new_value: value.clone(),
        })
        .collect();
    changes.extend(
        before
            .iter()
            .filter(|(path, value)| !value.is_null() && !after.iter().any(|(p, _)| p == path))
            .map(|(path, value)| Modified {
                name: path.clone(),
                old_value: value.clone(),
                new_value: Json::Null,
            }),
    );
    changes
}

fn flatten(prefix: &str, value: &Json, out: &mut Vec<(String, Json)>) {
    match value {
        Json::Object(map) => {
            for (key, value) in map {
                let path = match prefix {
                    "" if matches!(key.as_str(), "schemas" | "meta" | "id") => continue,
                    // An extension's attributes are named after its URN, with a colon.
                    "" if key.starts_with("urn:") && value.is_object() => {
                        for (name, value) in value.as_object().into_iter().flatten() {
                            flatten(&format!("{key}:{name}"), value, out);
                        }
                        continue;
                    }
                    "" => key.clone(),
                    prefix => format!("{prefix}.{key}"),
                };
                flatten(&path, value, out);
            }
        }
        Json::Array(items)
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("type").is_some_and(Json::is_string)) =>
        {
            for item in items {
                let kind = item["type"].as_str().unwrap_or_default();
                let element = format!("{prefix}[type eq {}]", Json::from(kind));
                for (key, value) in item.as_object().into_iter().flatten() {
                    if key != "type" {
                        flatten(&format!("{element}.{key}"), value, out);
                    }
                }
            }
        }
        value => out.push((prefix.to_string(), value.clone())),
    }
}

/// A provision-on-demand report: each step with its outcome, then what changed.
pub fn report(record: &LogRecord) -> String {
    let mut out = String::new();
    let name = record.display_name.as_deref().unwrap_or(&record.source_id);
    let _ = writeln!(
        out,
        "{} {name} ({}): {} {}",
        record.kind, record.source_id, record.action, record.status
    );
    for (i, step) in record.steps.iter().enumerate() {
        let mark = match step.status {
            "Success" => "ok",
            "Skipped" => "skipped",
            _ => "FAILED",
        };
        let _ = writeln!(
            out,
            "  {}. {:<9} {:<7} {}",
            i + 1,
            step.name,
            mark,
            step.detail
        );
    }
    if !record.modified_properties.is_empty() {
        let _ = writeln!(out, "  modified properties:");
        for m in &record.modified_properties {
            let _ = writeln!(out, "    {}: {} -> {}", m.name, m.old_value, m.new_value);
        }
    }
    if let Some(error) = &record.error {
        let _ = writeln!(out, "  error {}: {}", error.code, error.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn modified_properties_by_scim_path() {
        let old = json!({"schemas": ["x"], "id": "1", "userName": "a", "active": true,
            "name": {"givenName": "Ada"},
            "emails": [{"type": "work", "value": "a@x", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            "members": [{"value": "1"}]});
        let new = json!({"schemas": ["y"], "id": "1", "userName": "a", "active": false,
            "name": {"givenName": "Ada", "familyName": "L"},
            "emails": [{"type": "work", "value": "b@x", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {},
            "members": [{"value": "1"}, {"value": "2"}]});
        let names: Vec<(String, Json, Json)> = modified(&old, &new)
            .into_iter()
            .map(|m| (m.name, m.old_value, m.new_value))
            .collect();
        assert_eq!(
            names,
            [
                ("active".into(), json!(true), json!(false)),
                ("name.familyName".into(), Json::Null, json!("L")),
                (
                    "emails[type eq \"work\"].value".into(),
                    json!("a@x"),
                    json!("b@x")
                ),
                (
                    "members".into(),
                    json!([{"value": "1"}]),
                    json!([{"value": "1"}, {"value": "2"}])
                ),
                (
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department".into(),
                    json!("R&D"),
                    Json::Null
                ),
            ]
        );
        assert!(modified(&old, &old).is_empty());
        let created = modified(&Json::Null, &json!({"userName": "a", "title": null}));
        let names: Vec<&str> = created.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["userName"],
            "a create lists what it sets, and nothing else"
        );
        assert!(modified(&json!({"title": null}), &json!({})).is_empty());
    }
}
