//! Functions over single strings. Positions and lengths count characters (Unicode
//! scalar values).

use std::borrow::Cow;

use base64::Engine as _;

use super::{Args, Fault};
use crate::value::Value;

pub fn append<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let suffix = args.text(1)?;
    Ok(match (source, suffix) {
        (None, None) => Value::Null,
        (Some(s), None) => Value::Str(s),
        (None, Some(t)) => Value::Str(t),
        (Some(s), Some(t)) => {
            args.check_len(s.len() + t.len())?;
            let mut s = s.into_owned();
            s.push_str(&t);
            Value::string(s)
        }
    })
}

pub fn left<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let n = args.required_int(1)?;
    let Some(source) = source else {
        return Ok(Value::str(""));
    };
    if n < 0 {
        return Ok(Value::Str(source));
    }
    Ok(Value::Str(char_slice(source, 0, n as usize)))
}

pub fn mid<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let start = args.required_int(1)?;
    let length = args.required_int(2)?;
    if length < 0 {
        return Err(Fault::arg(2, format!("must not be negative, got {length}")));
    }
    let Some(source) = source else {
        return Ok(Value::Null);
    };
    if start < 1 {
        return Ok(Value::str(""));
    }
    Ok(Value::Str(char_slice(
        source,
        start as usize - 1,
        length as usize,
    )))
}

/// `count` characters from character `skip` on, borrowing when the source is borrowed.
fn char_slice(source: Cow<'_, str>, skip: usize, count: usize) -> Cow<'_, str> {
    let byte_at = |s: &str, chars: usize| s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i);
    let start = byte_at(&source, skip);
    let end = start + byte_at(&source[start..], count);
    sub(source, start..end)
}

/// A byte range of a string, without copying when it is borrowed.
fn sub(source: Cow<'_, str>, range: std::ops::Range<usize>) -> Cow<'_, str> {
    match source {
        Cow::Borrowed(s) => Cow::Borrowed(&s[range]),
        Cow::Owned(mut s) => {
            s.truncate(range.end);
            s.drain(..range.start);
            Cow::Owned(s)
        }
    }
}

pub fn len<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Int(
        args.text(0)?.map_or(0, |s| s.chars().count() as i64),
    ))
}

pub fn cstr<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(args.text(0)?.map_or(Value::Null, Value::Str))
}

pub fn strip_spaces<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(match args.text(0)? {
        None => Value::Null,
        Some(s) if !s.contains(' ') => Value::Str(s),
        Some(s) => Value::string(s.replace(' ', "")),
    })
}

pub fn instr<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let haystack = args.text(0)?;
    let needle = args.text(1)?;
    let start = args.int(2)?.unwrap_or(1);
    let text_compare = compare_mode(args, 3)?;
    if start < 1 {
        return Err(Fault::arg(
            2,
            format!("is a 1-based position and must be 1 or more, got {start}"),
        ));
    }
    let (Some(haystack), Some(needle)) = (haystack, needle) else {
        return Ok(Value::Null);
    };
    let fold = |c: char| {
        if text_compare {
            super::case::lower_char(c, super::case::Culture::Invariant)
        } else {
            c
        }
    };
    let hay: Vec<char> = haystack.chars().map(fold).collect();
    let pin: Vec<char> = needle.chars().map(fold).collect();
    let from = start as usize - 1;
    if from > hay.len() {
        return Ok(Value::Int(0));
    }
    if pin.is_empty() {
        return Ok(Value::Int(start));
    }
    let found = hay[from..]
        .windows(pin.len())
        .position(|w| w == pin.as_slice());
    Ok(Value::Int(found.map_or(0, |i| (from + i + 1) as i64)))
}

/// `vbTextCompare` (or 1) is case-insensitive; `vbBinaryCompare` (or 0, the default) is not.
fn compare_mode(args: &mut Args<'_, '_>, i: usize) -> Result<bool, Fault> {
    match args.take(i) {
        Value::Null => Ok(false),
        Value::Int(0) => Ok(false),
        Value::Int(1) => Ok(true),
        Value::Str(s) if s == "vbBinaryCompare" || s == "0" => Ok(false),
        Value::Str(s) if s == "vbTextCompare" || s == "1" => Ok(true),
        other => Err(Fault::arg(
            i,
            format!("must be vbBinaryCompare or vbTextCompare, got {other}"),
        )),
    }
}

pub fn word<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let source = args.text(0)?;
    let n = args.required_int(1)?;
    let delimiters = args.text(2)?.unwrap_or_default();
    let Some(source) = source else {
        return Ok(Value::str(""));
    };
    if n < 1 {
        return Ok(Value::str(""));
    }
    let is_delimiter = |c: char| delimiters.contains(c);
    let mut words = source.char_indices().filter(|&(i, c)| {
        !is_delimiter(c) && source[..i].chars().next_back().is_none_or(is_delimiter)
    });
    let Some((start, _)) = words.nth(n as usize - 1) else {
        return Ok(Value::str(""));
    };
    let end = source[start..]
        .find(is_delimiter)
        .map_or(source.len(), |i| start + i);
    Ok(Value::Str(sub(source, start..end)))
}

pub fn to_base64<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(0)? else {
        return Ok(Value::Null);
    };
    let utf16: Vec<u8> = source.encode_utf16().flat_map(u16::to_le_bytes).collect();
    args.check_len(utf16.len().div_ceil(3) * 4)?;
    Ok(Value::string(
        base64::engine::general_purpose::STANDARD.encode(utf16),
    ))
}

pub fn to_utf8_hex<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let Some(source) = args.text(0)? else {
        return Ok(Value::Null);
    };
    args.check_len(source.len() * 2)?;
    let mut out = String::with_capacity(source.len() * 2);
    for byte in source.bytes() {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    Ok(Value::string(out))
}
