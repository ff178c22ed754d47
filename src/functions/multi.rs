//! Multi-valued values: Join, Split, Item, Count, RemoveDuplicates.

use super::{Args, Fault};
use crate::value::{List, Value};

/// Joins every non-empty value; multi-valued sources contribute each of their values.
/// Null when every source is null.
pub fn join<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let separator = args.text(0)?.unwrap_or_default();
    let sources = 1..args.len();
    let (mut count, mut bytes) = (0, 0);
    for i in sources.clone() {
        each_text(args.peek(i), |t| {
            count += 1;
            bytes += t.len();
        });
    }
    if count == 0 {
        let all_null = sources.into_iter().all(|i| args.peek(i).is_null());
        return Ok(joined_nothing(all_null));
    }
    let total = joined_len(&separator, count, bytes);
    args.check_len(total)?;
    let mut out = String::with_capacity(total);
    for i in sources {
        each_text(args.peek(i), |t| push_joined(&mut out, &separator, t));
    }
    Ok(Value::string(out))
}

/// Join with no non-empty text: null when every source was null, else `""`. The VM's
/// fused `join` instruction shares these three pieces with [`join`].
pub(crate) fn joined_nothing<'a>(all_null: bool) -> Value<'a> {
    if all_null {
        Value::Null
    } else {
        Value::str("")
    }
}

/// The length of `count` non-empty texts of `bytes` in all, joined.
pub(crate) fn joined_len(separator: &str, count: usize, bytes: usize) -> usize {
    bytes + separator.len() * (count - 1)
}

/// Appends a non-empty text to a join, after the separator unless it is the first.
pub(crate) fn push_joined(out: &mut String, separator: &str, text: &str) {
    if !out.is_empty() {
        out.push_str(separator);
    }
    out.push_str(text);
}

/// Calls `f` with the text of every non-empty value (each value of a list).
fn each_text(value: &Value<'_>, mut f: impl FnMut(&str)) {
    let mut one = |v: &Value<'_>| match v {
        Value::Str(text) if !text.is_empty() => f(text),
        Value::Str(_) | Value::Null => {}
        other => {
            if let Some(text) = other.as_text().filter(|t| !t.is_empty()) {
                f(&text);
            }
        }
    };
    match value {
        Value::List(items) => items.iter().for_each(&mut one),
        single => one(single),
    }
}

/// Splits at every occurrence of the delimiter and trims white space around each
/// part (Entra's documented example shows `"a, b"` split at `,` as `a` and `b`).
pub fn split<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let delimiter = args.text(1)?.unwrap_or_default();
    let Some(source) = source else {
        return Ok(Value::Null);
    };
    if source.is_empty() {
        return Ok(Value::Null);
    }
    let max = args.ctx.limits.max_list_len;
    let mut parts = Vec::new();
    let mut push = |part: &str| -> Result<(), Fault> {
        if parts.len() == max {
            return Err(Fault::limit(format!(
                "Split would produce more than {max} values"
            )));
        }
        parts.push(Value::string(part.trim().to_string()));
        Ok(())
    };
    if delimiter.is_empty() {
        push(&source)?;
    } else {
        for part in source.split(&*delimiter) {
            push(part)?;
        }
    }
    Ok(Value::list(parts))
}

/// The `index`-th value (1-based). A single value is a list of one; an index outside
/// the list gives null.
pub fn item<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let index = args.required_int(1)?;
    let values = args.take(0);
    let position = usize::try_from(index).ok().and_then(|i| i.checked_sub(1));
    Ok(match (values, position) {
        (_, None) => Value::Null,
        (Value::List(items), Some(i)) => match items {
            List::Borrowed(items) => items.get(i).map_or(Value::Null, Value::reborrow),
            List::Owned(mut items) if i < items.len() => items.swap_remove(i),
            List::Owned(_) => Value::Null,
        },
        (single, Some(0)) => single,
        (_, Some(_)) => Value::Null,
    })
}

pub fn count<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Int(match args.peek(0) {
        Value::Null => 0,
        Value::List(items) => items.len() as i64,
        _ => 1,
    }))
}

/// Keeps the first occurrence of each value, comparing text exactly (case-sensitive).
pub fn remove_duplicates<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(match args.take(0) {
        Value::List(items) => {
            let mut seen = rustc_hash::FxHashSet::default();
            let kept = items
                .iter()
                .filter(|item| seen.insert(item.as_text()))
                .cloned()
                .collect::<Vec<_>>();
            Value::list(kept)
        }
        single => single,
    })
}
