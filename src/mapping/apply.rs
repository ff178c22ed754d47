//! Applying an object mapping to a batch of source records.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value as Json;

use super::file::Apply;
use super::resource::{output, Resource};
use super::ObjectMapping;
use crate::batch::Batch;
use crate::context::Context;
use crate::scim::{self, PatchStyle};
use crate::value::Value;
use crate::vm::{EvalError, Evaluator};

/// Whether a resource is being created or updated: defaults and `on-create` mappings
/// flow only on creation, and group members are added by PATCH after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Create,
    Update,
}

/// Translates the source id of a referenced object (a manager, a group member) into
/// its id in the target.
pub trait References: Sync {
    fn target_id(&self, source_id: &str) -> Option<String>;
}

impl References for HashMap<String, String> {
    fn target_id(&self, source_id: &str) -> Option<String> {
        self.get(source_id).cloned()
    }
}

/// How to apply a mapping: `ApplyOptions::default()` (create, no context, no
/// references), then the fields to change.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct ApplyOptions<'r> {
    pub context: Option<&'r Context>,
    pub phase: Phase,
    /// Without it, references (manager, members) are left out as not yet resolvable.
    pub references: Option<&'r dyn References>,
}

/// What a mapping makes of one record.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Applied<'a> {
    Resource(Resource<'a>),
    /// The scoping filters leave the record out.
    OutOfScope,
}

impl<'a> Applied<'a> {
    pub fn resource(self) -> Option<Resource<'a>> {
        match self {
            Applied::Resource(r) => Some(r),
            Applied::OutOfScope => None,
        }
    }
}

/// A record the mapping could not be applied to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("record {index}{}: {}{message}", id.as_ref().map(|id| format!(" ({id})")).unwrap_or_default(), target.as_ref().map(|t| format!("{t}: ")).unwrap_or_default())]
pub struct ApplyError {
    /// The record's position in the batch.
    pub index: usize,
    /// The record's `objectId` or `id`, when it has one.
    pub id: Option<String>,
    /// The target whose value failed.
    pub target: Option<String>,
    pub message: String,
    /// The evaluation error, for rendering against the expression.
    pub eval: Option<EvalError>,
}

impl ObjectMapping {
    /// Applies the mapping to every record of a batch, in order, handing each outcome
    /// to `sink` with its index. Each expression runs over the whole batch at once.
    pub fn apply_batch<'a>(
        &'a self,
        batch: &'a Batch,
        options: &ApplyOptions<'_>,
        mut sink: impl FnMut(usize, Result<Applied<'a>, ApplyError>),
    ) {
        let default_context = Context::default();
        let context = options.context.unwrap_or(&default_context);
        let mut evaluators: Vec<Option<Evaluator<'a>>> = self
            .attributes
            .iter()
            .map(|a| match (&a.program, self.flows(a, options.phase)) {
                (Some(program), true) => Some(Evaluator::new(program, batch, context)),
                _ => None,
            })
            .collect();
        for row in 0..batch.len() {
            if !self.scope.admits(|name| batch.value(row, name)) {
                sink(row, Ok(Applied::OutOfScope));
                continue;
            }
            let result = self.record(row, &mut evaluators, context, options);
            sink(
                row,
                result
                    .map(Applied::Resource)
                    .map_err(|(target, message, eval)| ApplyError {
                        index: row,
                        id: record_id(batch, row),
                        target,
                        message,
                        eval,
                    }),
            );
        }
    }

