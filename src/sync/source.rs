//! The source snapshot checked before a cycle plans anything: two records with one id
//! stop the cycle; a group listed as its own member and a user as their own manager
//! are dropped from the records, since Entra's directory forbids both; membership
//! cycles between groups are named, and sent as they are, since SCIM allows them.
//!
//! Records may be kept [`Packed`] as their JSON text and parsed one at a time when a
//! step needs them, so that a snapshot of a million users takes about its file's size
//! in memory rather than several times it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value as Json;

use super::plan::{member_ids, source_id};
use crate::scim::ObjectKind;

/// Records kept as their JSON text, one after another, each parsed when it is read.
#[derive(Debug, Clone, Default)]
pub struct Packed {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Packed {
    pub fn new() -> Packed {
        Packed::default()
    }

    /// Adds a record given as JSON text; unless it is a JSON object, nothing is added
    /// and the error says why.
    pub fn push_text(&mut self, text: &str) -> Result<(), String> {
        crate::records::parse_line(text)?;
        self.text.extend_from_slice(text.trim().as_bytes());
        self.ends.push(self.text.len());
        Ok(())
    }

    /// Adds a parsed record (written back to text); unless it is a JSON object that
    /// can be read back, nothing is added and the error says why.
    pub fn push(&mut self, record: &Json) -> Result<(), String> {
        let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
        self.push_text(&text)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The record number `i`, parsed.
    pub fn get(&self, i: usize) -> Json {
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before]);
        serde_json::from_slice(&self.text[start..self.ends[i]])
            .expect("a record is packed only once its text parsed as an object")
    }
}

/// A snapshot's records of one kind, parsed already or packed.
#[derive(Debug, Clone, Copy)]
pub enum Records<'a> {
    Parsed(&'a [Json]),
    Packed(&'a Packed),
}

impl<'a> Records<'a> {
    pub fn len(self) -> usize {
        match self {
            Records::Parsed(records) => records.len(),
            Records::Packed(packed) => packed.len(),
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The record number `i`: borrowed when it is parsed already.
    pub fn get(self, i: usize) -> Cow<'a, Json> {
        match self {
            Records::Parsed(records) => Cow::Borrowed(&records[i]),
            Records::Packed(packed) => Cow::Owned(packed.get(i)),
        }
    }
}

impl<'a> From<&'a [Json]> for Records<'a> {
    fn from(records: &'a [Json]) -> Records<'a> {
        Records::Parsed(records)
    }
}

impl<'a> From<&'a Packed> for Records<'a> {
    fn from(packed: &'a Packed) -> Records<'a> {
        Records::Packed(packed)
    }
}

/// A record a snapshot file held that could not be read as an object: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// `User` or `Group`.
    pub kind: ObjectKind,
    /// Where in which file: `users.ndjson: record 3 (line 4)`.
    pub place: String,
    pub reason: String,
}

/// Something wrong with the snapshot that the cycle works around, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `SelfMembership`, `SelfManager`, `MembershipCycle`, `SourceRecordInvalid`,
    /// `SourceIdMissing`.
    pub code: &'static str,
    pub kind: ObjectKind,
    /// The object it concerns, when there is one.
    pub source_id: Option<String>,
    pub detail: String,
}

/// Two records of one kind with one id: which of them is the object cannot be told, so
/// nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{id}` is in the snapshot twice (its records number {first} and {second}, counted from 0); nothing was sent")]
pub struct Duplicate {
    pub kind: ObjectKind,
    pub id: String,
    pub first: usize,
    pub second: usize,
}

type Fix = fn(&str, &Json) -> Option<(Json, Problem)>;

/// The records of one kind after the checks, by id.
#[derive(Debug)]
struct Indexed<'a> {
    records: Records<'a>,
    /// Shared with the plan and the links made from it: a million ids are kept once.
    ids: HashMap<Arc<str>, usize>,
    fix: Fix,
}

/// The snapshot after the checks: every record reachable by id, read with its
/// self-references dropped, and the problems found.
#[derive(Debug)]
pub struct Checked<'a> {
    users: Indexed<'a>,
    groups: Indexed<'a>,
    pub problems: Vec<Problem>,
}

