//! Applying a PATCH request (RFC 7644 §3.5.2) to a resource, in every shape Entra sends:
//! capitalised ops, booleans as strings, path-less replaces whose keys are paths, legacy
//! member removal with a value array, replace on a filtered path that matches nothing
//! (an upsert), `manager` as a bare id.

use crate::scim::ScimType;
use std::collections::HashSet;

use serde_json::{Map, Value as Json};

use super::filter::{element_matches, resolve, Resolved};
use super::path::{AttrPath, CompValue, Path};
use super::schema::{Attribute, ResourceType, Type, PATCH_OP};
use crate::json::field;

/// Why a PATCH request cannot be applied; the SCIM error it becomes (status 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct PatchError {
    /// `invalidSyntax`, `invalidPath`, `invalidValue`, `noTarget` or `mutability`.
    pub scim_type: ScimType,
    pub detail: String,
    /// The request is over [`MAX_PATCH_OPERATIONS`] or [`MAX_PATCH_VALUES`]: a server
    /// answers 413, as RFC 7644 §3.7.4 has it for Bulk.
    pub over_limit: bool,
}

/// The most operations one PATCH request may hold.
pub const MAX_PATCH_OPERATIONS: usize = 1_000;

/// The most values one operation may add, replace or remove. Entra sends group members
/// a few hundred at a time; `scimap sync` sends at most 500.
pub const MAX_PATCH_VALUES: usize = 10_000;

fn error(scim_type: ScimType, detail: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        detail: detail.into(),
        over_limit: false,
    }
}

fn over_limit(detail: String) -> PatchError {
    PatchError {
        over_limit: true,
        ..error(ScimType::InvalidValue, detail)
    }
}

/// How many values an operation carries: an array's elements, or those of the arrays
/// in a path-less object.
fn value_count(value: Option<&Json>) -> usize {
    match value {
        Some(Json::Array(items)) => items.len(),
        Some(Json::Object(map)) => map.values().map(|v| value_count(Some(v)).max(1)).sum(),
        Some(_) => 1,
        None => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Add,
    Replace,
    Remove,
}

/// Applies a PatchOp body to a resource. All or nothing: on an error the resource is
/// as it was.
pub fn apply_patch(resource: &mut Json, body: &Json, rt: &ResourceType) -> Result<(), PatchError> {
    let schemas = field(body, "schemas").and_then(Json::as_array);
    if !schemas.is_some_and(|s| {
        s.iter()
            .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP)))
    }) {
        return Err(error(
            ScimType::InvalidSyntax,
            format!("a PATCH body lists \"{PATCH_OP}\" in its schemas"),
        ));
    }
    let operations = field(body, "Operations")
        .and_then(Json::as_array)
        .ok_or_else(|| {
            error(
                ScimType::InvalidSyntax,
                "a PATCH body has an \"Operations\" array",
            )
        })?;
    if operations.len() > MAX_PATCH_OPERATIONS {
        return Err(over_limit(format!(
            "the request has {} operations; at most {MAX_PATCH_OPERATIONS} are taken at once",
            operations.len()
        )));
    }
    let mut updated = resource.clone();
    for (i, operation) in operations.iter().enumerate() {
        apply_operation(&mut updated, operation, rt).map_err(|e| PatchError {
            detail: format!("Operations[{i}]: {}", e.detail),
            ..e
        })?;
    }
    *resource = updated;
    Ok(())
}