    /// Applies the mapping to the one record of a batch (as made by
    /// [`ObjectMapping::batch`] from one record): its resource, or `None` when it is out
    /// of scope.
    pub fn apply_one<'a>(
        &'a self,
        batch: &'a Batch,
        options: &ApplyOptions<'_>,
    ) -> Result<Option<Resource<'a>>, ApplyError> {
        let mut outcome = Ok(None);
        self.apply_batch(batch, options, |row, result| {
            if row == 0 {
                outcome = result.map(Applied::resource);
            }
        });
        outcome
    }

    /// Whether an attribute mapping flows in a phase.
    fn flows(&self, attribute: &super::AttributeMapping, phase: Phase) -> bool {
        match phase {
            Phase::Create => !attribute.target.is_members(),
            Phase::Update => attribute.apply != Apply::OnCreate,
        }
    }

    fn record<'a>(
        &'a self,
        row: usize,
        evaluators: &mut [Option<Evaluator<'a>>],
        context: &Context,
        options: &ApplyOptions<'_>,
    ) -> Result<Resource<'a>, (Option<String>, String, Option<EvalError>)> {
        let mut values = Vec::with_capacity(self.attributes.len());
        let mut unresolved = Vec::new();
        for (i, (attribute, evaluator)) in self.attributes.iter().zip(evaluators).enumerate() {
            let target = &attribute.target;
            let value = match evaluator {
                Some(evaluator) => evaluator
                    .eval(row, context)
                    .map_err(|e| (Some(target.text.clone()), e.message().to_string(), Some(e)))?,
                None if attribute.program.is_some() => {
                    // Does not flow in this phase.
                    values.push(None);
                    continue;
                }
                None => Value::Null,
            };
            let value = match (&value, &attribute.default) {
                (Value::Null, Some(default))
                    if options.phase == Phase::Create || attribute.program.is_none() =>
                {
                    Value::Str(Cow::Borrowed(default.as_str()))
                }
                _ => value,
            };
            let mut resolve = |id: &str| {
                let found = options.references.and_then(|r| r.target_id(id));
                if found.is_none() {
                    unresolved.push((target.text.clone(), id.to_string()));
                }
                found
            };
            let out = output(value, attribute, self.plan.alone[i], &mut resolve)
                .map_err(|e| (Some(target.text.clone()), e.0, None))?;
            let pending = unresolved.iter().any(|(t, _)| *t == target.text);
            if out.is_none() && target.required && options.phase == Phase::Create && !pending {
                let message = format!(
                    "{} requires `{}`, and this record gives it no value",
                    self.target, target.attribute
                );
                return Err((Some(target.text.clone()), message, None));
            }
            values.push(out);
        }
        Ok(Resource {
            object: self,
            values,
            unresolved,
        })
    }

    /// What brings the target up to date with `updated` (made in the
    /// [`Phase::Update`] phase), or `None` when nothing changed: the PATCH request for
    /// a SCIM target ([`ObjectMapping::patch`]), the change set for an app's object
    /// ([`ObjectMapping::changes`]).
    pub fn update(
        &self,
        exported: &Json,
        updated: &Resource<'_>,
        style: PatchStyle,
    ) -> Option<Json> {
        match self.target.scim() {
            Some(_) => self.patch(exported, updated, style),
            None => self.changes(exported, updated),
        }
    }

    /// The attribute-level change set that brings an app's object (as last exported)
    /// up to date with `updated`: each changed attribute's name, in mapping order,
    /// with its `old` and `new` value (`null` for none). Apps that are not SCIM have
    /// no PATCH; this is what their connectors send. Attributes the mapping does not
    /// write in updates are left as they are.
    pub fn changes(&self, exported: &Json, updated: &Resource<'_>) -> Option<Json> {
        let new = updated.to_json();
        let mut changes = serde_json::Map::new();
        for (i, attribute) in self.attributes.iter().enumerate() {
            let target = &attribute.target;
            let old = target.find(exported);
            let flows = attribute.apply != Apply::OnCreate;
            let add_only = attribute.apply == Apply::AddOnly && old.is_some();
            let pending = updated.unresolved.iter().any(|(t, _)| *t == target.text);
            if !flows || add_only || (updated.values[i].is_none() && pending) {
                continue;
            }
            let value = new.get(&target.attribute);
            if !same_value(old, value) {
                changes.insert(
                    target.attribute.clone(),
                    serde_json::json!({"old": old, "new": value}),
                );
            }
        }
        (!changes.is_empty()).then_some(Json::Object(changes))
    }

    /// The PATCH request that brings a previously exported resource up to date with
    /// `updated` (a resource made in the [`Phase::Update`] phase), or `None` when
    /// nothing changed: the PATCH of the [`desired`](ObjectMapping::desired) state.
    pub fn patch(
        &self,
        exported: &Json,
        updated: &Resource<'_>,
        style: PatchStyle,
    ) -> Option<Json> {
        scim::patch(exported, &self.desired(exported, updated), style)
    }

    /// What the target should hold once `updated` (a resource made in the
    /// [`Phase::Update`] phase) is sent over a previously exported resource. Mappings
    /// that flow only where the target is empty are dropped where `exported` has a
    /// value; members not provisioned yet leave the target's as they are, and no
    /// members in the source empty the target's.
    pub fn desired(&self, exported: &Json, updated: &Resource<'_>) -> Json {
        let mut updated = updated.clone();
        for (i, attribute) in self.attributes.iter().enumerate() {
            if attribute.apply == Apply::AddOnly && attribute.target.find(exported).is_some() {
                updated.values[i] = None;
            }
        }
        let mut new = updated.to_json();
        if let Some(i) = self.attributes.iter().position(|a| a.target.is_members()) {
            let target = &self.attributes[i].target.text;
            let pending = updated.unresolved.iter().any(|(t, _)| t == target);
            match (&updated.values[i], exported.get("members")) {
                (None, Some(old)) if pending => new["members"] = old.clone(),
                (None, _) => new["members"] = Json::Array(Vec::new()),
                _ => {}
            }
        }
        new
    }
}

/// Whether two values of an app's attribute are the same: arrays as sets, since apps
/// keep multi-valued attributes in no order.
fn same_value(old: Option<&Json>, new: Option<&Json>) -> bool {
    match (old, new) {
        (Some(Json::Array(a)), Some(Json::Array(b))) => {
            let set = |items: &[Json]| -> std::collections::HashSet<String> {
                items.iter().map(Json::to_string).collect()
            };
            a.len() == b.len() && set(a) == set(b)
        }
        (old, new) => old == new,
    }
}

pub(crate) fn record_id(batch: &Batch, row: usize) -> Option<String> {
    ["objectId", "id"]
        .iter()
        .find_map(|name| batch.value(row, name).as_text().map(Cow::into_owned))
}
