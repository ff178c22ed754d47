//! Applying a mapping to a whole file of records: read in chunks, each chunk made a
//! batch, evaluated (on several threads with the `parallel` feature) and written out
//! in input order. Memory holds a few chunks, however long the input.

use std::io::{BufRead, Write};

use serde_json::Value as Json;

use super::{Applied, ApplyError, ApplyOptions, ObjectMapping};
use crate::batch::{Batch, BatchBuilder, RecordError};
use crate::records::{self, Format, Position, Raw, ReadError};

/// How to run a stream.
#[derive(Clone, Copy)]
#[non_exhaustive]
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
            chunk_size: 256,
            parallel: false,
        }
    }
}

/// A record that made no resource.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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

/// Records read and not yet mapped. NDJSON lines are kept in one buffer per chunk
/// rather than one string each.
#[derive(Default, Clone)]
pub(crate) struct Chunk {
    text: String,
    records: Vec<(Position, Result<Entry, String>)>,
}

#[derive(Clone)]
enum Entry {
    Parsed(Json),
    Line(std::ops::Range<usize>),
}

impl Chunk {
    fn with_capacity(records: usize) -> Chunk {
        Chunk {
            text: String::with_capacity(records * 256),
            records: Vec::with_capacity(records),
        }
    }

    /// An empty chunk with room for one like this, so that its text is not copied
    /// into ever larger buffers as it fills (2 % of `scimap apply`'s instructions).
    fn next(&self) -> Chunk {
        Chunk {
            text: String::with_capacity(self.text.len() + self.text.len() / 8),
            records: Vec::with_capacity(self.records.capacity()),
        }
    }

    fn push(&mut self, position: Position, record: Result<Raw<'_>, String>) {
        let entry = record.map(|raw| match raw {
            Raw::Parsed(value) => Entry::Parsed(value),
            Raw::Line(line) => {
                let start = self.text.len();
                self.text.push_str(line);
                Entry::Line(start..self.text.len())
            }
        });
        self.records.push((position, entry));
    }
}

/// Reads `input` in chunks of records and hands each chunk to `process` (on several
/// threads when `parallel`), then each result to `consume` in input order. Memory holds
/// one chunk per thread. `consume` stops the reading by returning an error.
pub(crate) fn chunked<T: Send>(
    input: impl BufRead,
    format: Format,
    chunk_size: usize,
    parallel: bool,
    process: impl Fn(Chunk) -> T + Sync,
    mut consume: impl FnMut(T) -> Result<(), std::io::Error>,
) -> Result<(), ReadError> {
    let threads = if parallel { parallelism() } else { 1 };
    let mut pending: Vec<Chunk> = Vec::with_capacity(threads);
    let mut chunk = Chunk::with_capacity(chunk_size);
    let mut failure: Option<std::io::Error> = None;
    let mut flush = |pending: &mut Vec<Chunk>| {
        if failure.is_some() {
            pending.clear();
            return;
        }
        for done in process_all(std::mem::take(pending), &process) {
            if let Err(e) = consume(done) {
                failure = Some(e);
                return;
            }
        }
    };
    records::read(input, format, &mut |position, record| {
        chunk.push(position, record);
        if chunk.records.len() == chunk_size {
            let next = chunk.next();
            pending.push(std::mem::replace(&mut chunk, next));
            if pending.len() == threads {
                flush(&mut pending);
            }
        }
    })?;
    pending.push(chunk);
    flush(&mut pending);
    match failure {
        Some(e) => Err(ReadError::Io(e)),
        None => Ok(()),
    }
}

fn process_all<T: Send>(chunks: Vec<Chunk>, process: &(impl Fn(Chunk) -> T + Sync)) -> Vec<T> {
    #[cfg(feature = "parallel")]
    if chunks.len() > 1 {
        use rayon::prelude::*;
        return chunks.into_par_iter().map(process).collect();
    }
    chunks.into_iter().map(process).collect()
}

/// A chunk made a batch for an object mapping: the batch, the position of each of
/// its rows, and the records that could not join it with why.
pub(crate) struct ChunkBatch {
    pub batch: Batch,
    pub positions: Vec<Position>,
    pub failed: Vec<(Position, String)>,
    pub records: usize,
}

