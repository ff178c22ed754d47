//! What a cycle has to do, decided from the source snapshot, the assignments, the
//! mapping's scoping filters and the state kept since the last cycle, before any
//! request is sent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as Json;

use super::source::Checked;
use super::state::{State, StateError};
use crate::mapping::{Mapping, ObjectMapping};
use crate::scim::ObjectKind;

/// Which source objects are provisioned before the scoping filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignments {
    /// Every user and group ("sync all").
    All,
    /// Users assigned directly or as direct members of an assigned group (nested
    /// groups are not expanded, as Entra does not), and the assigned groups.
    Assigned {
        users: HashSet<String>,
        groups: HashSet<String>,
    },
}

/// What happens to one source object in a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Match it in the target, then create it or link to the match.
    Create,
    /// PATCH what changed (or enable it again).
    Update,
    /// `active = false`: it left scope, was unassigned or is disabled in the source.
    Disable,
    /// DELETE: it is gone from the source (or a group left scope).
    Delete,
    /// Nothing: provisioning on demand of an object that is out of scope.
    Skip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub kind: ObjectKind,
    pub source_id: Arc<str>,
    /// The number of its record in the snapshot; `None` when it is not in it.
    pub record: Option<usize>,
    pub action: Action,
    /// Why, for the provisioning log.
    pub reason: &'static str,
    /// The scope check's verdict, for the provisioning log.
    pub scope: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Entra's `SkipOutOfScopeDeletions`: objects leaving scope are left as they are.
    pub skip_out_of_scope_deletions: bool,
    /// Provisioning on demand: only these source objects, each evaluated again even
    /// when it did not change.
    pub only: Option<HashSet<String>>,
    /// Delete nothing for being absent from the snapshot: some of its records could
    /// not be read, and the absent object may be one of them.
    pub keep_absent: bool,
}

/// The source record's id: `objectId`, else `id`.
pub fn source_id(record: &Json) -> Option<&str> {
    record
        .get("objectId")
        .or_else(|| record.get("id"))
        .and_then(Json::as_str)
}

/// How fingerprints are made; kept in the state, so that changing it is a recorded
/// migration rather than every object silently looking changed.
pub const FINGERPRINT: &str = "xxh3-64 of canonical JSON (object keys sorted)";

/// A fingerprint of a record, to tell whether it changed since the last cycle: XXH3
/// over the record written with its object keys sorted, so that neither a toolchain
/// upgrade nor a snapshot listing attributes in another order changes it.
pub fn fingerprint(record: &Json) -> u64 {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let hash = BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        canonical(record, buffer);
        xxhash_rust::xxh3::xxh3_64(buffer)
    });
    match hash {
        PENDING => 1,
        hash => hash,
    }
}

/// Writes `value` as JSON with sorted object keys (and a comma after every member
/// and element); depth is bounded by the JSON parser that made the value.
fn canonical(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for key in keys {
                write_json(key, out);
                out.push(b':');
                canonical(&map[key], out);
                out.push(b',');
            }
            out.push(b'}');
        }
        Json::Array(items) => {
            out.push(b'[');
            for item in items {
                canonical(item, out);
                out.push(b',');
            }
            out.push(b']');
        }
        other => write_json(other, out),
    }
}

fn write_json(value: &impl serde::Serialize, out: &mut Vec<u8>) {
    serde_json::to_writer(out, value).expect("writing JSON to memory cannot fail");
}

/// The fingerprint stored for an object whose references (manager, members) could
/// not all be resolved: the next cycle evaluates it again, whether it changed or not.
pub const PENDING: u64 = 0;

/// Why an unchanged object is planned again; nothing is logged when it still has
/// nothing to send.
pub const PENDING_REASON: &str = "references that could not be resolved before";

/// The links of each kind as a cycle begins, by source id.
#[derive(Debug)]
pub struct Linked {
    users: HashMap<Arc<str>, Head>,
    groups: HashMap<Arc<str>, Head>,
}

/// What the plan needs of a link; its ids are shared with the cycle's link index.
#[derive(Debug)]
pub struct Head {
    pub target_id: Arc<str>,
    pub source_hash: u64,
    pub active: bool,
}

impl Linked {
    /// The links in the state, their source ids shared with the snapshot's.
    pub fn load(state: &State, snapshot: &Checked<'_>) -> Result<Linked, StateError> {
        let by_id = |kind| -> Result<HashMap<Arc<str>, Head>, StateError> {
            let mut heads = HashMap::new();
            state.heads(kind, |l| {
                let head = Head {
                    target_id: l.target_id.into(),
                    source_hash: l.source_hash,
                    active: l.active,
                };
                heads.insert(snapshot.shared_id(kind, &l.source_id), head);
            })?;
            Ok(heads)
        };
        Ok(Linked {
            users: by_id(ObjectKind::User)?,
            groups: by_id(ObjectKind::Group)?,
        })
    }