impl<'a> Checked<'a> {
    fn of(&self, kind: ObjectKind) -> &Indexed<'a> {
        match kind {
            ObjectKind::Group => &self.groups,
            ObjectKind::User => &self.users,
        }
    }

    /// How many records of a kind have an id (the others are not provisioned).
    pub fn count(&self, kind: ObjectKind) -> usize {
        self.of(kind).ids.len()
    }

    /// The number of the record of a kind with this id.
    pub fn position(&self, kind: ObjectKind, id: &str) -> Option<usize> {
        self.of(kind).ids.get(id).copied()
    }

    /// The id as the snapshot holds it, shared: `id` when no record of the kind has it.
    pub fn shared_id(&self, kind: ObjectKind, id: &str) -> Arc<str> {
        match self.of(kind).ids.get_key_value(id) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(id),
        }
    }

    /// The record number `i` of a kind, without the self-references it may list; its
    /// id with it, `None` for a record without one.
    pub fn record(&self, kind: ObjectKind, i: usize) -> (Option<Arc<str>>, Cow<'a, Json>) {
        let of = self.of(kind);
        let record = of.records.get(i);
        let Some(id) = source_id(&record).map(|id| self.shared_id(kind, id)) else {
            return (None, record);
        };
        match (of.fix)(&id, &record) {
            Some((fixed, _)) => (Some(id), Cow::Owned(fixed)),
            None => (Some(id), record),
        }
    }

    /// How many records of a kind there are, with an id or not.
    pub fn len(&self, kind: ObjectKind) -> usize {
        self.of(kind).records.len()
    }
}

/// Checks a snapshot's users and groups.
pub fn check<'a>(
    users: impl Into<Records<'a>>,
    groups: impl Into<Records<'a>>,
) -> Result<Checked<'a>, Duplicate> {
    let mut problems = Vec::new();
    let users = index(
        ObjectKind::User,
        users.into(),
        &mut problems,
        drop_self_manager,
    )?;
    let groups = index(
        ObjectKind::Group,
        groups.into(),
        &mut problems,
        drop_self_member,
    )?;
    problems.extend(cycles(&groups));
    Ok(Checked {
        users,
        groups,
        problems,
    })
}

fn index<'a>(
    kind: ObjectKind,
    records: Records<'a>,
    problems: &mut Vec<Problem>,
    fix: Fix,
) -> Result<Indexed<'a>, Duplicate> {
    let mut ids: HashMap<Arc<str>, usize> = HashMap::with_capacity(records.len());
    for i in 0..records.len() {
        let record = records.get(i);
        let Some(id) = source_id(&record) else {
            problems.push(Problem {
                code: "SourceIdMissing",
                kind,
                source_id: None,
                detail: format!(
                    "record {i} has no `objectId` (or `id`) string, so it is not provisioned"
                ),
            });
            continue;
        };
        if let Some(&first) = ids.get(id) {
            return Err(Duplicate {
                kind,
                id: id.to_string(),
                first,
                second: i,
            });
        }
        if let Some((_, problem)) = fix(id, &record) {
            problems.push(problem);
        }
        ids.insert(id.into(), i);
    }
    Ok(Indexed { records, ids, fix })
}

/// A user who is their own manager, without the manager.
fn drop_self_manager(id: &str, user: &Json) -> Option<(Json, Problem)> {
    let manager = user.get("manager")?;
    let own =
        manager.as_str() == Some(id) || manager.get("value").and_then(Json::as_str) == Some(id);
    if !own {
        return None;
    }
    let mut fixed = user.clone();
    fixed.as_object_mut()?.remove("manager");
    Some((
        fixed,
        Problem {
            code: "SelfManager",
            kind: ObjectKind::User,
            source_id: Some(id.to_string()),
            detail: "the user is listed as their own manager; the manager is left out".into(),
        },
    ))
}

/// A group that lists itself as a member, without that member.
fn drop_self_member(id: &str, group: &Json) -> Option<(Json, Problem)> {
    if !member_ids(group).any(|m| m == id) {
        return None;
    }
    let mut fixed = group.clone();
    let members = fixed.get_mut("members")?.as_array_mut()?;
    members.retain(|m| m.as_str().or_else(|| m.get("value").and_then(Json::as_str)) != Some(id));
    Some((
        fixed,
        Problem {
            code: "SelfMembership",
            kind: ObjectKind::Group,
            source_id: Some(id.to_string()),
            detail: "the group is listed as its own member; that member is left out".into(),
        },
    ))
}

