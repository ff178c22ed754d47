//! Applying a mapping to a whole file of records: read in chunks, each chunk made a
//! batch, evaluated (on several threads with the `parallel` feature) and written out
//! in input order. Memory holds a few chunks, however long the input.

use std::io::{BufRead, Write};

use serde_json::{Map, Value as Json};

use super::{Applied, ApplyError, ApplyOptions, ObjectMapping};
use crate::batch::Batch;
use crate::records::{self, Format, Position, Raw, ReadError};

/// How to run a stream.
#[derive(Clone, Copy)]
pub struct StreamOptions<'r> {
    pub apply: ApplyOptions<'r>,
    /// Records per batch.
    pub chunk_size: usize,
    /// Evaluate several chunks at once, one per thread (with the `parallel` feature).
    pub parallel: bool,
}

impl Default for StreamOptions<'_> {
    fn default() -> Self {
        StreamOptions {
            apply: ApplyOptions::default(),
            chunk_size: 1024,
            parallel: false,
        }
    }
}

/// A record that made no resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// The record could not be read or mapped.
    Failed {
        position: Position,
        error: ApplyError,
    },
    /// The scoping filters leave it out.
    OutOfScope {
        position: Position,
        id: Option<String>,
    },
}

/// What a stream did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub records: usize,
    pub resources: usize,
    pub out_of_scope: usize,
    pub failed: usize,
}

/// The output of one chunk, ready to be written in order.
#[derive(Default)]
struct Done {
    bytes: Vec<u8>,
    reports: Vec<Report>,
    summary: Summary,
}

type Chunk = Vec<(Position, Result<Raw, String>)>;

impl ObjectMapping {
    /// Reads records from `input`, writes one line of JSON per resource to `out`, and
    /// hands every record that made no resource to `report`. Only an unreadable
    /// input or output stops the stream; the records before that point are written.
    pub fn apply_stream(
        &self,
        input: impl BufRead,
        format: Format,
        options: &StreamOptions<'_>,
        out: &mut dyn Write,
        report: &mut dyn FnMut(Report),
    ) -> Result<Summary, ReadError> {
        let threads = if options.parallel { parallelism() } else { 1 };
        let mut summary = Summary::default();
        let mut pending: Vec<Chunk> = Vec::with_capacity(threads);
        let mut chunk: Chunk = Vec::with_capacity(options.chunk_size);
        let mut failure: Option<std::io::Error> = None;
        let mut flush = |pending: &mut Vec<Chunk>, summary: &mut Summary| {
            if failure.is_some() {
                pending.clear();
                return;
            }
            for done in self.process_all(std::mem::take(pending), options) {
                if let Err(e) = out.write_all(&done.bytes) {
                    failure = Some(e);
                    return;
                }
                done.reports.into_iter().for_each(&mut *report);
                summary.add(done.summary);
            }
        };
        records::read(input, format, &mut |position, record| {
            chunk.push((position, record));
            if chunk.len() == options.chunk_size {
                pending.push(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(options.chunk_size),
                ));
                if pending.len() == threads {
                    flush(&mut pending, &mut summary);
                }
            }
        })?;
        pending.push(chunk);
        flush(&mut pending, &mut summary);
        match failure {
            Some(e) => Err(ReadError::Io(e)),
            None => Ok(summary),
        }
    }

    fn process_all(&self, chunks: Vec<Chunk>, options: &StreamOptions<'_>) -> Vec<Done> {
        #[cfg(feature = "parallel")]
        if chunks.len() > 1 {
            use rayon::prelude::*;
            return chunks
                .into_par_iter()
                .map(|c| self.process(c, options))
                .collect();
        }
        chunks
            .into_iter()
            .map(|c| self.process(c, options))
            .collect()
    }

    fn process(&self, chunk: Chunk, options: &StreamOptions<'_>) -> Done {
        let mut done = Done::default();
        let mut builder = Batch::builder();
        let mut positions = Vec::with_capacity(chunk.len());
        done.summary.records = chunk.len();
        for (position, record) in chunk {
            let parsed = record.and_then(|raw| match raw {
                Raw::Parsed(value) => Ok(value),
                Raw::Line(text) => records::parse_line(&text),
            });
            let pushed = parsed.and_then(|mut value| {
                self.prepare(&mut value);
                builder.push_json(&value).map_err(|e| e.to_string())
            });
            match pushed {
                Ok(()) => positions.push(position),
                Err(message) => done.fail(position, None, None, message),
            }
        }
        let batch = builder.finish();
        self.apply_batch(&batch, &options.apply, |row, result| match result {
            Ok(Applied::Resource(resource)) => {
                resource.write_json(&mut done.bytes);
                done.bytes.push(b'\n');
                done.summary.resources += 1;
            }
            Ok(Applied::OutOfScope) => {
                let id = super::apply::record_id(&batch, row);
                done.reports.push(Report::OutOfScope {
                    position: positions[row],
                    id,
                });
                done.summary.out_of_scope += 1;
            }
            Err(error) => {
                let position = positions[row];
                done.reports.push(Report::Failed {
                    position,
                    error: ApplyError {
                        index: position.index,
                        ..error
                    },
                });
                done.summary.failed += 1;
            }
        });
        done.reports.sort_by_key(Report::index);
        done
    }

    /// A source record as Entra presents it to mappings: a user gets `IsSoftDeleted`
    /// (from `accountEnabled`) when the record lacks it, and a guest's
    /// `userPrincipalName` loses its `#EXT#` form, kept in `originalUserPrincipalName`.
    pub fn prepare(&self, record: &mut Json) {
        if !self.source.eq_ignore_ascii_case("user") {
            return;
        }
        if let Json::Object(map) = record {
            prepare_user(map);
        }
    }
}

