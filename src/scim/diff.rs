//! The one differ of SCIM resources. A resource is seen as leaves named by SCIM paths
//! (`name.givenName`, `emails[type eq "work"].value`, an extension's
//! `urn:…:User:manager`); two states of it differ leaf by leaf, with `members` as a set.
//! Snapshot reviews and population diffs report [`changes`]; the sync engine builds
//! its PATCH requests and its log's modified properties from one [`Diff`], so that a
//! log never reports a change that was not sent.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::patch::{member_operations, operations, patch_body, PatchStyle};

/// One attribute that differs: its value before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// Every attribute whose value differs between `old` and `new`, both ways, in path
/// order. Paths compare case-insensitively, as SCIM attribute names do.
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
    let before = leaves(old);
    let mut old_at: HashMap<String, &Leaf<'_>> = before.iter().map(|l| (l.key(), l)).collect();
    let mut out = Vec::new();
    for leaf in leaves(new) {
        match old_at.remove(&leaf.key()) {
            Some(was) if same(was, &leaf) => {}
            was => out.push(Change {
                path: leaf.path,
                old: was.map(|l| l.value.clone()),
                new: Some(leaf.value.clone()),
            }),
        }
    }
    out.extend(
        before
            .iter()
            .filter(|l| old_at.contains_key(&l.key()))
            .map(|l| Change {
                path: l.path.clone(),
                old: Some(l.value.clone()),
                new: None,
            }),
    );
    out.sort_by_cached_key(|c| c.path.to_ascii_lowercase());
    out
}

/// What a PATCH from one state of a resource to another changes, as SCIM and Entra
/// update: attributes absent from the new state are left alone (Entra never sends a
/// null), an element's `type` and `primary` are not changes on their own, and group
/// members are added and removed by id.
///
/// ```
/// use scimap::scim::{diff::Diff, PatchStyle};
/// use serde_json::json;
///
/// let old = json!({"userName": "a", "active": true, "members": [{"value": "1"}]});
/// let new = json!({"userName": "a", "active": false, "members": [{"value": "2"}]});
/// let diff = Diff::between(&old, &new);
/// let paths: Vec<&str> = diff.changes().iter().map(|c| c.path.as_str()).collect();
/// assert_eq!(paths, ["active", "members"]);
/// let body = diff.patch(PatchStyle::Rfc).unwrap();
/// assert_eq!(body["Operations"][0], json!({"op": "replace", "path": "active", "value": false}));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// In the order of the new state, members last.
    changes: Vec<Change>,
    /// Which changes name an element by its `type` (RFC-style PATCH keeps those apart).
    filtered: Vec<bool>,
    added: Vec<String>,
    removed: Vec<String>,
}

impl Diff {
    pub fn between(old: &Json, new: &Json) -> Diff {
        Diff::of(old, new, false)
    }

    /// What creating `resource` sets: every value it has, an element's `primary` too.
    pub fn created(resource: &Json) -> Diff {
        Diff::of(&Json::Null, resource, true)
    }

    fn of(old: &Json, new: &Json, markers: bool) -> Diff {
        let before = leaves(old);
        let old_at: HashMap<String, &Leaf<'_>> = before.iter().map(|l| (l.key(), l)).collect();
        let mut diff = Diff::default();
        for leaf in leaves(new) {
            if (leaf.marker && !markers) || leaf.members {
                continue;
            }
            let was = old_at.get(&leaf.key());
            if was.is_some_and(|was| was.value == leaf.value) {
                continue;
            }
            diff.filtered.push(leaf.filtered);
            diff.changes.push(Change {
                path: leaf.path,
                old: was.map(|l| l.value.clone()),
                new: Some(leaf.value.clone()),
            });
        }
        diff.members(old, new);
        diff
    }

