//! Batches of source records, stored by column so that a compiled program reads an
//! attribute of every record without looking its name up again.

mod reader;

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde_json::Value as Json;

use crate::value::{List, Value};

/// A record that cannot be used as a source object, with the JSON path of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RecordError {
    pub path: String,
    pub message: String,
}

impl RecordError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> RecordError {
        RecordError {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Str {
        start: u32,
        len: u32,
    },
    List {
        start: u32,
        len: u32,
    },
    /// One complex value (an object), kept with the lists' values.
    Object(u32),
}

/// Source records (directory objects) in columnar form.
///
/// ```
/// let records = serde_json::json!([{"givenName": "John"}, {"givenName": "Zoë"}]);
/// let batch = scimap::Batch::from_json(records.as_array().unwrap()).unwrap();
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Batch {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
    rows: usize,
    columns: Vec<Column>,
    lists: Vec<Value<'static>>,
}

/// One attribute of every record. Its strings sit together in one buffer, so reading
/// the attribute across a batch reads memory in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Column {
    cells: Vec<Cell>,
    text: String,
}

impl Column {
    /// The value in a row, borrowing from the batch.
    #[inline]
    pub(crate) fn get<'a>(&'a self, row: usize, lists: &'a [Value<'static>]) -> Value<'a> {
        match self.cells[row] {
            Cell::Null => Value::Null,
            Cell::Str { start, len } => Value::Str(Cow::Borrowed(self.str_at(start, len))),
            Cell::List { start, len } => Value::List(List::Borrowed(
                &lists[start as usize..start as usize + len as usize],
            )),
            Cell::Object(index) => lists[index as usize].reborrow(),
        }
    }

    /// The text in a row without making a value: `Some(None)` for null, `None` for a
    /// list or an object.
    #[inline]
    pub(crate) fn text(&self, row: usize) -> Option<Option<&str>> {
        match self.cells[row] {
            Cell::Null => Some(None),
            Cell::Str { start, len } => Some(Some(self.str_at(start, len))),
            Cell::List { .. } | Cell::Object(_) => None,
        }
    }

    #[inline]
    #[allow(unsafe_code)]
    fn str_at(&self, start: u32, len: u32) -> &str {
        let range = start as usize..start as usize + len as usize;
        debug_assert!(
            self.text.is_char_boundary(range.start) && self.text.is_char_boundary(range.end)
        );
        // SAFETY: `Cell::Str` ranges are made only by `BatchBuilder::text`, which
        // records the bytes of a whole `&str` it appends to this column's `text`;
        // `text` is otherwise only cut back to the end of the last range still
        // held (`BatchBuilder::rollback`, after the cells of a refused record are
        // dropped), so every range lies within it and on character boundaries.
        // Skipping the check keeps evaluation from reading text it does not use
        // (a presence test, a pass-through).
        unsafe { self.text.get_unchecked(range) }
    }
}

impl Batch {
    pub(crate) fn lists(&self) -> &[Value<'static>] {
        &self.lists
    }

    /// A batch from JSON records (objects; see [`BatchBuilder::push_json`]). Errors name
    /// the record index and the attribute.
    pub fn from_json(records: &[Json]) -> Result<Batch, RecordError> {
        let mut builder = BatchBuilder::default();
        for (i, record) in records.iter().enumerate() {
            builder.push_json(record).map_err(|e| RecordError {
                path: format!("$[{i}]{}", &e.path[1..]),
                ..e
            })?;
        }
        Ok(builder.finish())
    }

    pub fn builder() -> BatchBuilder {
        BatchBuilder::default()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The attribute names present in at least one record.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.names.iter().map(|n| &**n)
    }

    /// The column of an attribute, for reading it row by row.
    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.index.get(name).map(|&c| &self.columns[c as usize])
    }

    /// The value of a named attribute in a row.
    pub fn value(&self, row: usize, attribute: &str) -> Value<'_> {
        match self.column(attribute) {
            Some(column) if row < self.rows => column.get(row, &self.lists),
            _ => Value::Null,
        }
    }
}

/// Where a batch stood before a record was pushed.
struct Mark {
    row: usize,
    columns: usize,
    lists: usize,
}

/// Builds a [`Batch`] one record at a time.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: Batch,
    /// The columns of the last record read as text, in the order of its keys: the next
    /// record usually has the same keys in the same order, so one comparison finds
    /// each column without hashing.
    order: Vec<u32>,
}