fn apply_operation(
    resource: &mut Json,
    operation: &Json,
    rt: &ResourceType,
) -> Result<(), PatchError> {
    let op = match field(operation, "op")
        .and_then(Json::as_str)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("add") => Operation::Add,
        Some("replace") => Operation::Replace,
        Some("remove") => Operation::Remove,
        Some(other) => {
            return Err(error(
                ScimType::InvalidSyntax,
                format!("unknown op `{other}`; the ops are add, replace and remove"),
            ))
        }
        None => return Err(error(ScimType::InvalidSyntax, "an operation has an `op`")),
    };
    let value = field(operation, "value");
    let count = value_count(value);
    if count > MAX_PATCH_VALUES {
        return Err(over_limit(format!(
            "the operation has {count} values; at most {MAX_PATCH_VALUES} are taken at once"
        )));
    }
    let path = field(operation, "path")
        .and_then(Json::as_str)
        .filter(|p| !p.trim().is_empty());
    match (path, op) {
        (None, Operation::Remove) => Err(error(ScimType::NoTarget, "remove needs a path")),
        (None, _) => {
            let Some(Json::Object(values)) = value else {
                return Err(error(
                    ScimType::InvalidValue,
                    "an add or replace without a path takes an object",
                ));
            };
            for (key, value) in values {
                apply_pathless(resource, op, key, value, rt)?;
            }
            Ok(())
        }
        // A path that is an extension's URN addresses the extension object whole.
        (Some(urn), Operation::Remove) if rt.extension_urn(urn).is_some() => {
            if let Some(root) = resource.as_object_mut() {
                remove_key(root, urn);
            }
            Ok(())
        }
        (Some(urn), _) if rt.extension_urn(urn).is_some() => match value {
            Some(value) => apply_pathless(resource, op, urn, value, rt),
            None => Err(error(
                ScimType::InvalidValue,
                format!("{op:?} needs a value"),
            )),
        },
        (Some(path), _) => {
            let mut parsed = Path::parse(path)
                .map_err(|e| error(ScimType::InvalidPath, format!("`{path}`: {e}")))?;
            bare_manager(&mut parsed, rt);
            apply_path(resource, op, &parsed, value, rt)
        }
    }
}

/// One key of a path-less add or replace: an attribute, a dotted or URN-qualified path
/// (Entra's `aadOptscim062020` form), or an extension URN holding an object.
fn apply_pathless(
    resource: &mut Json,
    op: Operation,
    key: &str,
    value: &Json,
    rt: &ResourceType,
) -> Result<(), PatchError> {
    if is_meta(key) || key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if rt.extension_urn(key).is_some() {
        let Json::Object(values) = value else {
            return Err(error(
                ScimType::InvalidValue,
                format!("`{key}` takes an object"),
            ));
        };
        for (name, v) in values
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("schemas"))
        {
            apply_pathless(resource, op, &format!("{key}:{name}"), v, rt)?;
        }
        return Ok(());
    }
    let path =
        Path::parse(key).map_err(|e| error(ScimType::InvalidPath, format!("`{key}`: {e}")))?;
    apply_path(resource, op, &path, Some(value), rt)
}

/// Microsoft's older tutorial sends `manager` without its schema: it is the enterprise
/// extension's when the core schema has no attribute of that name.
fn bare_manager(path: &mut Path, rt: &ResourceType) {
    if path.attr.urn.is_none()
        && path.attr.name.eq_ignore_ascii_case("manager")
        && resolve(&path.attr, rt).is_err()
    {
        path.attr.urn = rt
            .extensions
            .iter()
            .find(|(_, attributes)| attributes.iter().any(|a| a.name == "manager"))
            .map(|(urn, _)| urn.to_string());
    }
}

fn is_meta(key: &str) -> bool {
    key.eq_ignore_ascii_case("meta") || key.to_ascii_lowercase().starts_with("meta.")
}

fn apply_path(
    resource: &mut Json,
    op: Operation,
    path: &Path,
    value: Option<&Json>,
    rt: &ResourceType,
) -> Result<(), PatchError> {
    let head = AttrPath {
        urn: path.attr.urn.clone(),
        name: path.attr.name.clone(),
        sub: if path.filter.is_some() {
            None
        } else {
            path.attr.sub.clone()
        },
    };
    let resolved = resolve(&head, rt).map_err(|e| error(ScimType::InvalidPath, e.0))?;
    if !resolved.custom && (resolved.attribute.name == "id" || is_meta(resolved.attribute.name)) {
        return Err(error(
            ScimType::Mutability,
            format!("`{}` is read-only", resolved.attribute.name),
        ));
    }
    let value = match (op, value) {
        (Operation::Remove, v) => v.cloned(),
        (_, Some(v)) => Some(coerce(
            v,
            &resolved,
            path.filter.is_some(),
            path.attr.sub.as_deref(),
        )?),
        (_, None) => {
            return Err(error(
                ScimType::InvalidValue,
                format!("{op:?} needs a value"),
            ))
        }
    };
    let container = container(
        resource,
        path.attr.urn.as_deref(),
        rt,
        op == Operation::Remove,
    )?;
    let Some(container) = container else {
        return Ok(());
    };
    let name = if resolved.custom {
        path.attr.name.as_str()
    } else {
        resolved.attribute.name
    };
    match (&path.filter, resolved.sub) {
        (Some(filter), _) => {
            apply_filtered(container, op, name, filter, path, value, resolved.attribute)
        }
        (None, Some(sub)) => apply_sub(container, op, name, sub.name, value),
        (None, None) if resolved.attribute.multi_valued => apply_multi(container, op, name, value),
        (None, None) => {
            match (op, value) {
                (Operation::Remove, _) => {
                    remove_key(container, name);
                }
                (_, Some(Json::Object(values))) if resolved.attribute.kind == Type::Complex => {
                    // Add and replace both merge into a complex attribute: the
                    // sub-attributes not mentioned stay (RFC 7644 §3.5.2.1, §3.5.2.3).
                    let target = entry(container, name);
                    if !target.is_object() {
                        *target = Json::Object(Map::new());
                    }
                    let target = target.as_object_mut().expect("just made an object");
                    for (k, v) in values {
                        set_key(target, &k, v);
                    }
                    if target.is_empty() {
                        remove_key(container, name);
                    }
                }
                (_, Some(v)) => set_key(container, name, v),
                (_, None) => {}
            }
            Ok(())
        }
    }
}

