//! Truth values, presence tests and flow control that needs no jumps.

use super::{Args, Fault};
use crate::value::Value;

pub fn cbool<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    if args.peek(0).is_null_or_empty() {
        return Ok(Value::Bool(false));
    }
    Ok(Value::Bool(args.boolean(0)?.unwrap_or(false)))
}

/// True for anything but a true value, as documented: "if source is True return
/// False, otherwise True".
pub fn not<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let is_true = matches!(super::to_bool(args.peek(0)), Ok(Some(true)));
    Ok(Value::Bool(!is_true))
}

/// The presence tests. IIF compiles a condition that is one of them into its branch
/// instruction, so they are defined here once for both uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    IsNull,
    IsNullOrEmpty,
    IsPresent,
}

impl Presence {
    #[inline]
    pub fn holds(self, value: &Value<'_>) -> bool {
        match self {
            Presence::IsNull => value.is_null(),
            Presence::IsNullOrEmpty => value.is_null_or_empty(),
            Presence::IsPresent => !value.is_null_or_empty(),
        }
    }
}

pub fn is_null<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Bool(Presence::IsNull.holds(args.peek(0))))
}

pub fn is_null_or_empty<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Bool(Presence::IsNullOrEmpty.holds(args.peek(0))))
}

pub fn is_present<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Bool(Presence::IsPresent.holds(args.peek(0))))
}

pub fn is_string<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::Bool(args.peek(0).as_text().is_some()))
}

pub fn ignore_flow_if_null_or_empty<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let value = args.take(0);
    Ok(if value.is_null_or_empty() {
        Value::Ignored
    } else {
        value
    })
}

/// The value itself: redaction applies to provisioning logs, which read
/// [`Program::is_redacted`](crate::Program::is_redacted).
pub fn redact<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(args.take(0))
}

pub fn bit_and<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    match (args.int(0)?, args.int(1)?) {
        (Some(a), Some(b)) => Ok(Value::Int(a & b)),
        _ => Ok(Value::Null),
    }
}