impl BatchBuilder {
    /// Adds a record given as a JSON object whose values are strings, numbers,
    /// booleans, null, objects (complex values such as app role assignments), or arrays
    /// of those (multi-valued attributes). Numbers and
    /// booleans become their text (`98052`, `True`), as Entra hands every single value
    /// over as a string. Microsoft Graph's `expressionInputObject` shape
    /// (`{"definition": …, "properties": [{"key", "value"}]}`) is accepted too.
    pub fn push_json(&mut self, record: &Json) -> Result<(), RecordError> {
        let Json::Object(map) = record else {
            return Err(RecordError::new(
                "$",
                format!(
                    "a record must be a JSON object, not {}",
                    crate::json::kind(record)
                ),
            ));
        };
        let mark = self.mark();
        let row = self.batch.rows;
        let result = match graph_properties(map) {
            Some(properties) => properties.iter().enumerate().try_for_each(|(i, property)| {
                let key = property["key"]
                    .as_str()
                    .expect("checked by graph_properties");
                let value = property.get("value").unwrap_or(&Json::Null);
                self.set(row, key, value, Place::Property(i))
            }),
            None => map
                .iter()
                .try_for_each(|(key, value)| self.set(row, key, value, Place::Key(key))),
        };
        match result {
            Ok(()) => self.batch.rows += 1,
            Err(_) => self.rollback(mark),
        }
        result
    }

    /// Where the batch stands before a record, to go back to if the record is refused.
    fn mark(&self) -> Mark {
        Mark {
            row: self.batch.rows,
            columns: self.batch.columns.len(),
            lists: self.batch.lists.len(),
        }
    }

    /// Takes back everything a refused record added: its cells, its text and values,
    /// and the columns only it had.
    fn rollback(&mut self, mark: Mark) {
        let batch = &mut self.batch;
        for name in batch.names.drain(mark.columns..) {
            batch.index.remove(&name);
        }
        batch.columns.truncate(mark.columns);
        batch.lists.truncate(mark.lists);
        for column in &mut batch.columns {
            column.cells.truncate(mark.row);
            // Text is appended row after row: the last string kept ends the buffer.
            let end = column.cells.iter().rev().find_map(|cell| match cell {
                Cell::Str { start, len } => Some((start + len) as usize),
                _ => None,
            });
            column.text.truncate(end.unwrap_or(0));
        }
        self.order.clear();
    }

    fn set(
        &mut self,
        row: usize,
        key: &str,
        value: &Json,
        place: Place<'_>,
    ) -> Result<(), RecordError> {
        let column = self.column(key);
        let cell = match value {
            Json::Null => Cell::Null,
            Json::Array(items) => self.list(items, place)?,
            Json::Object(map) => {
                self.batch
                    .lists
                    .push(Value::Object(Cow::Owned(Box::new(map.clone()))));
                let index = u32::try_from(self.batch.lists.len() - 1)
                    .map_err(|_| RecordError::new(place.path(), "batch holds too many values"))?;
                Cell::Object(index)
            }
            scalar => {
                let text = scalar_text(scalar).expect("every other JSON value is a scalar");
                self.text(column, &text, place)?
            }
        };
        self.put(row, column, cell);
        Ok(())
    }

    /// Sets a cell of a row; setting the same attribute twice keeps the later value,
    /// as JSON parsers do with a repeated key. Inlined with `text`, so that a cell
    /// goes from registers to its column instead of through a stack copy written
    /// and read back in pieces of different widths (a stall on every attribute).
    #[inline]
    fn put(&mut self, row: usize, column: usize, cell: Cell) {
        let cells = &mut self.batch.columns[column].cells;
        cells.resize(row, Cell::Null);
        cells.push(cell);
    }

    /// Adds a record given as JSON text, reading it straight into the columns (no
    /// intermediate JSON value for the record's strings). Same rules as
    /// [`BatchBuilder::push_json`]. On an error nothing of the record is kept.
    pub fn push_json_text(&mut self, text: &str) -> Result<(), RecordError> {
        let (mark, row) = (self.mark(), self.batch.rows);
        let result = reader::push(self, row, text);
        if result.is_ok() {
            self.batch.rows += 1;
            return Ok(());
        }
        self.rollback(mark);
        match result {
            // Graph's expressionInputObject shape: rare enough for the general path.
            Err(e) if e.path == reader::GRAPH_SHAPE => {
                let value: Json = serde_json::from_str(text)
                    .map_err(|e| RecordError::new("$", format!("invalid JSON: {e}")))?;
                self.push_json(&value)
            }
            other => other,
        }
    }

    /// The text of an attribute in the record pushed last, if it has a single value.
    pub(crate) fn last_text(&self, key: &str) -> Option<&str> {
        let row = self.batch.rows.checked_sub(1)?;
        let column = &self.batch.columns[*self.batch.index.get(key)? as usize];
        match column.cells.get(row)? {
            Cell::Str { start, len } => column.text.get(*start as usize..(*start + *len) as usize),
            _ => None,
        }
    }