/// The object holding an attribute: the resource, or its extension object (made when
/// adding, absent when removing from an extension that is not there).
fn container<'r>(
    resource: &'r mut Json,
    urn: Option<&str>,
    rt: &ResourceType,
    removing: bool,
) -> Result<Option<&'r mut Map<String, Json>>, PatchError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| error(ScimType::InvalidSyntax, "the resource is not an object"))?;
    let Some(urn) = urn.filter(|u| !u.eq_ignore_ascii_case(rt.schema)) else {
        return Ok(Some(root));
    };
    let urn = rt.extension_urn(urn).unwrap_or(urn);
    let key = root.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned();
    if removing && key.is_none() {
        return Ok(None);
    }
    let key = key.unwrap_or_else(|| urn.to_string());
    let extension = root.entry(key).or_insert_with(|| Json::Object(Map::new()));
    if !extension.is_object() {
        *extension = Json::Object(Map::new());
    }
    Ok(extension.as_object_mut())
}

fn key_of(map: &Map<String, Json>, name: &str) -> Option<String> {
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn entry<'m>(map: &'m mut Map<String, Json>, name: &str) -> &'m mut Json {
    let key = key_of(map, name).unwrap_or_else(|| name.to_string());
    map.entry(key).or_insert(Json::Null)
}

fn set_key(map: &mut Map<String, Json>, name: &str, value: Json) {
    if value.is_null() {
        remove_key(map, name);
    } else {
        *entry(map, name) = value;
    }
}

fn remove_key(map: &mut Map<String, Json>, name: &str) -> Option<Json> {
    key_of(map, name).and_then(|k| map.remove(&k))
}

fn apply_sub(
    container: &mut Map<String, Json>,
    op: Operation,
    name: &str,
    sub: &str,
    value: Option<Json>,
) -> Result<(), PatchError> {
    if op == Operation::Remove {
        if let Some(Json::Object(parent)) =
            key_of(container, name).and_then(|k| container.get_mut(&k))
        {
            remove_key(parent, sub);
        }
        return Ok(());
    }
    let parent = entry(container, name);
    if !parent.is_object() {
        *parent = Json::Object(Map::new());
    }
    set_key(
        parent.as_object_mut().expect("an object"),
        sub,
        value.unwrap_or(Json::Null),
    );
    Ok(())
}

/// add appends (skipping values already there), replace sets the whole list, remove
/// takes the attribute away, or, given a value array (Entra's legacy member removal),
/// exactly those values.
fn apply_multi(
    container: &mut Map<String, Json>,
    op: Operation,
    name: &str,
    value: Option<Json>,
) -> Result<(), PatchError> {
    let items = |value: Option<Json>| match value {
        Some(Json::Array(items)) => items,
        Some(Json::Null) | None => Vec::new(),
        Some(one) => vec![one],
    };
    match op {
        Operation::Replace => set_key(container, name, Json::Array(items(value))),
        Operation::Add => {
            let list = entry(container, name);
            if !list.is_array() {
                *list = Json::Array(Vec::new());
            }
            let list = list.as_array_mut().expect("an array");
            let mut seen = Elements::of(list);
            for item in items(value) {
                if seen.insert(&item) {
                    list.push(item);
                }
            }
        }
        Operation::Remove => match value {
            None | Some(Json::Null) => {
                remove_key(container, name);
            }
            Some(values) => {
                let doomed = Elements::of(&items(Some(values)));
                if let Some(Json::Array(list)) =
                    key_of(container, name).and_then(|k| container.get_mut(&k))
                {
                    list.retain(|existing| !doomed.contains(existing));
                    if list.is_empty() {
                        remove_key(container, name);
                    }
                }
            }
        },
    }
    Ok(())
}

