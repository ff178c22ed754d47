//! SCIM resources from mapped values: where each target goes in the JSON (the plan,
//! built once per object mapping, in `plan.rs`), the values of one record typed per the
//! schema (here), and the resource written as JSON (`writer.rs`).

mod plan;
mod writer;

pub(crate) use plan::Plan;
pub use writer::Resource;

use std::borrow::Cow;

use super::AttributeMapping;
use crate::scim::schema::Type;
use crate::value::{Map, Value};

/// A mapped value, typed for its target.
// A word-wide tag, for the reason `Value` has one.
#[derive(Debug, Clone, PartialEq)]
#[repr(u64)]
pub(crate) enum Out<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Object(Cow<'a, Box<Map>>),
    /// A reference, resolved to the target's id: `{"value": id}` in a complex target.
    Ref(String),
    /// Several values: a multi-valued target, or one element per value of a filtered one.
    Many(Vec<Out<'a>>),
}

/// Why a value cannot go to its target.
pub(crate) struct TypeError(pub String);

/// Types a value for a target. `Ok(None)` leaves the attribute out (null, ignored
/// flow, or a reference to an object not provisioned yet, which `resolve` reports).
/// Inlined, with `scalar`, into the loop over a record's attributes: returned through
/// memory, each value was stored in words and read back in wider loads, which stall.
#[inline]
pub(crate) fn output<'a>(
    value: Value<'a>,
    attribute: &AttributeMapping,
    alone: bool,
    resolve: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<Out<'a>>, TypeError> {
    let target = &attribute.target;
    match value {
        Value::Null | Value::Ignored => Ok(None),
        Value::List(items) if target.multi_valued || (alone && target.element.is_some()) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.into_vec() {
                if let Some(v) = scalar(item, attribute, resolve)? {
                    out.push(element(
                        v,
                        target.multi_valued && target.kind == Type::Complex,
                    ));
                }
            }
            Ok((!out.is_empty()).then_some(Out::Many(out)))
        }
        Value::List(items) if items.len() == 1 => {
            let item = items.into_vec().pop().expect("one item");
            scalar(item, attribute, resolve)
        }
        Value::List(items) => Err(TypeError(format!(
            "{} values for a single-valued attribute",
            items.len(),
        ))),
        single if target.multi_valued => Ok(scalar(single, attribute, resolve)?
            .map(|v| Out::Many(vec![element(v, target.kind == Type::Complex)]))),
        single => scalar(single, attribute, resolve),
    }
}

/// An item of a multi-valued complex attribute is an object: text becomes
/// `{"value": text}`.
fn element(value: Out<'_>, complex: bool) -> Out<'_> {
    match value {
        Out::Text(s) if complex => Out::Ref(s.into_owned()),
        other => other,
    }
}

#[inline(always)]
fn scalar<'a>(
    value: Value<'a>,
    attribute: &AttributeMapping,
    resolve: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<Out<'a>>, TypeError> {
    let target = &attribute.target;
    if let Value::Object(map) = value {
        return match target.kind {
            Type::Complex => Ok(Some(Out::Object(map))),
            _ => Err(TypeError(
                "an object cannot go to a single-valued attribute".to_string(),
            )),
        };
    }
    if matches!(value, Value::Null | Value::Ignored | Value::List(_)) {
        return Ok(None);
    }
    if target.reference {
        let id = value.as_text().expect("a single value has text");
        return Ok(resolve(&id).map(|id| match target.kind {
            Type::Complex => Out::Ref(id),
            _ => Out::Text(Cow::Owned(id)),
        }));
    }
    // Matched on the kind first, then on the value in place: a tuple of the two
    // moved the value once more, through memory.
    Ok(Some(match target.kind {
        Type::Boolean => match value {
            Value::Bool(b) => Out::Bool(b),
            Value::Str(ref s) if s.trim().eq_ignore_ascii_case("true") => Out::Bool(true),
            Value::Str(ref s) if s.trim().eq_ignore_ascii_case("false") => Out::Bool(false),
            v => {
                return Err(TypeError(format!(
                    "a boolean is needed, and {} is not True or False",
                    quoted(&v)
                )))
            }
        },
        Type::Integer => match value {
            Value::Int(n) => Out::Int(n),
            v => match v.as_text().and_then(|t| t.trim().parse().ok()) {
                Some(n) => Out::Int(n),
                None => {
                    return Err(TypeError(format!(
                        "an integer is needed, and {} is not one",
                        quoted(&v)
                    )))
                }
            },
        },
        _ => match value {
            Value::Str(s) => Out::Text(s),
            v => Out::Text(Cow::Owned(
                v.as_text().expect("a single value has text").into_owned(),
            )),
        },
    }))
}

/// A value for an error message: text in quotes.
fn quoted(value: &Value<'_>) -> String {
    match value.as_text() {
        Some(text) => format!("{text:?}"),
        None => value.kind().to_string(),
    }
}
