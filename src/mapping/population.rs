//! What a mapping change would change: two object mappings applied to the same
//! records, compared attribute by attribute over the whole population.
//!
//! ```
//! use scimap::mapping::{population_diff, Mapping, StreamOptions};
//! use scimap::records::Format;
//!
//! let old = Mapping::embedded_default();
//! let new = Mapping::from_json(&scimap::mapping::DEFAULT_MAPPING.replace(
//!     r#""source": "Join(\" \", [givenName], [surname])""#,
//!     r#""source": "Join(\", \", [surname], [givenName])""#,
//! )).unwrap();
//! let records = r#"{"objectId": "1", "userPrincipalName": "a@contoso.com", "givenName": "Ann", "surname": "Lee"}"#;
//! let diff = population_diff(
//!     old.object("User").unwrap(), new.object("User").unwrap(),
//!     records.as_bytes(), Format::Ndjson, &StreamOptions::default(), 3,
//! ).unwrap();
//! assert_eq!(diff.changed, 1);
//! let formatted = diff.attributes.iter().find(|a| a.path == "name.formatted").unwrap();
//! assert_eq!(formatted.examples[0].new, Some(serde_json::json!("Lee, Ann")));
//! ```

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value as Json;

use super::stream::{chunked, Chunk, ChunkBatch, StreamOptions};
use super::{Applied, ObjectMapping};
use crate::records::{Format, ReadError};
use crate::scim::diff::changes;

/// The differences between two mappings over a population of records.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PopulationDiff {
    pub records: usize,
    /// In scope under both, with the same resource.
    pub unchanged: usize,
    /// In scope under both, with a different resource.
    pub changed: usize,
    /// Out of scope under both.
    pub out_of_scope: usize,
    /// Failing under both.
    pub failing: usize,
    /// Out of scope under the old mapping, a resource under the new one.
    pub entering_scope: Examples,
    /// A resource under the old mapping, out of scope under the new one.
    pub leaving_scope: Examples,
    /// Failing under the new mapping only.
    pub newly_failing: Examples,
    /// Failing under the old mapping only.
    pub no_longer_failing: Examples,
    /// Records that could not be read, for either mapping.
    pub unreadable: Examples,
    /// Per target attribute, in path order.
    pub attributes: Vec<AttributeDiff>,
}

/// How many records, with the first few named.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Examples {
    pub count: usize,
    pub examples: Vec<Example>,
}

/// A record named by its id (or its place in the input), with why when it failed.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub record: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How one target attribute changes across the objects in scope under both mappings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttributeDiff {
    pub path: String,
    /// Objects whose value changes.
    pub changed: usize,
    /// Objects that gain a value.
    pub added: usize,
    /// Objects that lose their value.
    pub removed: usize,
    pub examples: Vec<ValueExample>,
}

/// One object's value before and after (`None`: no value).
#[derive(Debug, Clone, Serialize)]
pub struct ValueExample {
    pub record: String,
    pub old: Option<Json>,
    pub new: Option<Json>,
}

/// Applies `old` and `new` to every record of `input` and compares what they make.
/// `examples` bounds the records named per attribute and per category.
pub fn population_diff(
    old: &ObjectMapping,
    new: &ObjectMapping,
    input: impl BufRead,
    format: Format,
    options: &StreamOptions<'_>,
    examples: usize,
) -> Result<PopulationDiff, ReadError> {
    let mut total = Totals::new(examples);
    chunked(
        input,
        format,
        options.chunk_size,
        options.parallel,
        |chunk| compare_chunk(old, new, chunk, options, examples),
        |part| {
            total.merge(part);
            Ok(())
        },
    )?;
    Ok(total.finish())
}

/// What a mapping made of one record.
enum Made {
    Resource(std::ops::Range<usize>),
    OutOfScope,
    Failed(String),
}

struct Outcomes {
    bytes: Vec<u8>,
    made: Vec<Made>,
}

