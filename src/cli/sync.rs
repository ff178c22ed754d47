//! `scimap sync`: one provisioning cycle from a directory snapshot to a SCIM target.

use std::collections::HashSet;
use std::io::BufReader;

use serde_json::Value as Json;

use super::Outcome;
use crate::mapping::Mapping;
use crate::records::{self, Format, Raw};
use crate::scim::PatchStyle;
use crate::sync::engine::Engine;
use crate::sync::plan::{Assignments, PlanOptions};
use crate::sync::state::State;
use crate::sync::{Target, TargetConfig};

pub struct SyncArgs<'a> {
    pub mapping: Mapping,
    pub users: &'a str,
    pub groups: Option<&'a str>,
    pub assignments: Option<&'a str>,
    pub target: &'a str,
    pub token: &'a str,
    pub state: &'a str,
    pub style: PatchStyle,
    pub skip_out_of_scope_deletions: bool,
    pub dry_run: bool,
}

/// Every record of a snapshot file; any bad record stops the sync before it starts.
fn snapshot(path: &str) -> Result<Vec<Json>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    records::read(
        BufReader::new(file),
        Format::Auto,
        &mut |position, record| match record {
            Ok(Raw::Parsed(value)) => out.push(value),
            Ok(Raw::Line(line)) => match records::parse_line(line) {
                Ok(value) => out.push(value),
                Err(e) => problems.push(format!("{path}: {position}: {e}")),
            },
            Err(e) => problems.push(format!("{path}: {position}: {e}")),
        },
    )
    .map_err(|e| format!("{path}: {e}"))?;
    match problems.first() {
        Some(first) => Err(format!(
            "{first} ({} bad records; nothing was sent)",
            problems.len()
        )),
        None => Ok(out),
    }
}

/// `{"users": [ids], "groups": [ids]}`.
fn assignments(path: &str) -> Result<Assignments, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value: Json =
        serde_json::from_str(&text).map_err(|e| format!("{path}: invalid JSON: {e}"))?;
    let ids = |key: &str| -> Result<HashSet<String>, String> {
        match value.get(key) {
            None => Ok(HashSet::new()),
            Some(Json::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("{path}: `{key}` lists ids as strings"))
                })
                .collect(),
            Some(_) => Err(format!("{path}: `{key}` must be an array of ids")),
        }
    };
    Ok(Assignments::Assigned {
        users: ids("users")?,
        groups: ids("groups")?,
    })
}

pub fn sync(args: SyncArgs<'_>) -> Outcome {
    let fail = |message: String| {
        eprintln!("error: {message}");
        Outcome::InputError
    };
    let users = match snapshot(args.users) {
        Ok(users) => users,
        Err(e) => return fail(e),
    };
    let groups = match args.groups.map(snapshot).transpose() {
        Ok(groups) => groups.unwrap_or_default(),
        Err(e) => return fail(e),
    };
    let assignments = match args.assignments.map(assignments).transpose() {
        Ok(assigned) => assigned.unwrap_or(Assignments::All),
        Err(e) => return fail(e),
    };
    let state = match State::open(std::path::Path::new(args.state)) {
        Ok(state) if args.dry_run => match state.copy_in_memory() {
            Ok(copy) => copy,
            Err(e) => return fail(e.to_string()),
        },
        Ok(state) => state,
        Err(e) => return fail(e.to_string()),
    };
    let target = match Target::new(TargetConfig::new(args.target, args.token)) {
        Ok(target) => target,
        Err(e) => return fail(e.to_string()),
    };
    let engine = Engine {
        mapping: args.mapping,
        state,
        target,
        style: args.style,
        plan: PlanOptions {
            skip_out_of_scope_deletions: args.skip_out_of_scope_deletions,
        },
        dry_run: args.dry_run,
        would_send: Default::default(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start: {e}")),
    };
    match runtime.block_on(engine.cycle(&users, &groups, &assignments)) {
        Ok((summary, logs)) => {
            for log in &logs {
                super::say(&format!(
                    "{}\n",
                    serde_json::to_string(log).expect("logs serialize")
                ));
            }
            eprintln!(
                "cycle: {} created, {} updated, {} disabled, {} deleted, {} failed",
                summary.created, summary.updated, summary.disabled, summary.deleted, summary.failed
            );
            if summary.failed > 0 {
                Outcome::EvalError
            } else {
                Outcome::Ok
            }
        }
        Err(e) => fail(format!("the cycle stopped: {e}")),
    }
}
