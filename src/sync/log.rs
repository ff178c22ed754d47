//! Provisioning-log records, in the shape of Entra's provisioning logs: one per object
//! and action, with the steps it went through, the properties it changed and the
//! target's error; and their rendering as a provision-on-demand report.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value as Json;

use super::target::{Attempt, TargetError};
use crate::scim::diff::Change;
use crate::scim::{ObjectKind, ScimType};

/// An enum written as Entra's provisioning logs write its values.
macro_rules! named {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

named! {
    /// What was done to an object (Entra's `provisioningAction`).
    ProvisioningAction {
        Create = "Create",
        Update = "Update",
        Disable = "Disable",
        Delete = "Delete",
        /// A disable or delete held back by the deletion threshold.
        StagedDelete = "StagedDelete",
        /// Nothing to send, out of scope on demand, waiting in escrow, a snapshot problem.
        Other = "Other",
    }
}

named! {
    /// How it went (Entra's `provisioningStatusInfo.status`).
    ProvisioningStatus {
        Success = "Success",
        Failure = "Failure",
        Skipped = "Skipped",
        /// A problem of the snapshot worked around.
        Warning = "Warning",
    }
}

named! {
    /// The steps an object goes through, in order.
    StepName {
        Import = "import",
        Scope = "scope",
        Match = "match",
        Evaluate = "evaluate",
        Provision = "provision",
    }
}

/// One provisioning-log record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogRecord {
    pub cycle_id: i64,
    pub timestamp: String,
    pub action: ProvisioningAction,
    pub status: ProvisioningStatus,
    pub kind: ObjectKind,
    pub source_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    pub reason: String,
    /// import → scope → match → evaluate → provision, as far as the object went.
    pub steps: Vec<ProvisioningStep>,
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
pub struct ProvisioningStep {
    pub name: StepName,
    pub status: ProvisioningStatus,
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
    pub scim_type: Option<ScimType>,
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

impl From<&Change> for Modified {
    fn from(change: &Change) -> Modified {
        Modified {
            name: change.path.clone(),
            old_value: change.old.clone().unwrap_or(Json::Null),
            new_value: change.new.clone().unwrap_or(Json::Null),
        }
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
            ProvisioningStatus::Success => "ok",
            ProvisioningStatus::Skipped => "skipped",
            ProvisioningStatus::Warning => "warning",
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
