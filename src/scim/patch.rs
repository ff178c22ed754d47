//! SCIM PATCH requests (RFC 7644 §3.5.2) from two states of a resource, in the two
//! shapes Entra sends: its legacy one and the `aadOptscim062020` (RFC) one.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};

use super::diff::typed_elements;
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

/// One changed attribute: its path in a resource and its value there.
#[derive(Debug, Clone, PartialEq)]
struct Leaf {
    path: String,
    /// Whether the path carries a value filter (`emails[type eq "work"].value`).
    filtered: bool,
    value: Json,
}

/// A PatchOp request body changing `old` into `new`, or `None` when nothing changed.
///
/// Attributes absent from `new` are left alone, as Entra never sends a null. `members`
/// is compared as a set of ids; everything else leaf by leaf, where a leaf is a simple
/// attribute, a sub-attribute, an element of a multi-valued attribute picked by its
/// `type`, or an extension attribute.
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
    let old_leaves = leaves(old);
    let mut changed: Vec<(Leaf, bool)> = Vec::new();
    for leaf in leaves(new) {
        match old_leaves
            .iter()
            .find(|l| l.path.eq_ignore_ascii_case(&leaf.path))
        {
            Some(before) if before.value == leaf.value => {}
            before => {
                let existed = before.is_some();
                changed.push((leaf, existed));
            }
        }
    }
    let mut operations = operations(changed, style);
    operations.extend(member_operations(&member_ids(old), &member_ids(new), style));
    (!operations.is_empty()).then(|| patch_body(operations))
}

/// A PatchOp body around some operations.
pub fn patch_body(operations: Vec<Json>) -> Json {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

fn operations(changed: Vec<(Leaf, bool)>, style: PatchStyle) -> Vec<Json> {
    match style {
        PatchStyle::Legacy => changed
            .into_iter()
            .map(|(leaf, existed)| {
                let op = if existed { "Replace" } else { "Add" };
                json!({"op": op, "path": leaf.path, "value": legacy_value(leaf.value)})
            })
            .collect(),
        PatchStyle::Rfc => {
            let (simple, filtered): (Vec<_>, Vec<_>) =
                changed.into_iter().partition(|(leaf, _)| !leaf.filtered);
            let mut ops = Vec::new();
            if simple.len() > 1 {
                let value: Map<String, Json> = simple
                    .into_iter()
                    .map(|(leaf, _)| (leaf.path, leaf.value))
                    .collect();
                ops.push(json!({"op": "replace", "value": value}));
            } else {
                ops.extend(simple.into_iter().map(rfc_op));
            }
            ops.extend(filtered.into_iter().map(rfc_op));
            ops
        }
    }
}

fn rfc_op((leaf, existed): (Leaf, bool)) -> Json {
    let op = if existed { "replace" } else { "add" };
    json!({"op": op, "path": leaf.path, "value": leaf.value})
}

/// Operations adding and removing group members, by target id.
/// Sets, not lists, are compared: a group of 100,000 members costs 200,000 lookups, not
/// 10¹⁰ comparisons.
pub fn member_operations(old: &[String], new: &[String], style: PatchStyle) -> Vec<Json> {
    let (before, after): (HashSet<&str>, HashSet<&str>) = (
        old.iter().map(String::as_str).collect(),
        new.iter().map(String::as_str).collect(),
    );
    let added: Vec<Json> = new
        .iter()
        .filter(|id| !before.contains(id.as_str()))
        .map(|id| json!({"value": id}))
        .collect();
    let removed: Vec<&String> = old
        .iter()
        .filter(|id| !after.contains(id.as_str()))
        .collect();
    let mut ops = Vec::new();
    let (add, remove) = match style {
        PatchStyle::Legacy => ("Add", "Remove"),
        PatchStyle::Rfc => ("add", "remove"),
    };
    if !added.is_empty() {
        ops.push(json!({"op": add, "path": "members", "value": added}));
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

fn member_ids(resource: &Json) -> Vec<String> {
    resource
        .get("members")
        .and_then(Json::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m.get("value").and_then(Json::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
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

const NOT_PATCHED: &[&str] = &["schemas", "id", "meta", "members"];

/// The leaves of a resource in the order they appear.
fn leaves(resource: &Json) -> Vec<Leaf> {
    let mut out = Vec::new();
    let Some(map) = resource.as_object() else {
        return out;
    };
    for (key, value) in map {
        if NOT_PATCHED.iter().any(|k| k.eq_ignore_ascii_case(key)) || value.is_null() {
            continue;
        }
        if key.to_ascii_lowercase().starts_with("urn:") {
            if let Some(ext) = value.as_object() {
                for (name, value) in ext {
                    attribute_leaves(&format!("{key}:{name}"), value, &mut out);
                }
            }
            continue;
        }
        attribute_leaves(key, value, &mut out);
    }
    out
}

fn attribute_leaves(path: &str, value: &Json, out: &mut Vec<Leaf>) {
    let simple = |path: String, value: &Json| Leaf {
        path,
        filtered: false,
        value: value.clone(),
    };
    match value {
        Json::Null => {}
        // A complex attribute with sub-attributes, except a reference (`manager`),
        // which changes as a whole.
        Json::Object(map) if !map.contains_key("value") => {
            for (sub, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                out.push(simple(format!("{path}.{sub}"), v));
            }
        }
        Json::Array(items) if typed_elements(items) => {
            for item in items {
                let map = item.as_object().expect("checked by typed_elements");
                let kind = Json::from(map["type"].as_str().expect("checked"));
                for (sub, v) in map
                    .iter()
                    .filter(|(k, v)| !is_element_marker(k) && !v.is_null())
                {
                    out.push(Leaf {
                        path: format!("{path}[type eq {kind}].{sub}"),
                        filtered: true,
                        value: v.clone(),
                    });
                }
            }
        }
        other => out.push(simple(path.to_string(), other)),
    }
}

/// `type` picks an element and `primary` is set when it is created: neither is a
/// change to send on its own.
fn is_element_marker(key: &str) -> bool {
    key == "type" || key == "primary"
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
}
