//! The values expressions compute with.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;

/// A value during evaluation. Strings borrow from the batch or the program where they
/// can, so that passing an attribute through costs no allocation.
///
/// Invariant: a `List` is never empty. Entra has no empty multi-valued attribute: one
/// with no values is absent, so every operation that would produce `[]` produces `Null`.
// A tag as wide as a word: with a one-byte tag, the seven bytes after it were
// copied piecewise on every move and read back whole, a store the processor
// cannot forward (half the time `scimap apply` spent in its loop over a record's
// attributes went to those stalls).
#[derive(Debug, Clone, PartialEq, Default)]
#[repr(u64)]
pub enum Value<'a> {
    /// No value: an absent attribute, an omitted default, a function with nothing to say.
    #[default]
    Null,
    /// The target attribute is to be left out of this object's provisioning
    /// (`IgnoreFlowIfNullOrEmpty`). Absorbing: a function given it returns it.
    Ignored,
    Bool(bool),
    Int(i64),
    Str(Cow<'a, str>),
    /// An instant in UTC.
    DateTime(Timestamp),
    List(List<'a>),
    /// A complex value, such as one app role assignment (`{"id", "displayName",
    /// "value"}`) or the SCIM role object an app-role function makes of it.
    Object(Cow<'a, Box<Map>>),
}

/// The fields of an [`Value::Object`].
pub type Map = serde_json::Map<String, serde_json::Value>;

/// The values of a multi-valued value, borrowed from a batch or owned.
#[derive(Debug, Clone)]
pub enum List<'a> {
    Borrowed(&'a [Value<'a>]),
    Owned(Vec<Value<'a>>),
}

impl<'a> std::ops::Deref for List<'a> {
    type Target = [Value<'a>];

    fn deref(&self) -> &[Value<'a>] {
        match self {
            List::Borrowed(items) => items,
            List::Owned(items) => items,
        }
    }
}

impl PartialEq for List<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<'a> List<'a> {
    pub fn into_vec(self) -> Vec<Value<'a>> {
        match self {
            List::Borrowed(items) => items.to_vec(),
            List::Owned(items) => items,
        }
    }
}

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    pub fn string(s: String) -> Value<'a> {
        Value::Str(Cow::Owned(s))
    }

    /// A list from values, keeping the never-empty invariant.
    pub fn list(values: Vec<Value<'a>>) -> Value<'a> {
        if values.is_empty() {
            Value::Null
        } else {
            Value::List(List::Owned(values))
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The kind's name, as the playground and `explain` show it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Ignored => "ignored",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "number",
            Value::Str(_) => "string",
            Value::DateTime(_) => "date-time",
            Value::List(_) => "list",
            Value::Object(_) => "object",
        }
    }

    /// Null, or a string with no characters.
    pub fn is_null_or_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    /// A noun for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Ignored => "an ignored flow",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "a number",
            Value::Str(_) => "a string",
            Value::DateTime(_) => "a date-time",
            Value::List(_) => "a multi-valued value",
            Value::Object(_) => "an object",
        }
    }

    /// A value that borrows from this one (for constants held by a program).
    pub fn reborrow(&self) -> Value<'_> {
        match self {
            Value::Str(s) => Value::Str(Cow::Borrowed(s)),
            Value::List(items) => Value::List(List::Borrowed(items)),
            Value::Object(map) => Value::Object(Cow::Borrowed(map)),
            Value::Null => Value::Null,
            Value::Ignored => Value::Ignored,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(n) => Value::Int(*n),
            Value::DateTime(t) => Value::DateTime(*t),
        }
    }

    /// The same value with no borrowed parts.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::List(items) => Value::List(List::Owned(
                items
                    .into_vec()
                    .into_iter()
                    .map(Value::into_owned)
                    .collect(),
            )),
            Value::Object(map) => Value::Object(Cow::Owned(map.into_owned())),
            Value::Null => Value::Null,
            Value::Ignored => Value::Ignored,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(n) => Value::Int(n),
            Value::DateTime(t) => Value::DateTime(t),
        }
    }

    /// The text of a single value as Entra shows it: booleans as `True`/`False`,
    /// date-times as `M/d/yyyy h:mm:ss tt` in UTC. `None` for null, ignored, lists and
    /// objects.
    pub fn as_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Bool(true) => Some(Cow::Borrowed("True")),
            Value::Bool(false) => Some(Cow::Borrowed("False")),
            Value::Int(n) => Some(Cow::Owned(n.to_string())),
            Value::DateTime(t) => Some(Cow::Owned(format_entra_datetime(*t))),
            Value::Null | Value::Ignored | Value::List(_) | Value::Object(_) => None,
        }
    }

    /// The value as strings, the way Graph's parseExpression reports a result.
    pub fn to_strings(&self) -> Vec<String> {
        match self {
            Value::List(items) => items.iter().flat_map(|v| v.to_strings()).collect(),
            Value::Object(map) => {
                vec![serde_json::Value::Object(Map::clone(map)).to_string()]
            }
            other => other
                .as_text()
                .map(|s| vec![s.into_owned()])
                .unwrap_or_default(),
        }
    }

    /// The value as JSON: strings, numbers and booleans keep their type; date-times are
    /// strings; an ignored flow has no JSON form and gives `None`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Value::Null => serde_json::Value::Null,
            Value::Ignored => return None,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::DateTime(t) => serde_json::Value::String(format_entra_datetime(*t)),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().filter_map(Value::to_json).collect())
            }
            Value::Object(map) => serde_json::Value::Object(Map::clone(map)),
        })
    }
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Ignored => f.write_str("(flow ignored)"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match item {
                        // Quoted, so that a comma inside one value is not read as two.
                        Value::Str(s) => write!(f, "{}", serde_json::Value::from(&**s))?,
                        other => write!(f, "{other}")?,
                    }
                }
                f.write_str("]")
            }
            Value::Object(map) => {
                write!(f, "{}", serde_json::Value::Object(Map::clone(map)))
            }
            other => f.write_str(&other.as_text().unwrap_or_default()),
        }
    }
}

