//! `SelectUniqueValue` against a live target: the candidates a mapping would try are
//! collected first, each looked up in the target, and the mapping evaluated again
//! knowing which are taken.

use std::sync::{Arc, Mutex};

use serde_json::Value as Json;

use super::cycle::{lock, Run};
use super::object::{Evaluated, Failure, Trace};
use super::state::Link;
use crate::mapping::Phase;
use crate::scim::ObjectKind;
use crate::{Context, ExistingSet, ExistingValues};

/// Answers every candidate as taken, recording it: the candidates `SelectUniqueValue`
/// would try, to be looked up in the target.
#[derive(Default)]
struct Probe(Mutex<Vec<String>>);

impl ExistingValues for Probe {
    fn contains(&self, value: &str) -> bool {
        lock(&self.0).push(value.to_string());
        true
    }
}

impl Run<'_> {
    /// The resource the mapping makes of a record in a phase, references resolved
    /// through the links made so far, `SelectUniqueValue` candidates looked up in the
    /// target; for a linked object, also the state the target should hold.
    pub(super) async fn evaluate(
        &self,
        trace: &mut Trace,
        kind: ObjectKind,
        record: &Json,
        phase: Phase,
        link: Option<&Link>,
    ) -> Result<Evaluated, Failure> {
        let object = self.object(kind);
        let unique = object.unique_targets();
        if unique.is_empty() {
            return self.evaluate_with(object, record, phase, link, None);
        }
        let probe = Arc::new(Probe::default());
        let context = Context {
            existing: Some(probe.clone()),
            ..Context::default()
        };
        let first = self.evaluate_with(object, record, phase, link, Some(&context));
        let candidates = std::mem::take(&mut *lock(&probe.0));
        if candidates.is_empty() {
            return first;
        }
        let mut taken = Vec::new();
        for candidate in candidates {
            for target in &unique {
                let found = self.find(trace, kind, target, &candidate).await?;
                let own = link.map(|l| l.target_id.as_str());
                if found.iter().any(|r| r["id"].as_str() != own) {
                    taken.push(candidate.clone());
                }
            }
        }
        let context = Context {
            existing: Some(Arc::new(ExistingSet::new(taken))),
            ..Context::default()
        };
        self.evaluate_with(object, record, phase, link, Some(&context))
    }
}
