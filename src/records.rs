//! Reading source records from files, one at a time, whatever their layout: NDJSON,
//! a JSON array, a Microsoft Graph list response (`{"value": [...]}`), or CSV with a
//! header row. Memory stays flat: records are handed on as they are read.

use std::io::{BufRead, Read};

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

/// The layout of a records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Told from the first character: `[` an array, `{` NDJSON or one document
    /// (a Graph list or a single record), anything else CSV.
    #[default]
    Auto,
    Ndjson,
    Json,
    Csv,
}

/// One record as read: parsed already, or a line of NDJSON still to parse (so that
/// parsing can happen on another thread, straight into a batch).
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'l> {
    Parsed(Json),
    Line(&'l str),
}

/// Where a record is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Its position among the file's records, from 0.
    pub index: usize,
    /// Its line, where the layout has one record per line.
    pub line: Option<usize>,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}", self.index)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// A file that cannot be read on: records after the problem are lost, so this stops
/// the file, where a bad record does not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}, column {column}: invalid JSON: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Layout(String),
}

impl From<serde_json::Error> for ReadError {
    fn from(e: serde_json::Error) -> ReadError {
        if e.is_io() {
            return ReadError::Io(e.into());
        }
        let message = crate::json::message(&e);
        ReadError::Json {
            line: e.line(),
            column: e.column(),
            message,
        }
    }
}

/// Something for `read` to hand records to.
pub type Sink<'s> = dyn FnMut(Position, Result<Raw<'_>, String>) + 's;

/// Reads every record of a file, handing each to `sink` with its position; a record
/// that is not a JSON object, or a CSV row of the wrong length, is handed on as an
/// error and reading goes on.
pub fn read(
    mut reader: impl BufRead,
    format: Format,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let (format, skipped) = match format {
        Format::Auto => detect(&mut reader)?,
        other => (other, 0),
    };
    match format {
        Format::Csv => read_csv(reader, sink),
        Format::Json => read_document(reader, sink),
        _ => read_lines(reader, skipped, sink),
    }
}

/// A record's text parsed and checked to be an object.
pub fn parse_line(text: &str) -> Result<Json, String> {
    match serde_json::from_str::<Json>(text) {
        Ok(value @ Json::Object(_)) => Ok(value),
        Ok(other) => Err(format!(
            "a record must be a JSON object, not {}",
            crate::json::kind(&other)
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// The layout, from the first character that is not white space; and how many bytes
/// were skipped to find it.
fn detect(reader: &mut impl BufRead) -> Result<(Format, usize), ReadError> {
    let mut skipped = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((Format::Ndjson, skipped));
        }
        let skip = buffer
            .iter()
            // Whitespace, and a UTF-8 byte order mark.
            .position(|b| !b.is_ascii_whitespace() && ![0xEF, 0xBB, 0xBF].contains(b));
        match skip {
            Some(i) => {
                let byte = buffer[i];
                reader.consume(i);
                let format = match byte {
                    b'[' => Format::Json,
                    b'{' => Format::Ndjson,
                    _ => Format::Csv,
                };
                return Ok((format, skipped + i));
            }
            None => {
                let len = buffer.len();
                reader.consume(len);
                skipped += len;
            }
        }
    }
}

/// NDJSON; but when the first line is not a whole JSON value, the input is one
/// pretty-printed document instead (a Graph list, or one record). A line that is not
/// UTF-8 is a bad record, named by its line and the byte offset of its first bad byte
/// in the file; reading goes on.
fn read_lines(
    mut reader: impl BufRead,
    skipped: usize,
    sink: &mut Sink<'_>,
) -> Result<(), ReadError> {
    let mut buffer = Vec::new();
    if read_line(&mut reader, &mut buffer)? == 0 {
        return Ok(());
    }
    let whole = std::str::from_utf8(&buffer).is_ok_and(|t| {
        t.trim().is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok()
    });
    if !whole && std::str::from_utf8(&buffer).is_ok() {
        let chained = std::io::Cursor::new(buffer).chain(reader);
        return read_document(std::io::BufReader::new(chained), sink);
    }
    let (mut index, mut line_no, mut offset) = (0, 0, skipped);
    loop {
        line_no += 1;
        let line = std::str::from_utf8(&buffer);
        let position = Position {
            index,
            line: Some(line_no),
        };
        match line.map(str::trim) {
            Err(e) => {
                let at = offset + e.valid_up_to();
                sink(
                    position,
                    Err(format!(
                        "invalid UTF-8 at byte offset {at} of the file (byte {} of its line)",
                        e.valid_up_to() + 1
                    )),
                );
                index += 1;
            }
            Ok("") => {}
            Ok(text) => index += lines_of(text, index, line_no, sink),
        }
        offset += buffer.len();
        buffer.clear();
        if read_line(&mut reader, &mut buffer)? == 0 {
            return Ok(());
        }
    }
}

/// `BufRead::read_until(b'\n', …)` with `memchr`'s vectorised search for the end
/// of the line in place of the standard library's word at a time one (2 % of
/// `scimap apply`).
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (end, used) = match memchr::memchr(b'\n', available) {
            Some(i) => (true, i + 1),
            None => (available.is_empty(), available.len()),
        };
        line.extend_from_slice(&available[..used]);
        reader.consume(used);
        read += used;
        if end {
            return Ok(read);
        }
    }
}