/// Each set of groups that contain each other, directly or through other groups, as one
/// problem naming them. Tarjan's algorithm with an explicit stack, so that no depth of
/// nesting in the input becomes depth of recursion.
fn cycles(groups: &Indexed<'_>) -> Vec<Problem> {
    let mut ids: Vec<(&str, usize)> = groups.ids.iter().map(|(id, &i)| (&**id, i)).collect();
    ids.sort_unstable_by_key(|&(_, i)| i);
    let node: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(n, (id, _))| (*id, n))
        .collect();
    let edges: Vec<Vec<usize>> = ids
        .iter()
        .map(|&(_, i)| {
            member_ids(&groups.records.get(i))
                .filter_map(|m| node.get(m).copied())
                .collect()
        })
        .collect();
    let ids: Vec<&str> = ids.into_iter().map(|(id, _)| id).collect();
    let n = ids.len();
    let (mut order, mut low) = (vec![usize::MAX; n], vec![0; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let mut next = 0;
    let mut components = Vec::new();
    for root in 0..n {
        if order[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(node, edge)) = work.last() {
            if order[node] == usize::MAX {
                order[node] = next;
                low[node] = next;
                next += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&to) = edges[node].get(edge) {
                if let Some(top) = work.last_mut() {
                    top.1 += 1;
                }
                if order[to] == usize::MAX {
                    work.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(order[to]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    components.push(component);
                }
            }
        }
    }
    components
        .into_iter()
        .map(|mut component| {
            component.sort_unstable();
            let names: Vec<&str> = component.iter().take(20).map(|&i| ids[i]).collect();
            let more = match component.len().saturating_sub(names.len()) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            Problem {
                code: "MembershipCycle",
                kind: ObjectKind::Group,
                source_id: Some(names[0].to_string()),
                detail: format!(
                    "groups {}{more} contain each other; they are sent as they are (SCIM allows it), but the target may refuse or loop over them",
                    names.join(", ")
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn duplicates_stop_self_references_are_dropped_cycles_are_named() {
        let users = [
            json!({"objectId": "u1", "manager": "u1"}),
            json!({"objectId": "u2", "manager": {"value": "u1"}}),
        ];
        let groups = [
            json!({"objectId": "g1", "members": ["g1", "u1", "g2"]}),
            json!({"objectId": "g2", "members": [{"value": "g3"}]}),
            json!({"objectId": "g3", "members": ["g1"]}),
            json!({"objectId": "g4", "members": ["g3"]}),
            json!({"displayName": "no id"}),
        ];
        let checked = check(&users[..], &groups[..]).unwrap();
        assert_eq!(checked.record(ObjectKind::User, 0).1.get("manager"), None);
        assert_eq!(
            checked.record(ObjectKind::User, 1).1["manager"],
            json!({"value": "u1"})
        );
        assert_eq!(
            checked.record(ObjectKind::Group, 0).1["members"],
            json!(["u1", "g2"])
        );
        assert_eq!(checked.record(ObjectKind::Group, 4).0, None);
        assert_eq!(
            (
                checked.count(ObjectKind::Group),
                checked.len(ObjectKind::Group)
            ),
            (4, 5)
        );
        assert_eq!(checked.position(ObjectKind::Group, "g3"), Some(2));
        let codes: Vec<(&str, Option<&str>)> = checked
            .problems
            .iter()
            .map(|p| (p.code, p.source_id.as_deref()))
            .collect();
        assert_eq!(
            codes,
            [
                ("SelfManager", Some("u1")),
                ("SelfMembership", Some("g1")),
                ("SourceIdMissing", None),
                ("MembershipCycle", Some("g1")),
            ]
        );
        assert!(checked.problems[3]
            .detail
            .starts_with("groups g1, g2, g3 contain each other"));
        let twice = [
            json!({"objectId": "u1"}),
            json!({"objectId": "u2"}),
            json!({"objectId": "u1"}),
        ];
        assert_eq!(
            check(&twice[..], &[][..]).unwrap_err(),
            Duplicate {
                kind: ObjectKind::User,
                id: "u1".into(),
                first: 0,
                second: 2
            }
        );
    }

    #[test]
    fn a_long_chain_of_nested_groups_is_walked_without_recursion() {
        let n = 200_000;
        let groups: Vec<Json> = (0..n)
            .map(|i| json!({"objectId": format!("g{i}"), "members": [format!("g{}", (i + 1) % n)]}))
            .collect();
        let checked = check(&[][..], &groups[..]).unwrap();
        assert_eq!(checked.problems.len(), 1);
        assert!(checked.problems[0]
            .detail
            .starts_with("groups g0, g1, g2, g3,"));
        assert!(checked.problems[0]
            .detail
            .contains("g19 and 199980 more contain each other"));
    }

    #[test]
    fn packed_records_read_back_as_they_were_given_and_check_alike() {
        let users = [
            json!({"objectId": "u1", "manager": "u1", "n": 1.5e300, "s": "é\u{0}"}),
            json!({"objectId": "u2", "nested": {"a": [1, {"b": null}]}}),
        ];
        let mut packed = Packed::new();
        packed.push_text(&format!("  {}\n", users[0])).unwrap();
        packed.push(&users[1]).unwrap();
        assert_eq!(
            packed.push_text("[1]").unwrap_err(),
            "a record must be a JSON object, not an array"
        );
        assert!(packed
            .push_text("{\"a\": ")
            .unwrap_err()
            .starts_with("invalid JSON"));
        assert_eq!(
            (packed.get(0), packed.get(1), packed.len()),
            (users[0].clone(), users[1].clone(), 2)
        );
        let (parsed, packed) = (
            check(&users[..], &[][..]).unwrap(),
            check(&packed, &[][..]).unwrap(),
        );
        assert_eq!(parsed.problems, packed.problems);
        for i in 0..2 {
            assert_eq!(
                parsed.record(ObjectKind::User, i),
                packed.record(ObjectKind::User, i)
            );
        }
    }
}
