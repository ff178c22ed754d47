//! SCIM PATCH requests (RFC 7644 §3.5.2) from two states of a resource, in the two
//! shapes Entra sends: its legacy one and the `aadOptscim062020` (RFC) one.

use serde_json::{json, Map, Value as Json};

use super::diff::{Change, Diff};
use super::schema::PATCH_OP;

/// Which of Entra's PATCH shapes to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchStyle {
    /// Entra's default: capitalised ops, one `Replace` per path, booleans as `"True"`
    /// and `"False"`, members removed with a value array.
    Legacy,
    /// `aadOptscim062020`: lower-case ops, JSON booleans, simple changes folded into one
    /// path-less `replace`, members removed by a `members[value eq "…"]` path.
    #[default]
    Rfc,
}

/// A PatchOp request body changing `old` into `new`, or `None` when nothing changed:
/// the PATCH of [`Diff::between`].
///
/// ```
/// use scimap::scim::{patch, PatchStyle};
/// use serde_json::json;
///
/// let old = json!({"userName": "a@contoso.com", "active": true, "name": {"familyName": "Doe"}});
/// let new = json!({"userName": "a@contoso.com", "active": false, "name": {"familyName": "Dow"}});
/// let body = patch(&old, &new, PatchStyle::Legacy).unwrap();
/// assert_eq!(body["Operations"], json!([
///     {"op": "Replace", "path": "active", "value": "False"},
///     {"op": "Replace", "path": "name.familyName", "value": "Dow"},
/// ]));
/// ```
pub fn patch(old: &Json, new: &Json, style: PatchStyle) -> Option<Json> {
    Diff::between(old, new).patch(style)
}