fn prepare_user(map: &mut Map<String, Json>) {
    if !map.contains_key("IsSoftDeleted") {
        let disabled = match map.get("accountEnabled") {
            Some(Json::Bool(b)) => !b,
            Some(Json::String(s)) => s.eq_ignore_ascii_case("false"),
            _ => false,
        };
        let text = if disabled { "True" } else { "False" };
        map.insert("IsSoftDeleted".into(), Json::from(text));
    }
    let guest = match map.get("userPrincipalName") {
        Some(Json::String(upn)) => external_upn(upn).map(|stripped| (upn.clone(), stripped)),
        _ => None,
    };
    if let Some((original, stripped)) = guest {
        map.entry("originalUserPrincipalName")
            .or_insert(Json::String(original));
        map.insert("userPrincipalName".into(), Json::String(stripped));
    }
}

/// `alias_theirdomain.com#EXT#@yours.onmicrosoft.com` → `alias@theirdomain.com`.
fn external_upn(upn: &str) -> Option<String> {
    let (local, _) = upn.split_once("#EXT#")?;
    let (alias, domain) = local.rsplit_once('_')?;
    Some(format!("{alias}@{domain}"))
}

impl Done {
    fn fail(
        &mut self,
        position: Position,
        id: Option<String>,
        target: Option<String>,
        message: String,
    ) {
        self.summary.failed += 1;
        let error = ApplyError {
            index: position.index,
            id,
            target,
            message,
            eval: None,
        };
        self.reports.push(Report::Failed { position, error });
    }
}

impl Report {
    fn index(&self) -> usize {
        match self {
            Report::Failed { position, .. } | Report::OutOfScope { position, .. } => position.index,
        }
    }
}

impl Summary {
    fn add(&mut self, other: Summary) {
        self.records += other.records;
        self.resources += other.resources;
        self.out_of_scope += other.out_of_scope;
        self.failed += other.failed;
    }
}

fn parallelism() -> usize {
    if cfg!(feature = "parallel") {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_and_soft_deletion() {
        let mut map = serde_json::json!({
            "userPrincipalName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "accountEnabled": false,
        });
        prepare_user(map.as_object_mut().unwrap());
        assert_eq!(map["userPrincipalName"], "ann@fabrikam.com");
        assert_eq!(
            map["originalUserPrincipalName"],
            "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com"
        );
        assert_eq!(map["IsSoftDeleted"], "True");
        let mut map = serde_json::json!({"IsSoftDeleted": "True", "accountEnabled": true});
        prepare_user(map.as_object_mut().unwrap());
        assert_eq!(map["IsSoftDeleted"], "True", "a given value is kept");
    }
}
