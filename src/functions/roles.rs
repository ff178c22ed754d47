//! App roles: the user's `appRoleAssignments` for the application, as SCIM `roles`.
//!
//! An assignment is an object with the role's `value` and `displayName` (and its `id`
//! and `principal`, which these functions do not need), or just the role's name as a
//! string, as Graph's test inputs give it. How the roles are sent on update (added, or
//! replacing the target's) is the mapping's business; these functions make the values.

use std::borrow::Cow;

use serde_json::json;

use super::{Args, Fault};
use crate::value::Value;

/// One assignment's role value and display name.
struct Role {
    value: String,
    display: String,
}

fn roles(args: &mut Args<'_, '_>) -> Result<Vec<Role>, Fault> {
    let assignments = match args.take(0) {
        Value::Null => return Ok(Vec::new()),
        Value::List(items) => items.into_vec(),
        single => vec![single],
    };
    assignments
        .iter()
        .enumerate()
        .map(|(i, a)| role(a).map_err(|why| Fault::arg(0, format!("value {}: {why}", i + 1))))
        .collect()
}

fn role(assignment: &Value<'_>) -> Result<Role, String> {
    match assignment {
        Value::Str(name) => Ok(Role {
            value: name.to_string(),
            display: name.to_string(),
        }),
        Value::Object(map) => {
            let field = |key: &str| match map.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("`{key}` must be a string, not {other}")),
            };
            let (value, display) = (field("value")?, field("displayName")?);
            match (value, display) {
                (Some(v), Some(d)) => Ok(Role {
                    value: v,
                    display: d,
                }),
                (Some(one), None) | (None, Some(one)) => Ok(Role {
                    value: one.clone(),
                    display: one,
                }),
                (None, None) => {
                    Err("an app role assignment needs a `value` or a `displayName`".into())
                }
            }
        }
        other => Err(format!(
            "expected an app role assignment (an object or a role name), got {}",
            other.kind()
        )),
    }
}

fn scim_role(role: Role, display_key: &str) -> Value<'static> {
    let object = json!({
        "primary": false,
        "type": "WindowsAzureActiveDirectoryRole",
        display_key: role.display,
        "value": role.value,
    });
    let serde_json::Value::Object(map) = object else {
        unreachable!("json! of an object is an object")
    };
    Value::Object(Cow::Owned(Box::new(map)))
}

/// Every assigned role as a SCIM role object with `displayName`, all `primary: false`.
pub fn complex<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::list(
        roles(args)?
            .into_iter()
            .map(|r| scim_role(r, "displayName"))
            .collect(),
    ))
}

/// As [`complex`], with the key `display`, as Entra's documented request shows it.
pub fn assertive<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::list(
        roles(args)?
            .into_iter()
            .map(|r| scim_role(r, "display"))
            .collect(),
    ))
}

/// The value of the user's one role (the first, when there are several).
pub fn single<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(roles(args)?
        .into_iter()
        .next()
        .map_or(Value::Null, |r| Value::string(r.value)))
}

/// The values of all assigned roles.
pub fn values<'a>(args: &mut Args<'a, '_>) -> Result<Value<'a>, Fault> {
    Ok(Value::list(
        roles(args)?
            .into_iter()
            .map(|r| Value::string(r.value))
            .collect(),
    ))
}