impl Chunk {
    pub(crate) fn into_batch(self, object: &ObjectMapping) -> ChunkBatch {
        let mut builder = Batch::builder();
        let records = self.records.len();
        let mut positions = Vec::with_capacity(records);
        let mut failed = Vec::new();
        for (position, record) in self.records {
            let pushed = record.and_then(|entry| {
                match entry {
                    Entry::Parsed(value) => builder.push_json(&value),
                    Entry::Line(range) => builder.push_json_text(&self.text[range]),
                }
                .and_then(|()| object.prepare_last(&mut builder))
                .map_err(record_message)
            });
            match pushed {
                Ok(()) => positions.push(position),
                Err(message) => failed.push((position, message)),
            }
        }
        ChunkBatch {
            batch: builder.finish(),
            positions,
            failed,
            records,
        }
    }
}

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
        let mut summary = Summary::default();
        chunked(
            input,
            format,
            options.chunk_size,
            options.parallel,
            |chunk| self.process(chunk, options),
            |done| {
                out.write_all(&done.bytes)?;
                done.reports.into_iter().for_each(&mut *report);
                summary.add(done.summary);
                Ok(())
            },
        )?;
        Ok(summary)
    }

    fn process(&self, chunk: Chunk, options: &StreamOptions<'_>) -> Done {
        let mut done = Done::default();
        // A SCIM resource takes about 1.4 times its record's JSON (default user
        // mapping): room for twice that, so the chunk's output is never copied to
        // a larger buffer halfway.
        done.bytes
            .reserve(2 * chunk.text.len() + chunk.records.len() * 64);
        let ChunkBatch {
            batch,
            positions,
            failed,
            records,
        } = chunk.into_batch(self);
        done.summary.records = records;
        for (position, message) in failed {
            done.fail(position, message);
        }
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

    /// A batch of source records as Entra presents them to mappings: a user gets
    /// `IsSoftDeleted` (from `accountEnabled`) when the record lacks it, and a guest's
    /// `userPrincipalName` loses its `#EXT#` form, kept in `originalUserPrincipalName`.
    pub fn batch(&self, records: &[Json]) -> Result<Batch, RecordError> {
        let mut builder = Batch::builder();
        for (i, record) in records.iter().enumerate() {
            builder
                .push_json(record)
                .and_then(|()| self.prepare_last(&mut builder))
                .map_err(|e| RecordError {
                    path: format!("$[{i}]{}", e.path.strip_prefix('$').unwrap_or(&e.path)),
                    ..e
                })?;
        }
        Ok(builder.finish())
    }

    /// Completes the record pushed last as Entra presents it to mappings: a user gets
    /// `IsSoftDeleted` (from `accountEnabled`) when the record lacks it, and a guest's
    /// `userPrincipalName` loses its `#EXT#` form, kept in `originalUserPrincipalName`.
    pub(crate) fn prepare_last(&self, builder: &mut BatchBuilder) -> Result<(), RecordError> {
        if !self.source.eq_ignore_ascii_case("user") {
            return Ok(());
        }
        if builder.last_text("IsSoftDeleted").is_none() {
            let disabled = builder
                .last_text("accountEnabled")
                .is_some_and(|enabled| enabled.eq_ignore_ascii_case("false"));
            builder.set_last_text("IsSoftDeleted", if disabled { "True" } else { "False" })?;
        }
        let guest = builder
            .last_text("userPrincipalName")
            .and_then(|upn| external_upn(upn).map(|stripped| (upn.to_string(), stripped)));
        if let Some((original, stripped)) = guest {
            if builder.last_text("originalUserPrincipalName").is_none() {
                builder.set_last_text("originalUserPrincipalName", &original)?;
            }
            builder.set_last_text("userPrincipalName", &stripped)?;
        }
        Ok(())
    }
}

/// A bad record's message, with the place in it when there is one.
fn record_message(e: RecordError) -> String {
    if e.path == "$" {
        e.message
    } else {
        e.to_string()
    }
}

/// `alias_theirdomain.com#EXT#@yours.onmicrosoft.com` → `alias@theirdomain.com`.
fn external_upn(upn: &str) -> Option<String> {
    let (local, _) = upn.split_once("#EXT#")?;
    let (alias, domain) = local.rsplit_once('_')?;
    Some(format!("{alias}@{domain}"))
}

impl Done {
    /// A record that could not be read into the batch (so it has no id to report).
    fn fail(&mut self, position: Position, message: String) {
        self.summary.failed += 1;
        let error = ApplyError {
            index: position.index,
            id: None,
            target: None,
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
    #[test]
    fn guests_and_soft_deletion() {
        let mapping = crate::mapping::Mapping::embedded_default();
        let users = mapping.object("User").unwrap();
        let batch = users
            .batch(&[
                serde_json::json!({
                    "userPrincipalName": "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com",
                    "accountEnabled": false,
                }),
                serde_json::json!({"IsSoftDeleted": "True", "accountEnabled": true}),
            ])
            .unwrap();
        let text = |row, name| batch.value(row, name).as_text().map(|t| t.into_owned());
        assert_eq!(
            text(0, "userPrincipalName").as_deref(),
            Some("ann@fabrikam.com")
        );
        assert_eq!(
            text(0, "originalUserPrincipalName").as_deref(),
            Some("ann_fabrikam.com#EXT#@contoso.onmicrosoft.com")
        );
        assert_eq!(text(0, "IsSoftDeleted").as_deref(), Some("True"));
        assert_eq!(
            text(1, "IsSoftDeleted").as_deref(),
            Some("True"),
            "a given value is kept"
        );
    }
}
