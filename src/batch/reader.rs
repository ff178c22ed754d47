//! The streaming JSON reader: a record's JSON text read straight into a batch's
//! columns, with no intermediate value for its strings.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::{bool_text, BatchBuilder, Cell, Place, RecordError};
use crate::value::Value;

pub(super) fn push(builder: &mut BatchBuilder, row: usize, text: &str) -> Result<(), RecordError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let outcome = Record { builder, row }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match outcome {
        Ok(()) => Ok(()),
        Err(e) if e.is_data() => {
            let message = crate::json::message(&e);
            match message.strip_prefix("@") {
                Some(rest) => {
                    let (path, message) = rest.split_once(' ').unwrap_or((rest, ""));
                    Err(RecordError::new(path, message))
                }
                None => Err(RecordError::new("$", message)),
            }
        }
        Err(e) => Err(RecordError::new("$", format!("invalid JSON: {e}"))),
    }
}

/// A JSON number that serde read as a float, spelled as `serde_json` prints it (as
/// `scalar_text` does for a parsed value).
fn float_text<E: serde::de::Error>(v: f64) -> Result<String, E> {
    serde_json::Number::from_f64(v)
        .map(|number| number.to_string())
        .ok_or_else(|| E::custom("not a finite number"))
}

/// The `@path message` form carries a record error through serde's errors.
fn at<E: serde::de::Error>(e: RecordError) -> E {
    E::custom(format!("@{} {}", e.path, e.message))
}

struct Record<'b> {
    builder: &'b mut BatchBuilder,
    row: usize,
}

impl<'de> DeserializeSeed<'de> for Record<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// The error path that sends a record in Graph's `{"definition", "properties"}`
/// shape to the general reader.
pub(super) const GRAPH_SHAPE: &str = "<graph-shape>";

impl<'de> Visitor<'de> for Record<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut position = 0;
        while let Some(column) = map.next_key_seed(Key(self.builder, position))? {
            position += 1;
            if &*self.builder.batch.names[column] == "definition" {
                return Err(at(RecordError::new(GRAPH_SHAPE, "")));
            }
            map.next_value_seed(Attribute {
                builder: self.builder,
                row: self.row,
                column,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(not_a_record("an array"))
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        Err(not_a_record("a string"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        Err(not_a_record("a boolean"))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        Err(not_a_record("a number"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        Err(not_a_record("a number"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        Err(not_a_record("a number"))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Err(not_a_record("null"))
    }
}

fn not_a_record<E: serde::de::Error>(kind: &str) -> E {
    at(RecordError::new(
        "$",
        format!("a record must be a JSON object, not {kind}"),
    ))
}

/// A key and its position in the record, resolved to its column without
/// allocating.
struct Key<'b>(&'b mut BatchBuilder, usize);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<usize, E> {
        Ok(self.0.column_at(self.1, key))
    }
}

struct Attribute<'b> {
    builder: &'b mut BatchBuilder,
    row: usize,
    column: usize,
}

impl Attribute<'_> {
    fn name(&self) -> String {
        self.builder.batch.names[self.column].to_string()
    }

    fn text<E: serde::de::Error>(self, text: &str) -> Result<(), E> {
        match self.builder.text(self.column, text, Place::Key("")) {
            Ok(cell) => {
                self.builder.put(self.row, self.column, cell);
                Ok(())
            }
            Err(e) => Err(at(RecordError::new(
                format!("$.{}", self.name()),
                e.message,
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Attribute<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Attribute<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.text(v)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.text(bool_text(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.text(&v.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.text(&v.to_string())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.text(&float_text(v)?)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.builder.put(self.row, self.column, Cell::Null);
        Ok(())
    }

    /// A multi-valued attribute's values go straight into the batch, as
    /// `BatchBuilder::list` would put them there from a JSON array.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let start = self.builder.batch.lists.len();
        let mut index = 0;
        while let Some(()) = seq.next_element_seed(Item {
            builder: &mut *self.builder,
            column: self.column,
            index,
        })? {
            index += 1;
        }
        let name = &self.builder.batch.names[self.column];
        let cell = self
            .builder
            .list_since(start, Place::Key(name))
            .map_err(at)?;
        self.builder.put(self.row, self.column, cell);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value = Json::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.json(value)
    }
}

impl Attribute<'_> {
    fn json<E: serde::de::Error>(self, value: Json) -> Result<(), E> {
        let name = self.name();
        self.builder
            .set(self.row, &name, &value, Place::Key(&name))
            .map_err(at)
    }
}

/// One value of a multi-valued attribute.
struct Item<'b> {
    builder: &'b mut BatchBuilder,
    column: usize,
    index: usize,
}

impl Item<'_> {
    fn push(self, value: Value<'static>) {
        self.builder.batch.lists.push(value);
    }

    fn text<E>(self, text: Cow<'static, str>) -> Result<(), E> {
        self.push(Value::Str(text));
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value of a multi-valued attribute")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.text(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<(), E> {
        self.text(Cow::Owned(v))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.text(Cow::Borrowed(bool_text(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.text(Cow::Owned(v.to_string()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.text(Cow::Owned(v.to_string()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.text(Cow::Owned(float_text(v)?))
    }

    /// A null among the values is left out.
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let map = serde_json::Map::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.push(Value::Object(Cow::Owned(Box::new(map))));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        let name = &self.builder.batch.names[self.column];
        let path = format!("{}[{}]", Place::Key(name).path(), self.index);
        Err(at(RecordError::new(path, super::NESTED_LIST)))
    }
}

use serde::Deserialize as _;
