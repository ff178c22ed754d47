//! The rules a mapping is held to beyond compiling: distinct matching precedences, no
//! target-asking function on a matching attribute, required targets written, defaults
//! that fit their targets.

use std::collections::HashMap;

use super::file::{AttributeFile, ObjectFile};
use super::load::{Locator, ObjectOrigin};
use super::{TargetAttribute, TargetObject};
use crate::bytecode::Program;
use crate::diagnostic::{Code, Diagnostic};

/// An app's required attribute that no mapping writes: creating an object would fail.
pub(super) fn check_required(
    object: &ObjectFile,
    target: &TargetObject,
    origin: &ObjectOrigin,
    locator: &Locator<'_>,
    problems: &mut Vec<Diagnostic>,
) {
    if target.scim().is_some() {
        return;
    }
    for required in object
        .target_attributes
        .iter()
        .filter(|t| t.required && !t.anchor)
    {
        let mapped = object
            .attributes
            .iter()
            .any(|a| a.target.eq_ignore_ascii_case(&required.name));
        if !mapped {
            let d = Diagnostic::warning(
                Code::Mapping,
                format!(
                    "{target} requires `{}`, and no mapping writes it: the app will refuse to create these objects",
                    required.name
                ),
            )
            .help(format!("map a source to `{}`, or give it a default", required.name));
            problems.push(locator.at(d, &origin.at.key("target"), "this target object"));
        }
    }
}

/// Whether a program asks the target which values are taken (`SelectUniqueValue`).
pub(super) fn asks_target(program: Option<&Program>) -> bool {
    program
        .and_then(Program::root)
        .is_some_and(|f| f.asks_target)
}

/// Matching precedences are distinct, and no matching attribute asks the target for
/// its value (`unique` numbers the attributes that do).
pub(super) fn check_matching(
    attributes: &[AttributeFile],
    unique: &[usize],
    origin: &ObjectOrigin,
    locator: &Locator<'_>,
    problems: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for (i, attribute) in attributes.iter().enumerate() {
        if attribute.matching == 0 {
            continue;
        }
        let at = &origin.attributes[i].at;
        if let Some(&first) = seen.get(&attribute.matching) {
            let d = Diagnostic::error(
                Code::DuplicateTarget,
                format!(
                    "two matching attributes share precedence {}",
                    attribute.matching
                ),
            );
            let d = locator.at(d, &at.key("matching"), "this one");
            let d = match locator.span(&origin.attributes[first].at.key("matching")) {
                Some(span) => d.with(span, "and this one"),
                None => d,
            };
            problems.push(d);
        }
        seen.insert(attribute.matching, i);
        if unique.contains(&i) {
            let d = Diagnostic::error(
                Code::MisplacedFunction,
                "SelectUniqueValue cannot be used on a matching attribute",
            )
            .help(
                "Entra rejects it: match on another attribute, or remove the matching precedence",
            );
            let source = origin.attributes[i]
                .source
                .clone()
                .unwrap_or_else(|| at.clone());
            problems.push(locator.at(d, &source, "on a matching attribute"));
        }
    }
}

/// Why a default value cannot go to its target, if it cannot.
pub(super) fn default_problem(default: &str, target: &TargetAttribute) -> Option<String> {
    use crate::scim::schema::Type;
    let ok = match target.kind {
        Type::Boolean => ["true", "false"]
            .iter()
            .any(|b| default.trim().eq_ignore_ascii_case(b)),
        Type::Integer => default.trim().parse::<i64>().is_ok(),
        _ => true,
    };
    (!ok).then(|| {
        format!(
            "the default {default:?} is not a {:?} value, as `{}` needs",
            target.kind, target.text
        )
    })
}