    fn members(&mut self, old: &Json, new: &Json) {
        let (Some(was), Some(now)) = (member_ids(old), member_ids(new)) else {
            if let Some(now) = member_ids(new).filter(|ids| !ids.is_empty()) {
                self.added = now.iter().map(|id| id.to_string()).collect();
                self.push_members(old, new);
            }
            return;
        };
        let (before, after): (HashSet<&str>, HashSet<&str>) =
            (was.iter().copied().collect(), now.iter().copied().collect());
        self.added = now
            .iter()
            .filter(|id| !before.contains(*id))
            .map(|id| id.to_string())
            .collect();
        self.removed = was
            .iter()
            .filter(|id| !after.contains(*id))
            .map(|id| id.to_string())
            .collect();
        if !self.added.is_empty() || !self.removed.is_empty() {
            self.push_members(old, new);
        }
    }

    fn push_members(&mut self, old: &Json, new: &Json) {
        self.filtered.push(false);
        self.changes.push(Change {
            path: "members".into(),
            old: old.get("members").filter(|m| !m.is_null()).cloned(),
            new: new.get("members").cloned(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Each change the PATCH makes, old value to new.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The PatchOp request body in Entra's chosen shape; `None` when nothing changed.
    pub fn patch(&self, style: PatchStyle) -> Option<Json> {
        let values = self
            .changes
            .iter()
            .zip(&self.filtered)
            .filter(|(c, _)| c.path != "members")
            .map(|(c, filtered)| (c, *filtered));
        let mut ops = operations(values, style);
        ops.extend(member_operations(&self.added, &self.removed, style));
        (!ops.is_empty()).then(|| patch_body(ops))
    }
}

/// The member ids of a group, in order; `None` when it has no `members`.
fn member_ids(resource: &Json) -> Option<Vec<&str>> {
    let members = resource.get("members")?.as_array()?;
    Some(
        members
            .iter()
            .filter_map(|m| m.get("value").and_then(Json::as_str))
            .collect(),
    )
}

/// One value of a resource and the SCIM path that names it.
#[derive(Debug)]
struct Leaf<'a> {
    path: String,
    value: &'a Json,
    /// An element of a multi-valued attribute picked by its `type`.
    filtered: bool,
    /// An element's `primary`: set when the element is made, never a change alone.
    marker: bool,
    /// `members`, compared as a set of ids.
    members: bool,
}

impl Leaf<'_> {
    fn key(&self) -> String {
        self.path.to_ascii_lowercase()
    }
}

fn same(a: &Leaf<'_>, b: &Leaf<'_>) -> bool {
    match (a.members, member_ids_of(a.value), member_ids_of(b.value)) {
        (true, Some(x), Some(y)) => {
            let x: HashSet<&str> = x.into_iter().collect();
            let y: HashSet<&str> = y.into_iter().collect();
            x == y
        }
        _ => a.value == b.value,
    }
}

fn member_ids_of(value: &Json) -> Option<Vec<&str>> {
    let items = value.as_array()?;
    items
        .iter()
        .map(|m| m.get("value").and_then(Json::as_str))
        .collect()
}

/// A resource's leaves in the order they appear: simple attributes, sub-attributes of
/// complex ones, the sub-attributes of each element of a multi-valued attribute whose
/// elements have distinct `type`s, extension attributes. A reference (`manager`), an
/// untyped multi-valued attribute and `members` are one leaf each. Nulls are no value;
/// `schemas`, `id` and `meta` are the server's, never a provisioned value.
fn leaves(resource: &Json) -> Vec<Leaf<'_>> {
    let mut out = Vec::new();
    let Some(map) = resource.as_object() else {
        return out;
    };
    for (key, value) in map {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        match value.as_object() {
            Some(extension) if key.to_ascii_lowercase().starts_with("urn:") => {
                for (name, value) in extension {
                    attribute(format!("{key}:{name}"), value, &mut out);
                }
            }
            _ => attribute(key.clone(), value, &mut out),
        }
    }
    out
}

fn attribute<'a>(path: String, value: &'a Json, out: &mut Vec<Leaf<'a>>) {
    let leaf = |path: String, value: &'a Json| Leaf {
        path,
        value,
        filtered: false,
        marker: false,
        members: false,
    };
    match value {
        Json::Null => {}
        Json::Object(map) if !map.contains_key("value") => {
            for (sub, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                out.push(leaf(format!("{path}.{sub}"), v));
            }
        }
        Json::Array(_) if path.eq_ignore_ascii_case("members") => out.push(Leaf {
            members: true,
            ..leaf(path, value)
        }),
        Json::Array(items) if typed_elements(items) => {
            for item in items.iter().filter_map(Json::as_object) {
                let kind = Json::from(item["type"].as_str().unwrap_or_default());
                for (sub, v) in item.iter().filter(|(k, v)| *k != "type" && !v.is_null()) {
                    out.push(Leaf {
                        filtered: true,
                        marker: sub == "primary",
                        ..leaf(format!("{path}[type eq {kind}].{sub}"), v)
                    });
                }
            }
        }
        other => out.push(leaf(path, other)),
    }
}