/// The elements of a multi-valued attribute as a set. Two elements are the same value
/// when their `value` fields are equal (members, emails), or, without one, when they
/// are equal as a whole (rare: those are compared one by one).
#[derive(Default)]
struct Elements {
    values: HashSet<String>,
    others: Vec<Json>,
}

impl Elements {
    fn of(list: &[Json]) -> Elements {
        let mut elements = Elements::default();
        for item in list {
            elements.insert(item);
        }
        elements
    }

    /// Adds an element; false when an equal one is there already.
    fn insert(&mut self, item: &Json) -> bool {
        match field(item, "value") {
            Some(value) => self.values.insert(value.to_string()),
            None if self.others.contains(item) => false,
            None => {
                self.others.push(item.clone());
                true
            }
        }
    }

    fn contains(&self, item: &Json) -> bool {
        match field(item, "value") {
            Some(value) => self.values.contains(&value.to_string()),
            None => self.others.contains(item),
        }
    }
}

fn apply_filtered(
    container: &mut Map<String, Json>,
    op: Operation,
    name: &str,
    filter: &super::path::Filter,
    path: &Path,
    value: Option<Json>,
    attribute: &Attribute,
) -> Result<(), PatchError> {
    let sub = path.attr.sub.as_deref();
    let list = entry(container, name);
    if !list.is_array() {
        *list = Json::Array(Vec::new());
    }
    let list = list.as_array_mut().expect("an array");
    let mut matched = false;
    if (op, sub) == (Operation::Remove, None) {
        list.retain(|element| !element_matches(filter, element, attribute));
    }
    for element in list.iter_mut() {
        if !element_matches(filter, element, attribute) {
            continue;
        }
        matched = true;
        match (op, sub) {
            (Operation::Remove, None) => {}
            (Operation::Remove, Some(sub)) => {
                if let Json::Object(element) = element {
                    remove_key(element, sub);
                }
            }
            (_, Some(sub)) => {
                if let Json::Object(element) = element {
                    set_key(element, sub, value.clone().unwrap_or(Json::Null));
                }
            }
            (_, None) => {
                if let (Json::Object(element), Some(Json::Object(values))) = (element, &value) {
                    for (k, v) in values {
                        set_key(element, k, v.clone());
                    }
                }
            }
        }
    }
    if !matched && op != Operation::Remove {
        // Entra replaces emails[type eq "work"].value before any work email exists:
        // make the element the filter describes.
        let fixed = path.equalities().ok_or_else(|| {
            error(ScimType::NoTarget, format!("no element of `{name}` matches `{filter}`, and the filter does not say how to make one"))
        })?;
        let mut element = Map::new();
        for (key, wanted) in fixed {
            element.insert(key.to_string(), comp_json(wanted));
        }
        match (sub, value) {
            (Some(sub), Some(v)) => {
                element.insert(sub.to_string(), v);
            }
            (None, Some(Json::Object(values))) => element.extend(values),
            _ => {}
        }
        list.push(Json::Object(element));
    }
    if list.is_empty() {
        remove_key(container, name);
    }
    Ok(())
}

fn comp_json(value: &CompValue) -> Json {
    match value {
        CompValue::Str(s) => Json::String(s.clone()),
        CompValue::Num(n) => Json::Number(n.clone()),
        CompValue::Bool(b) => Json::Bool(*b),
        CompValue::Null => Json::Null,
    }
}