fn outcomes(object: &ObjectMapping, part: &ChunkBatch, options: &StreamOptions<'_>) -> Outcomes {
    let mut out = Outcomes {
        bytes: Vec::with_capacity(part.batch.len() * 256),
        made: Vec::with_capacity(part.batch.len()),
    };
    object.apply_batch(&part.batch, &options.apply, |_, result| {
        let made = match result {
            Ok(Applied::Resource(resource)) => {
                let start = out.bytes.len();
                resource.write_json(&mut out.bytes);
                Made::Resource(start..out.bytes.len())
            }
            Ok(Applied::OutOfScope) => Made::OutOfScope,
            Err(e) => Made::Failed(match &e.target {
                Some(target) => format!("{target}: {}", e.message),
                None => e.message,
            }),
        };
        out.made.push(made);
    });
    out
}

fn compare_chunk(
    old: &ObjectMapping,
    new: &ObjectMapping,
    chunk: Chunk,
    options: &StreamOptions<'_>,
    examples: usize,
) -> Totals {
    let (old_part, new_part) = if old.source.eq_ignore_ascii_case(&new.source) {
        let part = chunk.into_batch(new);
        (None, part)
    } else {
        (Some(chunk.clone().into_batch(old)), chunk.into_batch(new))
    };
    let mut totals = Totals::new(examples);
    totals.diff.records = new_part.records;
    for (position, message) in &new_part.failed {
        let example = Example {
            record: position.to_string(),
            message: Some(message.clone()),
        };
        totals.add_example(Category::Unreadable, example);
    }
    let old_made = outcomes(old, old_part.as_ref().unwrap_or(&new_part), options);
    let new_made = outcomes(new, &new_part, options);
    for row in 0..new_part.batch.len() {
        let record = || record_name(&new_part, row);
        totals.compare(&old_made, &new_made, row, record);
    }
    totals
}

fn record_name(part: &ChunkBatch, row: usize) -> String {
    super::apply::record_id(&part.batch, row).unwrap_or_else(|| part.positions[row].to_string())
}

#[derive(Clone, Copy)]
enum Category {
    Entering,
    Leaving,
    NewlyFailing,
    NoLongerFailing,
    Unreadable,
}

/// A diff being summed, with attributes keyed by their lower-cased path.
struct Totals {
    diff: PopulationDiff,
    attributes: BTreeMap<String, AttributeDiff>,
    examples: usize,
}

impl Totals {
    fn new(examples: usize) -> Totals {
        Totals {
            diff: PopulationDiff::default(),
            attributes: BTreeMap::new(),
            examples,
        }
    }

    fn from_diff(mut diff: PopulationDiff, examples: usize) -> Totals {
        let attributes = std::mem::take(&mut diff.attributes)
            .into_iter()
            .map(|a| (a.path.to_ascii_lowercase(), a))
            .collect();
        Totals {
            diff,
            attributes,
            examples,
        }
    }

    fn compare(&mut self, old: &Outcomes, new: &Outcomes, row: usize, record: impl Fn() -> String) {
        match (&old.made[row], &new.made[row]) {
            (Made::Resource(a), Made::Resource(b)) => {
                let (a, b) = (&old.bytes[a.clone()], &new.bytes[b.clone()]);
                if a == b {
                    self.diff.unchanged += 1;
                } else {
                    self.resources(a, b, record);
                }
            }
            (Made::OutOfScope, Made::OutOfScope) => self.diff.out_of_scope += 1,
            (Made::Failed(_), Made::Failed(_)) => self.diff.failing += 1,
            (Made::OutOfScope, Made::Resource(_)) => {
                self.add_example(Category::Entering, named(record(), None));
            }
            (Made::Resource(_), Made::OutOfScope) => {
                self.add_example(Category::Leaving, named(record(), None));
            }
            (_, Made::Failed(message)) => {
                let example = named(record(), Some(message.clone()));
                self.add_example(Category::NewlyFailing, example);
            }
            (Made::Failed(message), _) => {
                let example = named(record(), Some(message.clone()));
                self.add_example(Category::NoLongerFailing, example);
            }
        }
    }

    fn resources(&mut self, old: &[u8], new: &[u8], record: impl Fn() -> String) {
        let found = resource_changes(old, new);
        if found.is_empty() {
            // The same values in another order.
            self.diff.unchanged += 1;
            return;
        }
        self.diff.changed += 1;
        for change in found {
            let entry = self
                .attributes
                .entry(change.path.to_ascii_lowercase())
                .or_insert_with(|| AttributeDiff {
                    path: change.path.clone(),
                    ..AttributeDiff::default()
                });
            match (&change.old, &change.new) {
                (None, _) => entry.added += 1,
                (_, None) => entry.removed += 1,
                _ => entry.changed += 1,
            }
            if entry.examples.len() < self.examples {
                entry.examples.push(ValueExample {
                    record: record(),
                    old: change.old,
                    new: change.new,
                });
            }
        }
    }