/// A searcher for `"value"`, made once: `str::contains` set up its search on every
/// line, 2 % of `scimap apply`.
fn value_key() -> &'static memchr::memmem::Finder<'static> {
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    FINDER.get_or_init(|| memchr::memmem::Finder::new(b"\"value\""))
}

/// The records of one line: the line itself, or a Graph list response's records when
/// the line is one; how many.
fn lines_of(text: &str, index: usize, line_no: usize, sink: &mut Sink<'_>) -> usize {
    if text.starts_with('{') && value_key().find(text.as_bytes()).is_some() {
        if let Ok(Json::Object(mut map)) = serde_json::from_str::<Json>(text) {
            if let Some(Json::Array(items)) = map.remove("value") {
                let n = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let position = Position {
                        index: index + i,
                        line: Some(line_no),
                    };
                    sink(position, object(item));
                }
                return n;
            }
        }
    }
    let position = Position {
        index,
        line: Some(line_no),
    };
    sink(position, Ok(Raw::Line(text)));
    1
}

fn object(value: Json) -> Result<Raw<'static>, String> {
    match value {
        Json::Object(_) => Ok(Raw::Parsed(value)),
        other => Err(format!(
            "a record must be a JSON object, not {}",
            crate::json::kind(&other)
        )),
    }
}

/// One JSON document: an array of records, a Graph list `{"value": [...]}`, or a
/// single record. Array elements are handed on as they are parsed.
fn read_document(reader: impl Read, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut count = 0;
    let single = Document {
        sink,
        count: &mut count,
    }
    .deserialize(&mut de)?;
    de.end().map_err(|_| {
        ReadError::Layout(
            "more than one JSON value; for many records use NDJSON (one per line) or an array"
                .into(),
        )
    })?;
    if let Some(record) = single {
        sink(
            Position {
                index: 0,
                line: None,
            },
            object(Json::Object(record)),
        );
    }
    Ok(())
}

/// The top of a document; yields the object itself when it is a single record.
struct Document<'s, 'k> {
    sink: &'s mut Sink<'k>,
    count: &'s mut usize,
}

impl<'de> DeserializeSeed<'de> for Document<'_, '_> {
    type Value = Option<Map<String, Json>>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Document<'_, '_> {
    type Value = Option<Map<String, Json>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records, a Graph list {\"value\": [...]}, or a record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Records {
            sink: self.sink,
            count: self.count,
        }
        .visit_seq(seq)?;
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rest = Map::new();
        let mut list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "value" && !list {
                map.next_value_seed(Records {
                    sink: self.sink,
                    count: self.count,
                })?;
                list = true;
            } else {
                rest.insert(key, map.next_value()?);
            }
        }
        Ok((!list).then_some(rest))
    }
}

/// The elements of an array, each handed on as it is parsed.
struct Records<'s, 'k> {
    sink: &'s mut Sink<'k>,
    count: &'s mut usize,
}

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Json>()? {
            let position = Position {
                index: *self.count,
                line: None,
            };
            (self.sink)(position, object(item));
            *self.count += 1;
        }
        Ok(())
    }
}