    /// How many objects of a kind are linked.
    pub fn count(&self, kind: ObjectKind) -> usize {
        match kind {
            ObjectKind::Group => self.groups.len(),
            ObjectKind::User => self.users.len(),
        }
    }

    /// Source id → target id of every linked object, users and groups alike.
    pub fn into_target_ids(self) -> impl Iterator<Item = (Arc<str>, Arc<str>)> {
        self.users
            .into_iter()
            .chain(self.groups)
            .map(|(source, head)| (source, head.target_id))
    }
}

/// The ids a group lists as its direct members (strings, or `{"value": id}`).
pub fn member_ids(group: &Json) -> impl Iterator<Item = &str> {
    group
        .get("members")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().or_else(|| m.get("value").and_then(Json::as_str)))
}

/// Plans a cycle for users and groups, reading each record once.
pub fn plan(
    snapshot: &Checked<'_>,
    assignments: &Assignments,
    mapping: &Mapping,
    linked: &Linked,
    options: &PlanOptions,
) -> Vec<Planned> {
    let assigned_users: Option<HashSet<String>> = match assignments {
        Assignments::All => None,
        Assignments::Assigned {
            users,
            groups: assigned_groups,
        } => {
            let mut all = users.clone();
            for i in assigned_groups
                .iter()
                .filter_map(|id| snapshot.position(ObjectKind::Group, id))
            {
                all.extend(
                    member_ids(&snapshot.record(ObjectKind::Group, i).1).map(str::to_string),
                );
            }
            Some(all)
        }
    };
    let assigned_groups = match assignments {
        Assignments::All => None,
        Assignments::Assigned { groups, .. } => Some(groups),
    };
    let mut out = Vec::new();
    for (kind, assigned, links) in [
        (ObjectKind::User, assigned_users.as_ref(), &linked.users),
        (ObjectKind::Group, assigned_groups, &linked.groups),
    ] {
        if let Some(object) = mapping.object(kind.as_str()) {
            let scope = Scope {
                kind,
                assigned,
                object,
            };
            plan_kind(snapshot, &scope, links, options, &mut out);
        }
    }
    out
}

/// What decides whether a record of a kind is in scope.
struct Scope<'a> {
    kind: ObjectKind,
    assigned: Option<&'a HashSet<String>>,
    object: &'a ObjectMapping,
}

fn plan_kind(
    snapshot: &Checked<'_>,
    scope: &Scope<'_>,
    links: &HashMap<Arc<str>, Head>,
    options: &PlanOptions,
    out: &mut Vec<Planned>,
) {
    let (kind, start) = (scope.kind, out.len());
    let wanted = |id: &str| options.only.as_ref().is_none_or(|only| only.contains(id));
    for i in 0..snapshot.len(kind) {
        let (Some(id), record) = snapshot.record(kind, i) else {
            continue;
        };
        if !wanted(&id) {
            continue;
        }
        let verdict = scope.verdict(&record, &id);
        let in_scope = verdict.is_none();
        let planned = |action, reason: &'static str| Planned {
            kind,
            source_id: id.clone(),
            record: Some(i),
            action,
            reason,
            scope: verdict.unwrap_or(if scope.assigned.is_some() {
                "in scope: assigned, enabled, within the scoping filters"
            } else {
                "in scope: sync all, enabled, within the scoping filters"
            }),
        };
        let on_demand = options.only.is_some();
        match (in_scope, links.get(&*id)) {
            (true, None) => out.push(planned(Action::Create, "in scope, not provisioned yet")),
            (true, Some(link)) if !link.active => {
                out.push(planned(Action::Update, "back in scope: enabled again"))
            }
            (true, Some(link)) if link.source_hash == PENDING => {
                out.push(planned(Action::Update, PENDING_REASON))
            }
            (true, Some(link)) if link.source_hash != fingerprint(&record) => {
                out.push(planned(Action::Update, "changed in the source"))
            }
            (true, Some(_)) if on_demand => {
                out.push(planned(Action::Update, "provisioned on demand"))
            }
            (true, Some(_)) => {}
            (false, Some(link)) if link.active && !options.skip_out_of_scope_deletions => {
                // Groups have no `active`: leaving scope deletes them.
                let action = if kind == ObjectKind::Group {
                    Action::Delete
                } else {
                    Action::Disable
                };
                out.push(planned(action, verdict.unwrap_or_default()));
            }
            (false, _) if on_demand => out.push(planned(Action::Skip, "out of scope")),
            (false, _) => {}
        }
    }
    for source in links
        .keys()
        .filter(|id| !options.keep_absent && snapshot.position(kind, id).is_none() && wanted(id))
    {
        out.push(Planned {
            kind,
            source_id: source.clone(),
            record: None,
            action: Action::Delete,
            reason: "deleted from the source",
            scope: "not in the snapshot",
        });
    }
    out[start..].sort_by(|a, b| a.source_id.cmp(&b.source_id));
}