/// Whether every element is an object with a distinct string `type`, so that each
/// can be named by a `[type eq "…"]` filter.
fn typed_elements(items: &[Json]) -> bool {
    let mut seen = HashSet::new();
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
        let reordered = json!({"members": [{"value": "2"}, {"value": "1"}]});
        assert!(changes(&new, &reordered)
            .iter()
            .all(|c| c.path != "members"));
    }

    /// The log's modified properties are the PATCH's changes: what is left alone (a
    /// value gone from the new state, an element's `primary`) is in neither.
    #[test]
    fn a_diff_lists_what_its_patch_sends() {
        let old = json!({"schemas": ["x"], "id": "1", "userName": "a", "active": true,
            "name": {"givenName": "Ada"},
            "emails": [{"type": "work", "value": "a@x", "primary": true}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            "members": [{"value": "1"}]});
        let new = json!({"schemas": ["y"], "id": "1", "userName": "a", "active": false,
            "name": {"givenName": "Ada", "familyName": "L"},
            "emails": [{"type": "work", "value": "b@x", "primary": false}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {},
            "members": [{"value": "1"}, {"value": "2"}]});
        let diff = Diff::between(&old, &new);
        let listed: Vec<(&str, Option<&Json>, Option<&Json>)> = diff
            .changes()
            .iter()
            .map(|c| (c.path.as_str(), c.old.as_ref(), c.new.as_ref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("active", Some(&json!(true)), Some(&json!(false))),
                ("name.familyName", None, Some(&json!("L"))),
                (
                    "emails[type eq \"work\"].value",
                    Some(&json!("a@x")),
                    Some(&json!("b@x"))
                ),
                (
                    "members",
                    Some(&json!([{"value": "1"}])),
                    Some(&json!([{"value": "1"}, {"value": "2"}]))
                ),
            ]
        );
        let body = diff.patch(PatchStyle::Legacy).unwrap();
        let sent: Vec<&str> = body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            sent,
            [
                "active",
                "name.familyName",
                "emails[type eq \"work\"].value",
                "members"
            ]
        );
        assert!(Diff::between(&old, &old).is_empty());
        assert_eq!(Diff::between(&old, &old).patch(PatchStyle::Rfc), None);
    }

    #[test]
    fn a_create_lists_every_value_it_sets() {
        let created = Diff::created(&json!({"userName": "a", "title": null, "members": [],
            "emails": [{"type": "work", "value": "a@x", "primary": true}]}));
        let paths: Vec<&str> = created.changes().iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "userName",
                "emails[type eq \"work\"].value",
                "emails[type eq \"work\"].primary"
            ],
            "nothing else is set"
        );
        assert!(Diff::between(&json!({"title": null}), &json!({})).is_empty());
    }

    #[test]
    fn a_hundred_thousand_members_are_compared_as_sets() {
        let members = |range: std::ops::Range<u32>| -> Json {
            range.map(|i| json!({"value": i.to_string()})).collect()
        };
        let old = json!({"members": members(0..100_000)});
        let new = json!({"members": members(1..100_001)});
        let diff = Diff::between(&old, &new);
        assert_eq!(
            (diff.added.as_slice(), diff.removed.as_slice()),
            (&["100000".to_string()][..], &["0".to_string()][..])
        );
    }
}
