//! The source snapshot checked before a cycle plans anything: two records with one id
//! stop the cycle; a group listed as its own member and a user as their own manager
//! are dropped from the records, since Entra's directory forbids both; membership
//! cycles between groups are named, and sent as they are, since SCIM allows them.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value as Json;

use super::plan::{member_ids, source_id};

/// A record a snapshot file held that could not be read as an object: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unreadable {
    /// `User` or `Group`.
    pub kind: &'static str,
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
    pub kind: &'static str,
    /// The object it concerns, when there is one.
    pub source_id: Option<String>,
    pub detail: String,
}

/// Two records of one kind with one id: which of them is the object cannot be told, so
/// nothing is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{id}` is in the snapshot twice (its records number {first} and {second}, counted from 0); nothing was sent")]
pub struct Duplicate {
    pub kind: &'static str,
    pub id: String,
    pub first: usize,
    pub second: usize,
}

/// The snapshot after the checks: the records, with self-references dropped, and the
/// problems found.
#[derive(Debug)]
pub struct Checked<'a> {
    pub users: Vec<Cow<'a, Json>>,
    pub groups: Vec<Cow<'a, Json>>,
    pub problems: Vec<Problem>,
}

/// Checks a snapshot's users and groups.
pub fn check<'a>(users: &'a [Json], groups: &'a [Json]) -> Result<Checked<'a>, Duplicate> {
    let mut problems = Vec::new();
    let users = records("User", users, &mut problems, drop_self_manager)?;
    let groups = records("Group", groups, &mut problems, drop_self_member)?;
    problems.extend(cycles(&groups));
    Ok(Checked {
        users,
        groups,
        problems,
    })
}

type Fix = fn(&str, &Json) -> Option<(Json, Problem)>;

fn records<'a>(
    kind: &'static str,
    records: &'a [Json],
    problems: &mut Vec<Problem>,
    fix: Fix,
) -> Result<Vec<Cow<'a, Json>>, Duplicate> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut out = Vec::with_capacity(records.len());
    for (i, record) in records.iter().enumerate() {
        let Some(id) = source_id(record) else {
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
        if let Some(first) = seen.insert(id, i) {
            return Err(Duplicate {
                kind,
                id: id.to_string(),
                first,
                second: i,
            });
        }
        match fix(id, record) {
            Some((fixed, problem)) => {
                problems.push(problem);
                out.push(Cow::Owned(fixed));
            }
            None => out.push(Cow::Borrowed(record)),
        }
    }
    Ok(out)
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
            kind: "User",
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
            kind: "Group",
            source_id: Some(id.to_string()),
            detail: "the group is listed as its own member; that member is left out".into(),
        },
    ))
}

/// Each set of groups that contain each other, directly or through other groups, as one
/// problem naming them. Tarjan's algorithm with an explicit stack, so that no depth of
/// nesting in the input becomes depth of recursion.
fn cycles(groups: &[Cow<'_, Json>]) -> Vec<Problem> {
    let ids: Vec<&str> = groups.iter().filter_map(|g| source_id(g)).collect();
    let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let edges: Vec<Vec<usize>> = groups
        .iter()
        .filter(|g| source_id(g).is_some())
        .map(|g| {
            member_ids(g)
                .filter_map(|m| index.get(m).copied())
                .collect()
        })
        .collect();
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
                kind: "Group",
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
        let users = vec![
            json!({"objectId": "u1", "manager": "u1"}),
            json!({"objectId": "u2", "manager": {"value": "u1"}}),
        ];
        let groups = vec![
            json!({"objectId": "g1", "members": ["g1", "u1", "g2"]}),
            json!({"objectId": "g2", "members": [{"value": "g3"}]}),
            json!({"objectId": "g3", "members": ["g1"]}),
            json!({"objectId": "g4", "members": ["g3"]}),
            json!({"displayName": "no id"}),
        ];
        let checked = check(&users, &groups).unwrap();
        assert_eq!(checked.users[0].get("manager"), None);
        assert_eq!(checked.users[1]["manager"], json!({"value": "u1"}));
        assert_eq!(checked.groups[0]["members"], json!(["u1", "g2"]));
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
            check(&twice, &[]).unwrap_err(),
            Duplicate {
                kind: "User",
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
        let checked = check(&[], &groups).unwrap();
        assert_eq!(checked.problems.len(), 1);
        assert!(checked.problems[0]
            .detail
            .starts_with("groups g0, g1, g2, g3,"));
        assert!(checked.problems[0]
            .detail
            .contains("g19 and 199980 more contain each other"));
    }
}