impl Scope<'_> {
    /// `None` when a record is in scope, else why not.
    fn verdict(&self, record: &Json, id: &str) -> Option<&'static str> {
        if self.assigned.is_some_and(|a| !a.contains(id)) {
            return Some("not assigned");
        }
        let disabled = matches!(record.get("accountEnabled"), Some(Json::Bool(false)))
            || record
                .get("accountEnabled")
                .and_then(Json::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("false"));
        if self.kind == ObjectKind::User && disabled {
            return Some("disabled in the source");
        }
        let Ok(batch) = self.object.batch(std::slice::from_ref(record)) else {
            return Some("not a valid record");
        };
        if !self.object.scope.admits(|name| batch.value(0, name)) {
            return Some("out of the scoping filters");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_GROUPS: [Json; 0] = [];
    use crate::sync::source::check;
    use crate::sync::state::Link;
    use serde_json::json;

    fn mapping() -> Mapping {
        Mapping::from_json(r#"{"objects": [
            {"name": "u", "source": "User", "target": "User",
             "scope": [{"clauses": [{"attribute": "department", "operator": "NOT_EQUALS", "value": "Interns"}]}],
             "attributes": [{"target": "userName", "source": "[userPrincipalName]", "matching": 1}]},
            {"name": "g", "source": "Group", "target": "Group",
             "attributes": [{"target": "displayName", "source": "[displayName]", "matching": 1}]}]}"#)
        .unwrap()
    }

    fn user(id: &str, department: &str) -> Json {
        json!({"objectId": id, "userPrincipalName": format!("{id}@contoso.com"), "department": department, "accountEnabled": true})
    }

    fn link(state: &State, kind: ObjectKind, record: &Json, active: bool) {
        state
            .save_link(&Link {
                kind,
                source_id: source_id(record).unwrap().into(),
                target_id: format!("t-{}", source_id(record).unwrap()),
                exported: json!({}),
                source_hash: fingerprint(record),
                active,
            })
            .unwrap();
    }

    fn actions(plan: &[Planned]) -> Vec<(&str, &str, Action)> {
        plan.iter()
            .map(|p| (p.kind.as_str(), &*p.source_id, p.action))
            .collect()
    }

    #[test]
    fn every_kind_of_change() {
        let state = State::in_memory().unwrap();
        let same = user("same", "Sales");
        let changed_before = user("changed", "Sales");
        let intern = user("intern", "Interns");
        let mut disabled = user("disabled", "Sales");
        disabled["accountEnabled"] = json!(false);
        let gone = user("gone", "Sales");
        let returning = user("returning", "Sales");
        for (record, active) in [
            (&same, true),
            (&changed_before, true),
            (&intern, true),
            (&disabled, true),
            (&gone, true),
            (&returning, false),
        ] {
            link(&state, ObjectKind::User, record, active);
        }
        let users = [
            same,
            user("changed", "Finance"),
            intern,
            disabled,
            returning,
            user("new", "Sales"),
            user("new-intern", "Interns"),
        ];
        let snapshot = check(&users[..], &NO_GROUPS[..]).unwrap();
        let plan = plan(
            &snapshot,
            &Assignments::All,
            &mapping(),
            &Linked::load(&state, &snapshot).unwrap(),
            &PlanOptions::default(),
        );
        assert_eq!(
            actions(&plan),
            [
                ("User", "changed", Action::Update),
                ("User", "disabled", Action::Disable),
                ("User", "gone", Action::Delete),
                ("User", "intern", Action::Disable),
                ("User", "new", Action::Create),
                ("User", "returning", Action::Update),
            ]
        );
        assert_eq!(plan[1].reason, "disabled in the source");
        assert_eq!(plan[3].reason, "out of the scoping filters");
        let skip = PlanOptions {
            skip_out_of_scope_deletions: true,
            ..PlanOptions::default()
        };
        let linked = Linked::load(&state, &snapshot).unwrap();
        let plan = super::plan(&snapshot, &Assignments::All, &mapping(), &linked, &skip);
        assert!(!plan.iter().any(|p| p.action == Action::Disable));
    }

    #[test]
    fn assignments_reach_direct_members_only() {
        let state = State::in_memory().unwrap();
        let users: Vec<Json> = ["a", "b", "c", "d"]
            .iter()
            .map(|id| user(id, "Sales"))
            .collect();
        let groups = [
            json!({"objectId": "g1", "displayName": "Eng", "members": ["b", {"value": "g2"}]}),
            json!({"objectId": "g2", "displayName": "Nested", "members": ["c"]}),
        ];
        let assignments = Assignments::Assigned {
            users: HashSet::from(["a".to_string()]),
            groups: HashSet::from(["g1".to_string()]),
        };
        let snapshot = check(&users[..], &groups[..]).unwrap();
        let plan = plan(
            &snapshot,
            &assignments,
            &mapping(),
            &Linked::load(&state, &snapshot).unwrap(),
            &PlanOptions::default(),
        );
        assert_eq!(
            actions(&plan),
            [
                ("User", "a", Action::Create),
                ("User", "b", Action::Create),
                ("Group", "g1", Action::Create),
            ]
        );
    }
}