/// A value as its attribute's type wants it: booleans from Entra's `"True"`/`"False"`,
/// `manager` from a bare id or a one-element array.
fn coerce(
    value: &Json,
    resolved: &Resolved,
    filtered: bool,
    sub: Option<&str>,
) -> Result<Json, PatchError> {
    let attribute = resolved.attribute;
    let leaf = match (filtered, sub) {
        (true, Some(sub)) => {
            super::schema::find(attribute.sub_attributes, sub).ok_or_else(|| {
                error(
                    ScimType::InvalidPath,
                    format!("`{}` has no sub-attribute `{sub}`", attribute.name),
                )
            })?
        }
        (true, None) => attribute,
        (false, _) => resolved.leaf(),
    };
    if filtered && sub.is_none() {
        return Ok(value.clone());
    }
    Ok(match (leaf.kind, value) {
        (Type::Boolean, Json::String(s)) if s.eq_ignore_ascii_case("true") => Json::Bool(true),
        (Type::Boolean, Json::String(s)) if s.eq_ignore_ascii_case("false") => Json::Bool(false),
        (Type::Boolean, Json::Bool(_) | Json::Null) => value.clone(),
        (Type::Boolean, other) => {
            return Err(error(
                ScimType::InvalidValue,
                format!("`{}` is a boolean, not {other}", leaf.name),
            ))
        }
        (Type::Complex, Json::String(id)) if is_reference(leaf) && !leaf.multi_valued => {
            if id.is_empty() {
                Json::Null
            } else {
                serde_json::json!({ "value": id })
            }
        }
        (Type::Complex, Json::Array(items)) if is_reference(leaf) && !leaf.multi_valued => {
            items.first().cloned().unwrap_or(Json::Null)
        }
        _ => value.clone(),
    })
}