/// A PatchOp body around some operations.
pub fn patch_body(operations: Vec<Json>) -> Json {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// The operations setting changed values (each with whether it names an element by
/// its `type`): in the legacy shape one per path, `Add` where there was no value; in
/// the RFC shape the simple ones folded into one path-less `replace`.
pub(super) fn operations<'c>(
    changed: impl Iterator<Item = (&'c Change, bool)>,
    style: PatchStyle,
) -> Vec<Json> {
    let op = |change: &Change| {
        let (add, replace) = match style {
            PatchStyle::Legacy => ("Add", "Replace"),
            PatchStyle::Rfc => ("add", "replace"),
        };
        let value = change.new.clone().unwrap_or(Json::Null);
        let value = match style {
            PatchStyle::Legacy => legacy_value(value),
            PatchStyle::Rfc => value,
        };
        let op = if change.old.is_some() { replace } else { add };
        json!({"op": op, "path": change.path, "value": value})
    };
    match style {
        PatchStyle::Legacy => changed.map(|(c, _)| op(c)).collect(),
        PatchStyle::Rfc => {
            let (simple, filtered): (Vec<_>, Vec<_>) = changed.partition(|(_, f)| !f);
            let mut ops = Vec::new();
            if simple.len() > 1 {
                let value: Map<String, Json> = simple
                    .into_iter()
                    .map(|(c, _)| (c.path.clone(), c.new.clone().unwrap_or(Json::Null)))
                    .collect();
                ops.push(json!({"op": "replace", "value": value}));
            } else {
                ops.extend(simple.into_iter().map(|(c, _)| op(c)));
            }
            ops.extend(filtered.into_iter().map(|(c, _)| op(c)));
            ops
        }
    }
}

/// Operations adding and removing group members, by target id.
pub fn member_operations(added: &[String], removed: &[String], style: PatchStyle) -> Vec<Json> {
    let mut ops = Vec::new();
    let (add, remove) = match style {
        PatchStyle::Legacy => ("Add", "Remove"),
        PatchStyle::Rfc => ("add", "remove"),
    };
    if !added.is_empty() {
        let value: Vec<Json> = added.iter().map(|id| json!({"value": id})).collect();
        ops.push(json!({"op": add, "path": "members", "value": value}));
    }
    match style {
        _ if removed.is_empty() => {}
        PatchStyle::Legacy => {
            let value: Vec<Json> = removed.iter().map(|id| json!({"value": id})).collect();
            ops.push(json!({"op": remove, "path": "members", "value": value}));
        }
        PatchStyle::Rfc => ops.extend(removed.iter().map(|id| {
            let filter = format!("members[value eq {}]", Json::from(id.as_str()));
            json!({"op": remove, "path": filter})
        })),
    }
    ops
}

/// Booleans as Entra's legacy PATCH writes them, at any depth.
fn legacy_value(value: Json) -> Json {
    match value {
        Json::Bool(true) => Json::from("True"),
        Json::Bool(false) => Json::from("False"),
        Json::Array(items) => Json::Array(items.into_iter().map(legacy_value).collect()),
        Json::Object(map) => {
            Json::Object(map.into_iter().map(|(k, v)| (k, legacy_value(v))).collect())
        }
        other => other,
    }
}

/// A PATCH split so that no request carries more than `size` member values: the
/// member changes of a large group go in several requests, the other changes in the
/// first.
pub fn in_batches(body: &Json, size: usize) -> Vec<Json> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Json {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "a@contoso.com",
            "active": true,
            "emails": [{"type": "work", "value": "a@contoso.com", "primary": true}],
            "name": {"givenName": "A", "familyName": "B"},
        })
    }

    #[test]
    fn nothing_changed_is_no_request() {
        assert_eq!(patch(&user(), &user(), PatchStyle::Legacy), None);
        assert_eq!(patch(&user(), &user(), PatchStyle::Rfc), None);
    }

    #[test]
    fn rfc_folds_simple_changes_and_keeps_filtered_paths_apart() {
        let mut new = user();
        new["active"] = json!(false);
        new["name"]["givenName"] = json!("Z");
        new["emails"][0]["value"] = json!("z@contoso.com");
        new["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
            json!({"department": "Retail"});
        let body = patch(&user(), &new, PatchStyle::Rfc).unwrap();
        assert_eq!(
            body["Operations"],
            json!([
                {"op": "replace", "value": {
                    "active": false,
                    "name.givenName": "Z",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Retail",
                }},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "z@contoso.com"},
            ])
        );
    }

    #[test]
    fn legacy_adds_what_was_absent_and_never_removes() {
        let mut new = user();
        new.as_object_mut().unwrap().remove("name");
        new["title"] = json!("Boss");
        let body = patch(&user(), &new, PatchStyle::Legacy).unwrap();
        assert_eq!(
            body["Operations"],
            json!([{"op": "Add", "path": "title", "value": "Boss"}])
        );
    }

    #[test]
    fn a_new_element_sends_its_values_not_its_markers() {
        let old = json!({"userName": "a"});
        let new =
            json!({"userName": "a", "emails": [{"primary": true, "type": "work", "value": "a@b"}]});
        assert_eq!(
            patch(&old, &new, PatchStyle::Legacy).unwrap()["Operations"],
            json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b"}])
        );
    }

    #[test]
    fn members_in_both_shapes() {
        let old = json!({"members": [{"value": "1"}, {"value": "2"}]});
        let new = json!({"members": [{"value": "2"}, {"value": "3"}]});
        assert_eq!(
            patch(&old, &new, PatchStyle::Legacy).unwrap()["Operations"],
            json!([
                {"op": "Add", "path": "members", "value": [{"value": "3"}]},
                {"op": "Remove", "path": "members", "value": [{"value": "1"}]},
            ])
        );
        assert_eq!(
            patch(&old, &new, PatchStyle::Rfc).unwrap()["Operations"],
            json!([
                {"op": "add", "path": "members", "value": [{"value": "3"}]},
                {"op": "remove", "path": "members[value eq \"1\"]"},
            ])
        );
    }

    #[test]
    fn large_membership_changes_go_in_batches() {
        let values: Vec<Json> = (0..1200).map(|i| json!({"value": i.to_string()})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Eng"},
                           {"op": "add", "path": "members", "value": values},
                           {"op": "remove", "path": "members[value eq \"x\"]"}]});
        let requests = in_batches(&body, 500);
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
        assert_eq!(in_batches(&json!({"Operations": []}), 500).len(), 1);
    }
}
