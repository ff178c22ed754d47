//! Functions that read the evaluation context: the clock, randomness, the tenant and
//! the values the target already holds.

use super::{Args, Fault};
use crate::diagnostic::Code;
use crate::value::Value;

pub fn now<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    match args.ctx.now {
        Some(now) => Ok(Value::DateTime(now)),
        None => clock().map(Value::DateTime),
    }
}

#[cfg(not(target_family = "wasm"))]
fn clock() -> Result<jiff::Timestamp, Fault> {
    Ok(jiff::Timestamp::now())
}

#[cfg(target_family = "wasm")]
fn clock() -> Result<jiff::Timestamp, Fault> {
    Err(Fault::new(
        Code::Argument,
        None,
        "there is no clock here; set the evaluation context's time",
    ))
}

pub fn default_domain<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    match &args.ctx.tenant_domain {
        Some(domain) => Ok(Value::string(domain.clone())),
        None => Err(Fault::new(
            Code::Argument,
            None,
            "the tenant's default domain is not known: set the tenant domain of this evaluation",
        )),
    }
}

/// A random (version 4) GUID in lower-case 8-4-4-4-12 form.
pub fn guid<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let mut bytes = args.rng.u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Value::string(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )))
}

/// The special characters of Windows' password complexity rules.
const SPECIALS: &str = "~!@#$%^&*_-+=`|\\(){}[]:;\"'<>,.?/";
const MAX_RANDOM_LENGTH: i64 = 256;

/// A random string of `Length` characters with at least the given numbers of digits,
/// special characters, capitals and lower-case letters; the rest is drawn from all four
/// classes. Characters to avoid are never used.
pub fn random_string<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    let length = args.required_int(0)?;
    if !(1..=MAX_RANDOM_LENGTH).contains(&length) {
        return Err(Fault::arg(
            0,
            format!("must be from 1 to {MAX_RANDOM_LENGTH}, got {length}"),
        ));
    }
    let avoid = args.text(5)?.unwrap_or_default();
    let classes: [Vec<char>; 4] = [
        ('0'..='9').collect(),
        SPECIALS.chars().collect(),
        ('A'..='Z').collect(),
        ('a'..='z').collect(),
    ]
    .map(|class: Vec<char>| class.into_iter().filter(|c| !avoid.contains(*c)).collect());
    let mut minimums = [0usize; 4];
    for (i, minimum) in minimums.iter_mut().enumerate() {
        let n = args.required_int(i + 1)?;
        if n < 0 {
            return Err(Fault::arg(i + 1, format!("must not be negative, got {n}")));
        }
        if n > 0 && classes[i].is_empty() {
            return Err(Fault::arg(
                5,
                "leaves no character of a class that has a minimum",
            ));
        }
        *minimum = n as usize;
    }
    // Saturating: minimums near i64::MAX must fail the length check, not overflow.
    let required = minimums
        .iter()
        .fold(0usize, |sum, &n| sum.saturating_add(n));
    if required > length as usize {
        return Err(Fault::arg(
            0,
            format!("is {length}, less than the {required} characters the minimums ask for"),
        ));
    }
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        return Err(Fault::arg(5, "leaves no character to choose from"));
    }
    let mut chars: Vec<char> = Vec::with_capacity(length as usize);
    for (class, &minimum) in classes.iter().zip(&minimums) {
        chars.extend((0..minimum).map(|_| class[args.rng.usize(..class.len())]));
    }
    while chars.len() < length as usize {
        chars.push(all[args.rng.usize(..all.len())]);
    }
    args.rng.shuffle(&mut chars);
    Ok(Value::string(chars.into_iter().collect()))
}

/// The first candidate that is not null, not empty and not yet taken in the target.
pub fn select_unique_value<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    for i in 0..args.len() {
        let Some(candidate) = args.text(i)? else {
            continue;
        };
        if candidate.is_empty() {
            continue;
        }
        let taken = args
            .ctx
            .existing
            .as_ref()
            .is_some_and(|existing| existing.contains(&candidate));
        if !taken {
            return Ok(Value::Str(candidate));
        }
    }
    Err(Fault::new(
        Code::Argument,
        None,
        format!(
            "every one of the {} candidate values already exists in the target; Entra would escrow the object",
            args.len()
        ),
    ))
}