fn is_reference(attribute: &Attribute) -> bool {
    attribute.sub_attributes.iter().any(|s| s.name == "$ref")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn patched(resource: Json, ops: Json, rt: &ResourceType) -> Result<Json, PatchError> {
        let mut resource = resource;
        apply_patch(
            &mut resource,
            &json!({"schemas": [PATCH_OP], "Operations": ops}),
            rt,
        )?;
        Ok(resource)
    }

    fn user() -> Json {
        json!({"userName": "a@contoso.com", "active": true, "name": {"givenName": "A"},
               "emails": [{"type": "home", "value": "a@example.org"}]})
    }

    #[test]
    fn legacy_shapes() {
        let out = patched(user(), json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "a@contoso.com"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Retail"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m1"},
            {"op": "Add", "path": "name.familyName", "value": "B"},
        ]), &USER_TYPE).unwrap();
        assert_eq!(out["active"], false);
        assert_eq!(
            out["emails"][1],
            json!({"type": "work", "value": "a@contoso.com"})
        );
        assert_eq!(out["name"], json!({"givenName": "A", "familyName": "B"}));
        let enterprise = &out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];
        assert_eq!(
            enterprise,
            &json!({"department": "Retail", "manager": {"value": "m1"}})
        );
    }

    #[test]
    fn pathless_replace_with_dotted_and_urn_keys() {
        let out = patched(
            user(),
            json!([{"op": "replace", "value": {
                "active": false, "name.givenName": "Z", "displayName": "Zed",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "X"},
                "meta": {"resourceType": "User"},
            }}]),
            &USER_TYPE,
        )
        .unwrap();
        assert_eq!(out["name"]["givenName"], "Z");
        assert_eq!(out["displayName"], "Zed");
        assert_eq!(
            out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            json!({"employeeNumber": "7", "department": "X"})
        );
    }

    #[test]
    fn an_extension_urn_as_path_is_the_extension_object() {
        let urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let out = patched(
            user(),
            json!([{"op": "add", "path": urn, "value": {"employeeNumber": "5"}}]),
            &USER_TYPE,
        )
        .unwrap();
        assert_eq!(out[urn], json!({"employeeNumber": "5"}));
        let out = patched(out, json!([{"op": "remove", "path": urn}]), &USER_TYPE).unwrap();
        assert!(out.get(urn).is_none());
    }

    #[test]
    fn members_in_both_removal_shapes() {
        let group = json!({"displayName": "G", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        let out = patched(group.clone(), json!([
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "4"}, {"value": "1"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "2"}]},
            {"op": "remove", "path": "members[value eq \"3\"]"},
        ]), &GROUP_TYPE).unwrap();
        let ids: Vec<&str> = out["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["1", "4"]);
        let out = patched(
            group,
            json!([{"op": "remove", "path": "members"}]),
            &GROUP_TYPE,
        )
        .unwrap();
        assert!(out.get("members").is_none());
    }

    #[test]
    fn errors_leave_the_resource_alone() {
        let mut resource = user();
        let body = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "displayName", "value": "changed"},
            {"op": "replace", "path": "active", "value": "perhaps"},
        ]});
        let e = apply_patch(&mut resource, &body, &USER_TYPE).unwrap_err();
        assert_eq!(e.scim_type, "invalidValue");
        assert!(e.detail.starts_with("Operations[1]"));
        assert_eq!(resource, user());
        let bad = |ops: Json| patched(user(), ops, &USER_TYPE).unwrap_err().scim_type;
        assert_eq!(bad(json!([{"op": "move", "path": "a"}])), "invalidSyntax");
        assert_eq!(
            bad(json!([{"op": "add", "path": "nosuch", "value": 1}])),
            "invalidPath"
        );
        assert_eq!(
            bad(json!([{"op": "replace", "path": "id", "value": "x"}])),
            "mutability"
        );
        assert_eq!(bad(json!([{"op": "remove"}])), "noTarget");
        assert_eq!(
            bad(json!([{"op": "replace", "path": "emails[type co \"w\"].value", "value": "x"}])),
            "noTarget"
        );
        let no_schema =
            apply_patch(&mut user(), &json!({"Operations": []}), &USER_TYPE).unwrap_err();
        assert_eq!(no_schema.scim_type, "invalidSyntax");
    }

    #[test]
    fn replace_of_a_complex_attribute_keeps_what_it_does_not_mention() {
        let user = json!({"userName": "a", "name": {"givenName": "A", "familyName": "F"}});
        let expected = json!({"userName": "a", "name": {"givenName": "Only", "familyName": "F"}});
        for ops in [
            json!([{"op": "replace", "path": "name", "value": {"givenName": "Only"}}]),
            json!([{"op": "replace", "value": {"name": {"givenName": "Only"}}}]),
            json!([{"op": "Replace", "path": "name", "value": {"givenName": "Only"}}]),
            json!([{"op": "Replace", "value": {"name.givenName": "Only"}}]),
        ] {
            assert_eq!(
                patched(user.clone(), ops.clone(), &USER_TYPE).unwrap(),
                expected,
                "{ops}"
            );
        }
        let cleared = json!([{"op": "replace", "path": "name", "value": {"givenName": null, "familyName": null}}]);
        assert_eq!(
            patched(user, cleared, &USER_TYPE).unwrap(),
            json!({"userName": "a"})
        );
    }

    #[test]
    fn a_bare_manager_path_is_the_enterprise_manager() {
        let ops =
            json!([{"op": "Add", "path": "manager", "value": [{"$ref": null, "value": "m-1"}]}]);
        let done = patched(json!({"userName": "a"}), ops, &USER_TYPE).unwrap();
        assert_eq!(
            done[crate::scim::schema::ENTERPRISE_USER]["manager"],
            json!({"value": "m-1"})
        );
        let group = patched(
            json!({"displayName": "g"}),
            json!([{"op": "add", "path": "manager", "value": "x"}]),
            &GROUP_TYPE,
        );
        assert_eq!(group.unwrap_err().scim_type, "invalidPath");
    }

    #[test]
    fn many_values_are_added_and_removed_as_sets() {
        let members: Vec<Json> = (0..MAX_PATCH_VALUES)
            .map(|i| json!({"value": format!("m{i}")}))
            .collect();
        let group = json!({"displayName": "g", "members": [{"value": "m0"}]});
        let added = patched(
            group,
            json!([{"op": "add", "path": "members", "value": members}]),
            &GROUP_TYPE,
        )
        .unwrap();
        assert_eq!(
            added["members"].as_array().unwrap().len(),
            MAX_PATCH_VALUES,
            "m0 is not added twice"
        );
        let doomed: Vec<Json> = members_named(1..MAX_PATCH_VALUES);
        let left = patched(
            added,
            json!([{"op": "remove", "path": "members", "value": doomed}]),
            &GROUP_TYPE,
        )
        .unwrap();
        assert_eq!(left["members"], json!([{"value": "m0"}]));
    }

    fn members_named(range: std::ops::Range<usize>) -> Vec<Json> {
        range.map(|i| json!({"value": format!("m{i}")})).collect()
    }

    #[test]
    fn operations_and_values_are_capped() {
        let too_many_values = json!([{"op": "add", "path": "members", "value": members_named(0..MAX_PATCH_VALUES + 1)}]);
        let e = patched(json!({"displayName": "g"}), too_many_values, &GROUP_TYPE).unwrap_err();
        assert!(e.over_limit && e.detail.contains("10000"), "{e}");
        let op = json!({"op": "replace", "path": "displayName", "value": "x"});
        let too_many_ops = Json::Array(vec![op; MAX_PATCH_OPERATIONS + 1]);
        let e = patched(json!({"displayName": "g"}), too_many_ops, &GROUP_TYPE).unwrap_err();
        assert!(e.over_limit && e.detail.contains("1000 are taken"), "{e}");
    }
}
