//! Attribute-level differences between two states of a SCIM resource, named by SCIM
//! paths (`name.givenName`, `emails[type eq "work"].value`, an extension's
//! `urn:…:User:manager`): what snapshot reviews and population diffs report.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// One attribute that differs: its value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// Every attribute whose value differs between `old` and `new`, in path order. Paths
/// compare case-insensitively, as SCIM attribute names do.
///
/// ```
/// use scimap::scim::diff::changes;
/// use serde_json::json;
///
/// let old = json!({"userName": "a", "emails": [{"type": "work", "value": "a@x"}]});
/// let new = json!({"userName": "a", "emails": [{"type": "work", "value": "b@x"}], "title": "Boss"});
/// let paths: Vec<String> = changes(&old, &new).into_iter().map(|c| c.path).collect();
/// assert_eq!(paths, ["emails[type eq \"work\"].value", "title"]);
/// ```
pub fn changes(old: &Json, new: &Json) -> Vec<Change> {
    let mut old = leaves(old);
    let mut out = Vec::new();
    for (key, (path, value)) in leaves(new) {
        match old.remove(&key) {
            Some((_, before)) if before == value => {}
            before => out.push(Change {
                path,
                old: before.map(|(_, v)| v),
                new: Some(value),
            }),
        }
    }
    out.extend(old.into_values().map(|(path, value)| Change {
        path,
        old: Some(value),
        new: None,
    }));
    out.sort_by_cached_key(|c| c.path.to_ascii_lowercase());
    out
}

/// A resource's leaves keyed by their lower-cased path: simple attributes,
/// sub-attributes, elements of a multi-valued attribute picked by a distinct `type`
/// (one leaf per sub-attribute), extension attributes. Other multi-valued attributes
/// (`members`, untyped lists) are one leaf each, compared whole.
pub fn leaves(resource: &Json) -> BTreeMap<String, (String, Json)> {
    let mut out = BTreeMap::new();
    let Some(map) = resource.as_object() else {
        return out;
    };
    for (key, value) in map {
        match value.as_object() {
            Some(extension) if key.to_ascii_lowercase().starts_with("urn:") => {
                for (name, value) in extension {
                    attribute(&format!("{key}:{name}"), value, &mut out);
                }
            }
            _ => attribute(key, value, &mut out),
        }
    }
    out
}

fn attribute(path: &str, value: &Json, out: &mut BTreeMap<String, (String, Json)>) {
    let mut push = |path: String, value: &Json| {
        if !value.is_null() {
            out.insert(path.to_ascii_lowercase(), (path, value.clone()));
        }
    };
    match value {
        // A complex attribute, except a reference (`manager`), which changes whole.
        Json::Object(map) if !map.contains_key("value") => {
            for (sub, v) in map {
                push(format!("{path}.{sub}"), v);
            }
        }
        Json::Array(items) if typed_elements(items) => {
            for item in items.iter().filter_map(Json::as_object) {
                let kind = Json::from(item["type"].as_str().unwrap_or_default());
                for (sub, v) in item.iter().filter(|(k, _)| *k != "type") {
                    push(format!("{path}[type eq {kind}].{sub}"), v);
                }
            }
        }
        other => push(path.to_string(), other),
    }
}

/// Whether every element is an object with a distinct string `type`, so that each
/// can be named by a `[type eq "…"]` filter.
pub(crate) fn typed_elements(items: &[Json]) -> bool {
    let mut seen = std::collections::HashSet::new();
    !items.is_empty()
        && items
            .iter()
            .all(|item| match item.get("type").and_then(Json::as_str) {
                Some(t) => seen.insert(t),
                None => false,
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn added_changed_and_removed_leaves() {
        let old = json!({
            "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "1"}},
        });
        let new = json!({
            "userName": "a", "name": {"givenName": "Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "2"}},
        });
        let found = changes(&old, &new);
        assert_eq!(
            found,
            vec![
                Change {
                    path: "name.familyName".into(),
                    old: Some(json!("B")),
                    new: None
                },
                Change {
                    path: "name.givenName".into(),
                    old: Some(json!("A")),
                    new: Some(json!("Z"))
                },
                Change {
                    path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
                        .into(),
                    old: Some(json!({"value": "1"})),
                    new: Some(json!({"value": "2"}))
                },
            ]
        );
    }

    #[test]
    fn paths_compare_without_case_and_untyped_lists_whole() {
        let old = json!({"DisplayName": "x", "members": [{"value": "1"}]});
        let new = json!({"displayName": "x", "members": [{"value": "1"}, {"value": "2"}]});
        let found = changes(&old, &new);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "members");
    }
}
