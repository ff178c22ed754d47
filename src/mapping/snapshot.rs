//! Snapshots: what a mapping makes of each sample record, as a named JSON value to
//! store, review and compare (with `scimap snapshot`, or with `insta` in Rust tests).
//!
//! ```
//! use scimap::mapping::{Mapping, SnapshotOptions};
//!
//! let mapping = Mapping::embedded_default();
//! let users = mapping.object("User").unwrap();
//! let records = [serde_json::json!({
//!     "objectId": "7a1c9e52", "userPrincipalName": "zoe@contoso.com",
//!     "givenName": "Zoë", "surname": "Müller",
//! })];
//! for snapshot in users.snapshots(&records, &SnapshotOptions::default())? {
//!     assert_eq!(snapshot.name, "7a1c9e52");
//!     assert_eq!(snapshot.value["outcome"], "resource");
//!     assert_eq!(snapshot.value["resource"]["userName"], "zoe@contoso.com");
//!     // In a test: insta::assert_json_snapshot!(snapshot.name, snapshot.value);
//! }
//! # Ok::<(), scimap::mapping::SnapshotError>(())
//! ```

use std::collections::HashMap;

use serde_json::{json, Map, Value as Json};

use super::{ApplyError, ApplyOptions, ObjectMapping, Phase, References};
use crate::context::Context;
use crate::scim::PatchStyle;

/// The attributes that name a case when no other is chosen, in order.
pub const DEFAULT_NAME_ATTRIBUTES: &[&str] = &["objectId", "id"];

/// Longest snapshot name, in bytes: names become file names.
pub const MAX_NAME_BYTES: usize = 120;

/// How to take snapshots: `SnapshotOptions::default()`, then the fields to change.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct SnapshotOptions<'r> {
    /// What evaluation may depend on; fix `now` and `seed` for snapshots that last.
    pub context: Option<&'r Context>,
    /// Target ids of referenced objects (managers, members).
    pub references: Option<&'r dyn References>,
    /// The record attribute whose value names each snapshot; `objectId`, then `id`,
    /// when `None`.
    pub name: Option<&'r str>,
    /// The resource as last exported to the target, by snapshot name: the PATCH
    /// bodies that would bring it up to date are part of the snapshot.
    pub exported: Option<&'r HashMap<String, Json>>,
}

/// What a mapping made of one record: a name safe for a file, and a JSON value with
/// its keys sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub value: Json,
}

/// Why records cannot be snapshotted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("record {index}: {message}")]
    Record { index: usize, message: String },
    #[error("record {index} has no {} to name its snapshot", names(.attribute))]
    Unnamed {
        index: usize,
        attribute: Option<String>,
    },
    #[error("records {first} and {second} would share the snapshot name `{name}`")]
    Duplicate {
        name: String,
        first: usize,
        second: usize,
    },
}

fn names(attribute: &Option<String>) -> String {
    match attribute {
        Some(name) => format!("`{name}`"),
        None => "`objectId` or `id`".into(),
    }
}

