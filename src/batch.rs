//! Batches of source records, stored by column so that a compiled program reads an
//! attribute of every record without looking its name up again.

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
            Cell::Str { start, len } => {
                let range = start as usize..start as usize + len as usize;
                debug_assert!(
                    self.text.is_char_boundary(range.start)
                        && self.text.is_char_boundary(range.end)
                );
                // SAFETY: `Cell::Str` ranges are made only by `BatchBuilder::text`, which
                // records the bytes of a whole `&str` it appends to this column's `text`,
                // and `text` is never changed after that, so the range lies within it and
                // on character boundaries. Skipping the check keeps evaluation from reading
                // text it does not use (a presence test, a pass-through).
                Value::Str(Cow::Borrowed(unsafe { self.text.get_unchecked(range) }))
            }
            Cell::List { start, len } => Value::List(List::Borrowed(
                &lists[start as usize..start as usize + len as usize],
            )),
            Cell::Object(index) => lists[index as usize].reborrow(),
        }
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

/// Builds a [`Batch`] one record at a time.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    batch: Batch,
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
                format!("a record must be a JSON object, not {}", json_kind(record)),
            ));
        };
        let row = self.batch.rows;
        if let Some(properties) = graph_properties(map) {
            for (i, property) in properties.iter().enumerate() {
                let key = property["key"]
                    .as_str()
                    .expect("checked by graph_properties");
                let place = Place::Property(i);
                self.set(
                    row,
                    key,
                    property.get("value").unwrap_or(&Json::Null),
                    place,
                )?;
            }
        } else {
            for (key, value) in map {
                self.set(row, key, value, Place::Key(key))?;
            }
        }
        self.batch.rows += 1;
        Ok(())
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
        let cells = &mut self.batch.columns[column].cells;
        cells.resize(row, Cell::Null);
        cells.push(cell);
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
                            RecordError::new(
                                format!("{}[{i}]", place.path()),
                                "an array inside a multi-valued attribute is not supported",
                            )
                        })?
                        .into_owned(),
                )),
            };
            self.batch.lists.push(value);
        }
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

fn scalar_text(value: &Json) -> Option<Cow<'_, str>> {
    match value {
        Json::String(s) => Some(Cow::Borrowed(s)),
        Json::Number(n) => Some(Cow::Owned(n.to_string())),
        Json::Bool(true) => Some(Cow::Borrowed("True")),
        Json::Bool(false) => Some(Cow::Borrowed("False")),
        _ => None,
    }
}

pub(crate) fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
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
    fn errors_name_the_place() {
        let err = Batch::from_json(&[json!({}), json!({"p": ["a", ["b"]]})]).unwrap_err();
        assert_eq!(err.path, "$[1].p[1]");
        let err = Batch::from_json(&[json!([1])]).unwrap_err();
        assert_eq!(err.path, "$[0]");
    }
}