/// Entra's text form of a date-time: `M/d/yyyy h:mm:ss tt`, in UTC.
pub fn format_entra_datetime(t: Timestamp) -> String {
    let dt = jiff::tz::TimeZone::UTC.to_datetime(t);
    let hour = dt.hour();
    let (h12, tt) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{:02}:{:02} {}",
        dt.month(),
        dt.day(),
        dt.year(),
        h12,
        dt.minute(),
        dt.second(),
        tt
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_datetime_text() {
        let t: Timestamp = "2020-03-16T07:00:00Z".parse().unwrap();
        assert_eq!(format_entra_datetime(t), "3/16/2020 7:00:00 AM");
        let t: Timestamp = "2012-01-01T23:00:05Z".parse().unwrap();
        assert_eq!(format_entra_datetime(t), "1/1/2012 11:00:05 PM");
        let t: Timestamp = "2012-01-01T00:30:00Z".parse().unwrap();
        assert_eq!(format_entra_datetime(t), "1/1/2012 12:30:00 AM");
    }

    /// Values are moved on every instruction: keep them as small as a string.
    #[test]
    fn values_stay_small() {
        assert!(
            std::mem::size_of::<Value<'_>>() <= 32,
            "{}",
            std::mem::size_of::<Value<'_>>()
        );
    }

    #[test]
    fn lists_show_their_strings_quoted() {
        let list = Value::list(vec![Value::str("a, b"), Value::Int(1), Value::Bool(true)]);
        assert_eq!(list.to_string(), r#"["a, b", 1, True]"#);
    }

    #[test]
    fn empty_lists_are_null() {
        assert_eq!(Value::list(vec![]), Value::Null);
    }
}