impl ObjectMapping {
    /// One snapshot per record, in order. Names must differ, ignoring case (as file
    /// names do on some systems).
    pub fn snapshots(
        &self,
        records: &[Json],
        options: &SnapshotOptions<'_>,
    ) -> Result<Vec<Snapshot>, SnapshotError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let name =
                snapshot_name(record, options.name).ok_or_else(|| SnapshotError::Unnamed {
                    index,
                    attribute: options.name.map(str::to_string),
                })?;
            if let Some(&first) = seen.get(&name.to_lowercase()) {
                return Err(SnapshotError::Duplicate {
                    name,
                    first,
                    second: index,
                });
            }
            seen.insert(name.to_lowercase(), index);
            let value = self
                .snapshot(&name, record, options)
                .map_err(|message| SnapshotError::Record { index, message })?;
            out.push(Snapshot { name, value });
        }
        Ok(out)
    }

    /// The snapshot value of one record under the name `name`: the resource, the
    /// out-of-scope verdict or the error, and the PATCH bodies in both of Entra's
    /// shapes when `options.exported` holds the resource last sent. Fails only when
    /// the record is not a JSON object.
    pub fn snapshot(
        &self,
        name: &str,
        record: &Json,
        options: &SnapshotOptions<'_>,
    ) -> Result<Json, String> {
        let batch = self
            .batch(std::slice::from_ref(record))
            .map_err(|e| e.to_string())?;
        let apply = |phase| ApplyOptions {
            context: options.context,
            phase,
            references: options.references,
        };
        let mut value = json!({
            "case": record_name(record, options.name).unwrap_or_else(|| name.to_string()),
            "object": self.target.name(),
        });
        match self.apply_one(&batch, &apply(Phase::Create)) {
            Ok(None) => value["outcome"] = json!("outOfScope"),
            Err(error) => {
                value["outcome"] = json!("error");
                value["error"] = self.error_json(&error);
            }
            Ok(Some(resource)) => {
                value["outcome"] = json!("resource");
                value["resource"] = resource.to_json();
                if !resource.unresolved.is_empty() {
                    value["unresolved"] = unresolved(&resource.unresolved);
                }
                if let Some(exported) = options.exported.and_then(|e| e.get(name)) {
                    value["patch"] = match self.apply_one(&batch, &apply(Phase::Update)) {
                        Ok(Some(updated)) => {
                            let mut patch = match self.target.scim() {
                                Some(_) => json!({
                                    "legacy": self.patch(exported, &updated, PatchStyle::Legacy),
                                    "rfc": self.patch(exported, &updated, PatchStyle::Rfc),
                                }),
                                None => json!({"changes": self.changes(exported, &updated)}),
                            };
                            if !updated.unresolved.is_empty() {
                                patch["unresolved"] = unresolved(&updated.unresolved);
                            }
                            patch
                        }
                        Ok(None) => json!({"outcome": "outOfScope"}),
                        Err(error) => json!({"error": self.error_json(&error)}),
                    };
                }
            }
        }
        Ok(sorted(value))
    }

    /// An error as a snapshot shows it: the target, the message, and the diagnostic
    /// drawn under the expression.
    fn error_json(&self, error: &ApplyError) -> Json {
        let mut out = json!({"message": error.message});
        if let Some(target) = &error.target {
            out["target"] = json!(target);
        }
        let program = self
            .attributes
            .iter()
            .find(|a| Some(&a.target.text) == error.target.as_ref())
            .and_then(|a| a.program.as_ref());
        if let (Some(eval), Some(program)) = (&error.eval, program) {
            let origin = error.target.as_deref().unwrap_or("<expression>");
            let rendered = eval.diagnostic().render(program.source(), origin, false);
            out["diagnostic"] = json!(rendered.lines().collect::<Vec<_>>());
        }
        out
    }
}

/// References left out for want of a target id, as (target path, source id).
fn unresolved(references: &[(String, String)]) -> Json {
    references
        .iter()
        .map(|(target, id)| json!({"target": target, "id": id}))
        .collect()
}

/// The record's value that names its case, as written.
fn record_name(record: &Json, attribute: Option<&str>) -> Option<String> {
    let text = |name: &str| match record.get(name)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match attribute {
        Some(name) => text(name),
        None => DEFAULT_NAME_ATTRIBUTES.iter().find_map(|name| text(name)),
    }
}

/// The name of a record's snapshot: its naming attribute's value made safe for a file
/// name (letters, digits and `.` `_` `-` `@` `+` kept, anything else `_`, at most
/// [`MAX_NAME_BYTES`]).
pub fn snapshot_name(record: &Json, attribute: Option<&str>) -> Option<String> {
    record_name(record, attribute).map(|name| safe_name(&name))
}

fn safe_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
        let c = if keep { c } else { '_' };
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    out
}

/// `value` with the keys of every object sorted, so that a snapshot reads the same
/// whatever order the mapping lists its attributes in.
pub fn sorted(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<(String, Json)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_for_files() {
        assert_eq!(safe_name("zoe@contoso.com"), "zoe@contoso.com");
        assert_eq!(safe_name("../etc/passwd"), "_._etc_passwd");
        assert_eq!(safe_name("a b/c:d"), "a_b_c_d");
        assert_eq!(safe_name("Zoë"), "Zoë");
        assert!(safe_name(&"é".repeat(200)).len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn duplicates_ignore_case() {
        let mapping = crate::Mapping::embedded_default();
        let users = mapping.object("User").unwrap();
        let records = [json!({"objectId": "A"}), json!({"objectId": "a"})];
        let error = users
            .snapshots(&records, &SnapshotOptions::default())
            .unwrap_err();
        assert_eq!(
            error,
            SnapshotError::Duplicate {
                name: "a".into(),
                first: 0,
                second: 1
            }
        );
    }

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let value = sorted(json!({"b": {"z": 1, "a": [{"y": 1, "x": 2}]}, "a": 0}));
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"a":0,"b":{"a":[{"x":2,"y":1}],"z":1}}"#
        );
    }
}