/// CSV with a header row. Every cell is a string; an empty cell is an absent
/// attribute, since CSV cannot tell empty from missing.
fn read_csv(reader: impl Read, sink: &mut Sink<'_>) -> Result<(), ReadError> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| ReadError::Layout(format!("CSV header: {e}")))?
        .clone();
    if let Some(duplicate) = headers
        .iter()
        .enumerate()
        .find_map(|(i, h)| headers.iter().take(i).any(|p| p == h).then_some(h))
    {
        return Err(ReadError::Layout(format!(
            "CSV header names `{duplicate}` twice"
        )));
    }
    let mut record = csv::StringRecord::new();
    let mut index = 0;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map(|p| p.line() as usize);
                let position = Position { index, line };
                index += 1;
                if record.len() != headers.len() {
                    sink(
                        position,
                        Err(format!(
                            "the row has {} fields but the header has {}",
                            record.len(),
                            headers.len()
                        )),
                    );
                    continue;
                }
                let map: Map<String, Json> = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.is_empty())
                    .map(|(h, cell)| (h.to_string(), Json::String(cell.to_string())))
                    .collect();
                sink(position, Ok(Raw::Parsed(Json::Object(map))));
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(ReadError::Layout(format!("CSV: {e}"))),
                _ => {
                    let line = e.position().map(|p| p.line() as usize);
                    sink(Position { index, line }, Err(format!("CSV: {e}")));
                    index += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Read = Vec<(Position, Result<Json, String>)>;

    /// Lines come whole however the reader's buffer cuts them, the last one with
    /// or without its newline, as `read_until` gives them.
    #[test]
    fn lines_are_read_across_buffer_boundaries() {
        let text = "{\"a\": 1}\n\nlonger than the buffer\nlast";
        for capacity in [1, 2, 3, 7, 64] {
            let mut reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
            let (mut ours, mut std) = (Vec::new(), Vec::new());
            let mut reference = std::io::BufReader::new(text.as_bytes());
            loop {
                ours.clear();
                std.clear();
                let n = read_line(&mut reader, &mut ours).unwrap();
                assert_eq!(n, reference.read_until(b'\n', &mut std).unwrap());
                assert_eq!(ours, std, "capacity {capacity}");
                if n == 0 {
                    break;
                }
            }
        }
    }

    fn all(text: &str, format: Format) -> Result<Read, ReadError> {
        let mut out = Vec::new();
        read(text.as_bytes(), format, &mut |p, r| {
            out.push((
                p,
                r.and_then(|raw| match raw {
                    Raw::Parsed(v) => Ok(v),
                    Raw::Line(l) => parse_line(l),
                }),
            ))
        })?;
        Ok(out)
    }

    fn values(text: &str) -> Vec<Result<Json, String>> {
        all(text, Format::Auto)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    #[test]
    fn every_layout() {
        let a = serde_json::json!({"a": "1"});
        let b = serde_json::json!({"a": "2"});
        let both = vec![Ok(a.clone()), Ok(b.clone())];
        assert_eq!(values("{\"a\": \"1\"}\n\n{\"a\": \"2\"}\n"), both);
        assert_eq!(values(" [{\"a\": \"1\"},\n {\"a\": \"2\"}]"), both);
        assert_eq!(
            values("{\"@odata.context\": \"x\", \"value\": [{\"a\": \"1\"}, {\"a\": \"2\"}]}"),
            both
        );
        assert_eq!(
            values("{\n  \"value\": [\n {\"a\": \"1\"}, {\"a\": \"2\"}]\n}\n"),
            both
        );
        assert_eq!(values("{\n  \"a\": \"1\"\n}\n"), vec![Ok(a.clone())]);
        assert_eq!(
            values("a,b\n1,\n2,x\n"),
            vec![Ok(a), Ok(serde_json::json!({"a": "2", "b": "x"}))]
        );
    }

    #[test]
    fn bad_records_are_reported_and_reading_goes_on() {
        let out = all("{\"a\": 1}\n[1]\n{\"a\":\n{\"b\": 2}\n", Format::Auto).unwrap();
        assert_eq!(out.len(), 4);
        assert!(out[1].1.as_ref().unwrap_err().contains("not an array"));
        assert!(out[2].1.as_ref().unwrap_err().contains("invalid JSON"));
        assert_eq!(
            out[3].0,
            Position {
                index: 3,
                line: Some(4)
            }
        );
        let out = all("[{\"a\": 1}, 2]", Format::Auto).unwrap();
        assert!(out[1].1.as_ref().unwrap_err().contains("not a number"));
        let out = all("a,b\n1,2\n1\n1,2,3\n", Format::Auto).unwrap();
        assert_eq!(out.len(), 3);
        assert!(out[1]
            .1
            .as_ref()
            .unwrap_err()
            .contains("1 fields but the header has 2"));
        assert_eq!(out[1].0.line, Some(3));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_a_bad_record_with_its_byte_offset() {
        let bytes = b"\n {\"a\": \"1\"}\n{\"a\": \"z\xff\"}\n{\"a\": \"2\"}\n";
        let mut out = Vec::new();
        read(&bytes[..], Format::Auto, &mut |p, r| {
            out.push((p, r.map(|_| ())))
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[1].0,
            Position {
                index: 1,
                line: Some(2)
            }
        );
        let error = out[1].1.as_ref().unwrap_err();
        let offset = bytes.iter().position(|b| *b == 0xff).unwrap();
        assert!(
            error.contains(&format!(
                "invalid UTF-8 at byte offset {offset} of the file (byte 9 of its line)"
            )),
            "{error}"
        );
        assert!(out[2].1.is_ok(), "reading goes on");
    }

    #[test]
    fn broken_documents_stop_with_a_position() {
        let e = all("[{\"a\": 1},\n {\"a\" 2}]", Format::Auto).unwrap_err();
        assert!(matches!(e, ReadError::Json { line: 2, .. }), "{e}");
        assert!(all("a,a\n1,2\n", Format::Csv)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