    /// Sets an attribute of the record pushed last to a text.
    pub(crate) fn set_last_text(&mut self, key: &str, text: &str) -> Result<(), RecordError> {
        let row = self.batch.rows.checked_sub(1).expect("a record was pushed");
        let column = self.column(key);
        let cell = self.text(column, text, Place::Key(key))?;
        self.put(row, column, cell);
        Ok(())
    }

    fn list(&mut self, items: &[Json], place: Place<'_>) -> Result<Cell, RecordError> {
        let start = self.batch.lists.len();
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                continue;
            }
            let value = match item {
                Json::Object(map) => Value::Object(Cow::Owned(Box::new(map.clone()))),
                scalar => Value::Str(Cow::Owned(
                    scalar_text(scalar)
                        .ok_or_else(|| {
                            RecordError::new(format!("{}[{i}]", place.path()), NESTED_LIST)
                        })?
                        .into_owned(),
                )),
            };
            self.batch.lists.push(value);
        }
        self.list_since(start, place)
    }

    /// The cell of the list whose values were pushed since `start` (none: null).
    fn list_since(&self, start: usize, place: Place<'_>) -> Result<Cell, RecordError> {
        let len = self.batch.lists.len() - start;
        if len == 0 {
            return Ok(Cell::Null);
        }
        let start = u32::try_from(start)
            .map_err(|_| RecordError::new(place.path(), "batch holds too many values"))?;
        Ok(Cell::List {
            start,
            len: len as u32,
        })
    }

    #[inline]
    fn text(&mut self, column: usize, text: &str, place: Place<'_>) -> Result<Cell, RecordError> {
        let buffer = &mut self.batch.columns[column].text;
        let start = buffer.len();
        if u32::try_from(start + text.len()).is_err() {
            let message = "an attribute's text exceeds 4 GiB in one batch; split the input into smaller batches";
            return Err(RecordError::new(place.path(), message));
        }
        buffer.push_str(text);
        Ok(Cell::Str {
            start: start as u32,
            len: text.len() as u32,
        })
    }

    /// The column of the `position`-th key of a record.
    fn column_at(&mut self, position: usize, key: &str) -> usize {
        if let Some(&c) = self.order.get(position) {
            if *self.batch.names[c as usize] == *key {
                return c as usize;
            }
        }
        let c = self.column(key);
        match self.order.get_mut(position) {
            Some(slot) => *slot = c as u32,
            None => self.order.push(c as u32),
        }
        c
    }

    fn column(&mut self, key: &str) -> usize {
        if let Some(&c) = self.batch.index.get(key) {
            return c as usize;
        }
        let c = self.batch.columns.len();
        self.batch.names.push(key.into());
        self.batch.index.insert(key.into(), c as u32);
        self.batch.columns.push(Column::default());
        c
    }

    pub fn finish(mut self) -> Batch {
        let rows = self.batch.rows;
        for column in &mut self.batch.columns {
            column.cells.resize(rows, Cell::Null);
        }
        self.batch
    }
}

/// Where a value sits in its record; the JSON path is only spelled out for errors.
#[derive(Clone, Copy)]
enum Place<'k> {
    Key(&'k str),
    Property(usize),
}

impl Place<'_> {
    fn path(self) -> String {
        match self {
            Place::Key(key) => format!("$.{key}"),
            Place::Property(i) => format!("$.properties[{i}].value"),
        }
    }
}

fn graph_properties(map: &serde_json::Map<String, Json>) -> Option<&Vec<Json>> {
    let properties = map.get("properties")?.as_array()?;
    let only_graph_keys = map.keys().all(|k| k == "properties" || k == "definition");
    let all_pairs = properties
        .iter()
        .all(|p| p.get("key").is_some_and(Json::is_string));
    (only_graph_keys && all_pairs).then_some(properties)
}

const NESTED_LIST: &str = "an array inside a multi-valued attribute is not supported";