    fn category(&mut self, category: Category) -> &mut Examples {
        match category {
            Category::Entering => &mut self.diff.entering_scope,
            Category::Leaving => &mut self.diff.leaving_scope,
            Category::NewlyFailing => &mut self.diff.newly_failing,
            Category::NoLongerFailing => &mut self.diff.no_longer_failing,
            Category::Unreadable => &mut self.diff.unreadable,
        }
    }

    fn add_example(&mut self, category: Category, example: Example) {
        let limit = self.examples;
        let examples = self.category(category);
        examples.count += 1;
        if examples.examples.len() < limit {
            examples.examples.push(example);
        }
    }

    /// Adds a later part of the input: counts add up, examples keep input order.
    fn merge(&mut self, other: Totals) {
        let limit = self.examples;
        let d = &mut self.diff;
        let o = other.diff;
        d.records += o.records;
        d.unchanged += o.unchanged;
        d.changed += o.changed;
        d.out_of_scope += o.out_of_scope;
        d.failing += o.failing;
        for (mine, theirs) in [
            (&mut d.entering_scope, o.entering_scope),
            (&mut d.leaving_scope, o.leaving_scope),
            (&mut d.newly_failing, o.newly_failing),
            (&mut d.no_longer_failing, o.no_longer_failing),
            (&mut d.unreadable, o.unreadable),
        ] {
            mine.count += theirs.count;
            let room = limit.saturating_sub(mine.examples.len());
            mine.examples.extend(theirs.examples.into_iter().take(room));
        }
        for (key, theirs) in other.attributes {
            let mine = self.attributes.entry(key).or_insert_with(|| AttributeDiff {
                path: theirs.path.clone(),
                ..AttributeDiff::default()
            });
            mine.changed += theirs.changed;
            mine.added += theirs.added;
            mine.removed += theirs.removed;
            let room = limit.saturating_sub(mine.examples.len());
            mine.examples.extend(theirs.examples.into_iter().take(room));
        }
    }

    fn finish(mut self) -> PopulationDiff {
        self.diff.attributes = self.attributes.into_values().collect();
        self.diff
    }
}

/// The changes between two resources as the writer wrote them. Only the top-level
/// attributes whose text differs are parsed: most of a resource is usually the same.
fn resource_changes(old: &[u8], new: &[u8]) -> Vec<crate::scim::diff::Change> {
    type Top<'a> = BTreeMap<String, &'a RawValue>;
    let (old, new): (Top<'_>, Top<'_>) = (
        serde_json::from_slice(old).unwrap_or_default(),
        serde_json::from_slice(new).unwrap_or_default(),
    );
    let differing = |mine: &Top<'_>, theirs: &Top<'_>| -> Json {
        let parse = |raw: &RawValue| serde_json::from_str(raw.get()).unwrap_or(Json::Null);
        Json::Object(
            mine.iter()
                .filter(|(key, raw)| theirs.get(*key).map(|r| r.get()) != Some(raw.get()))
                .map(|(key, raw)| (key.clone(), parse(raw)))
                .collect(),
        )
    };
    changes(&differing(&old, &new), &differing(&new, &old))
}

fn named(record: String, message: Option<String>) -> Example {
    Example { record, message }
}

impl PopulationDiff {
    /// Adds the diff of more records (another file, read after these): counts add
    /// up, examples stay in reading order, at most `examples` of each.
    pub fn extend(&mut self, other: PopulationDiff, examples: usize) {
        let mut totals = Totals::from_diff(std::mem::take(self), examples);
        totals.merge(Totals::from_diff(other, examples));
        *self = totals.finish();
    }

    /// Whether any object would change, enter or leave scope, or start or stop failing.
    pub fn is_empty(&self) -> bool {
        self.changed == 0
            && self.entering_scope.count == 0
            && self.leaving_scope.count == 0
            && self.newly_failing.count == 0
            && self.no_longer_failing.count == 0
    }
}
