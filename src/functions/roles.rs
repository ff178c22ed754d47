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

/// One assignment's role value and display name (and the role's id, when given).
struct Role {
    id: Option<String>,
    value: String,
    display: String,
}

fn roles(args: &mut Args<'_, '_>) -> Result<Vec<Role>, Fault> {
    read_roles(&args.take(0)).map_err(|why| Fault::arg(0, why))
}

fn read_roles(assignments: &Value<'_>) -> Result<Vec<Role>, String> {
    let each = |items: &[Value<'_>]| -> Result<Vec<Role>, String> {
        items
            .iter()
            .enumerate()
            .map(|(i, a)| role(a).map_err(|why| format!("value {}: {why}", i + 1)))
            .collect()
    };
    match assignments {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => each(items),
        single => each(std::slice::from_ref(single)),
    }
}

fn role(assignment: &Value<'_>) -> Result<Role, String> {
    match assignment {
        Value::Str(name) => Ok(Role {
            id: None,
            value: name.to_string(),
            display: name.to_string(),
        }),
        Value::Object(map) => {
            let field = |key: &str| match map.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("`{key}` must be a string, not {other}")),
            };
            let (id, value, display) = (field("id")?, field("value")?, field("displayName")?);
            match (value, display) {
                (Some(v), Some(d)) => Ok(Role {
                    id,
                    value: v,
                    display: d,
                }),
                (Some(one), None) | (None, Some(one)) => Ok(Role {
                    id,
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

/// How Entra sends a user's roles when it updates an existing target object, for the
/// two functions that have an update form: `AppRoleAssignmentsComplex` adds each role,
/// its `value` a JSON string of the role's `id`, `value` and `displayName`; and
/// `AssertiveAppRoleAssignmentsComplex` replaces `roles` with the full list of role
/// objects. `assignments` is the `[appRoleAssignments]` value; the result is one SCIM
/// PATCH operation (RFC 7644).
///
/// ```
/// let assignments = scimap::Value::list(vec![scimap::Value::str("Admin")]);
/// let op = scimap::functions::app_role_update("AppRoleAssignmentsComplex", &assignments).unwrap();
/// assert_eq!(op["op"], "Add");
/// assert_eq!(op["value"][0]["value"], r#"{"value":"Admin","displayName":"Admin"}"#);
/// ```
pub fn app_role_update(
    function: &str,
    assignments: &Value<'_>,
) -> Result<serde_json::Value, String> {
    match super::Function::lookup(function).and_then(|f| f.update) {
        Some(update) => update(assignments),
        None => Err(format!(
            "{function} has no update form; its value is sent as it is"
        )),
    }
}

/// `AppRoleAssignmentsComplex` on update: each role added, its `value` a JSON string of
/// the role's `id`, `value` and `displayName`.
pub(super) fn added(assignments: &Value<'_>) -> Result<serde_json::Value, String> {
    let values: Vec<serde_json::Value> = read_roles(assignments)?
        .into_iter()
        .map(|r| {
            let mut role = serde_json::Map::new();
            if let Some(id) = r.id {
                role.insert("id".into(), id.into());
            }
            role.insert("value".into(), r.value.into());
            role.insert("displayName".into(), r.display.into());
            json!({ "value": serde_json::Value::Object(role).to_string() })
        })
        .collect();
    Ok(json!({ "op": "Add", "path": "roles", "value": values }))
}

/// `AssertiveAppRoleAssignmentsComplex` on update: `roles` replaced by every role.
pub(super) fn replaced(assignments: &Value<'_>) -> Result<serde_json::Value, String> {
    let values: Vec<serde_json::Value> = read_roles(assignments)?
        .into_iter()
        .filter_map(|r| scim_role(r, "display").to_json())
        .collect();
    Ok(json!({ "op": "replace", "path": "roles", "value": values }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_forms() {
        let assignments = Value::list(vec![Value::Object(Cow::Owned(Box::new(
            json!({"id": "06b07648-ecfe-589f-9d2f-6325724a46ee", "value": "Admin", "displayName": "Admin"})
                .as_object()
                .unwrap()
                .clone(),
        )))]);
        let add = app_role_update("AppRoleAssignmentsComplex", &assignments).unwrap();
        assert_eq!(
            add,
            json!({"op": "Add", "path": "roles", "value": [
                {"value": r#"{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"Admin","displayName":"Admin"}"#}
            ]})
        );
        let replace = app_role_update("AssertiveAppRoleAssignmentsComplex", &assignments).unwrap();
        assert_eq!(
            replace,
            json!({"op": "replace", "path": "roles", "value": [
                {"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Admin", "value": "Admin"}
            ]})
        );
        assert!(app_role_update("SingleAppRoleAssignment", &assignments).is_err());
    }
}