/// A JSON boolean as Entra's attributes spell it.
fn bool_text(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn scalar_text(value: &Json) -> Option<Cow<'_, str>> {
    match value {
        Json::String(s) => Some(Cow::Borrowed(s)),
        Json::Number(n) => Some(Cow::Owned(n.to_string())),
        Json::Bool(b) => Some(Cow::Borrowed(bool_text(*b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_padded_with_null() {
        let batch = Batch::from_json(&[
            json!({"a": "1"}),
            json!({"b": ["x", "y"]}),
            json!({"a": 5, "c": true}),
        ])
        .unwrap();
        assert_eq!(batch.value(0, "a"), Value::str("1"));
        assert_eq!(batch.value(1, "a"), Value::Null);
        assert_eq!(batch.value(2, "a"), Value::str("5"));
        assert_eq!(batch.value(2, "c"), Value::str("True"));
        assert_eq!(
            batch.value(1, "b"),
            Value::list(vec![Value::str("x"), Value::str("y")])
        );
        assert_eq!(batch.value(2, "b"), Value::Null);
    }

    #[test]
    fn empty_arrays_are_absent() {
        let batch = Batch::from_json(&[json!({"a": []})]).unwrap();
        assert_eq!(batch.value(0, "a"), Value::Null);
    }

    #[test]
    fn graph_input_shape() {
        let record = json!({"definition": {"name": "User"}, "properties": [{"key": "mail", "value": "a@b"}]});
        let batch = Batch::from_json(&[record]).unwrap();
        assert_eq!(batch.value(0, "mail"), Value::str("a@b"));
    }

    #[test]
    fn objects_are_complex_values() {
        let batch =
            Batch::from_json(&[json!({"m": {"id": "1"}, "roles": [{"value": "Admin"}, "User"]})])
                .unwrap();
        assert_eq!(batch.value(0, "m").to_json(), Some(json!({"id": "1"})));
        assert_eq!(
            batch.value(0, "roles").to_json(),
            Some(json!([{"value": "Admin"}, "User"]))
        );
    }

    #[test]
    fn text_is_read_as_json_values_are() {
        let texts = [
            r#"{"a": "x\u00e9", "n": 5, "f": 1.5, "t": true, "z": null, "l": ["p", 2], "o": {"k": [1]}, "a": "last"}"#,
            r#"{"l": ["x\u00e9", null, true, false, -3, 18446744073709551615, 2.5e3, {"k": "v"}, ""], "e": [null], "m": []}"#,
            r#"{"definition": {}, "properties": [{"key": "mail", "value": "a@b"}]}"#,
            r#"{}"#,
        ];
        let mut from_text = Batch::builder();
        for text in texts {
            from_text.push_json_text(text).unwrap();
        }
        let from_text = from_text.finish();
        let values: Vec<Json> = texts
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        let from_json = Batch::from_json(&values).unwrap();
        for row in 0..texts.len() {
            for name in ["a", "n", "f", "t", "z", "l", "o", "mail", "e", "m"] {
                assert_eq!(
                    from_text.value(row, name),
                    from_json.value(row, name),
                    "{row} {name}"
                );
            }
        }
    }

    #[test]
    fn bad_text_records_leave_nothing_behind() {
        let mut builder = Batch::builder();
        builder.push_json_text(r#"{"a": "1"}"#).unwrap();
        let err = builder
            .push_json_text(r#"{"a": "2", "b": [["x"]]}"#)
            .unwrap_err();
        assert_eq!(err.path, "$.b[0]");
        let nested = json!({"a": "2", "b": [null, "x", ["y"]]});
        let from_text = builder.push_json_text(&nested.to_string()).unwrap_err();
        assert_eq!(from_text, builder.push_json(&nested).unwrap_err());
        assert_eq!(from_text.path, "$.b[2]");
        let err = builder.push_json_text(r#"[1]"#).unwrap_err();
        assert_eq!(err.message, "a record must be a JSON object, not an array");
        let err = builder.push_json_text(r#"{"a": "2""#).unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
        builder.push_json_text(r#"{"b": "3"}"#).unwrap();
        let batch = builder.finish();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.value(1, "a"), Value::Null);
        assert_eq!(batch.value(1, "b"), Value::str("3"));
    }

    #[test]
    fn refused_records_take_back_their_cells_text_and_columns() {
        let mut builder = Batch::builder();
        builder.push_json(&json!({"a": "1"})).unwrap();
        let refused = json!({"a": "2", "only": "x", "list": ["y"], "b": [["z"]]});
        assert!(builder.push_json(&refused).is_err());
        assert!(builder.push_json_text(&refused.to_string()).is_err());
        builder.push_json(&json!({"c": "3"})).unwrap();
        let batch = builder.finish();
        assert_eq!(batch.len(), 2);
        assert_eq!(
            batch.value(1, "a"),
            Value::Null,
            "no value of a refused record"
        );
        for name in ["only", "list", "b"] {
            assert!(batch.column(name).is_none(), "{name}");
        }
        assert_eq!(batch.column("a").unwrap().text, "1");
        assert!(batch.lists.is_empty());
    }

    #[test]
    fn errors_name_the_place() {
        let err = Batch::from_json(&[json!({}), json!({"p": ["a", ["b"]]})]).unwrap_err();
        assert_eq!(err.path, "$[1].p[1]");
        let err = Batch::from_json(&[json!([1])]).unwrap_err();
        assert_eq!(err.path, "$[0]");
    }
}
