//! Resources as the server takes them in (checked and normalised) and gives them out
//! (with `id` and `meta`, projected by `attributes`/`excludedAttributes`).

use crate::scim::ScimType;
use serde_json::{json, Map, Value as Json};

use super::error::ScimError;
use super::store::{ObjectKind, Stored};
use crate::json::field;
use crate::scim::filter::resolve;
use crate::scim::schema::{self, Attribute, ResourceType, Type};
use crate::scim::AttrPath;

pub fn resource_type(kind: ObjectKind) -> &'static ResourceType {
    match kind {
        ObjectKind::User => &schema::USER_TYPE,
        ObjectKind::Group => &schema::GROUP_TYPE,
    }
}

/// A body from a client, made into what is stored: known attributes only, typed, no
/// nulls, no empty lists, no `id` or `meta` (Entra sends `meta`; the server owns it).
/// Extension objects are kept for the extensions the resource type knows and for those
/// the body lists in `schemas`; a schema URI listed without attributes is ignored
/// (Entra's extra group schema).
pub fn normalize(body: &Json, kind: ObjectKind) -> Result<Json, ScimError> {
    let rt = resource_type(kind);
    let Json::Object(map) = body else {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            "the body must be a JSON object",
        ));
    };
    let schemas: Vec<&str> = field(body, "schemas")
        .and_then(Json::as_array)
        .map(|s| s.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if !schemas.iter().any(|s| s.eq_ignore_ascii_case(rt.schema)) {
        return Err(ScimError::bad(
            ScimType::InvalidSyntax,
            format!("`schemas` must list \"{}\"", rt.schema),
        ));
    }
    let mut out = Map::new();
    let mut listed = vec![rt.schema.to_string()];
    for (key, value) in map {
        if value.is_null()
            || ["schemas", "meta", "id"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if key.to_ascii_lowercase().starts_with("urn:") {
            let known = rt.extension_urn(key);
            let declared = schemas.iter().any(|s| s.eq_ignore_ascii_case(key));
            if known.is_none() && !declared {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!(
                        "`{key}` is not an extension of {} and is not listed in `schemas`",
                        rt.name
                    ),
                ));
            }
            let Json::Object(attributes) = value else {
                return Err(ScimError::bad(
                    ScimType::InvalidValue,
                    format!("`{key}` must be an object"),
                ));
            };
            let urn = known.map_or_else(|| key.clone(), str::to_string);
            let mut extension = Map::new();
            for (name, v) in attributes
                .iter()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("schemas"))
            {
                let path = AttrPath {
                    urn: Some(urn.clone()),
                    name: name.clone(),
                    sub: None,
                };
                if let Some(v) = typed(v, &path, rt)? {
                    let resolved = resolve(&path, rt)
                        .map_err(|e| ScimError::bad(ScimType::InvalidValue, e.0))?;
                    let name = if resolved.custom {
                        name.clone()
                    } else {
                        resolved.attribute.name.to_string()
                    };
                    extension.insert(name, v);
                }
            }
            if !extension.is_empty() {
                listed.push(urn.clone());
                out.insert(urn, Json::Object(extension));
            }
            continue;
        }
        let path = AttrPath {
            urn: None,
            name: key.clone(),
            sub: None,
        };
        let attribute = resolve(&path, rt)
            .map_err(|_| {
                ScimError::bad(
                    ScimType::InvalidValue,
                    format!("`{key}` is not an attribute of a {}", rt.name),
                )
            })?
            .attribute;
        if attribute.name == "groups" {
            continue; // read-only: the server computes it (and does not here)
        }
        if let Some(v) = typed(value, &path, rt)? {
            out.insert(attribute.name.to_string(), v);
        }
    }
    let required = match kind {
        ObjectKind::User => "userName",
        ObjectKind::Group => "displayName",
    };
    let blank = out
        .get(required)
        .and_then(Json::as_str)
        .is_none_or(|s| s.trim().is_empty());
    if blank {
        return Err(ScimError::bad(
            ScimType::InvalidValue,
            format!("`{required}` is required"),
        ));
    }
    out.insert("schemas".into(), json!(listed));
    Ok(Json::Object(out))
}

/// A value typed for its attribute, or `None` when it holds nothing.
fn typed(value: &Json, path: &AttrPath, rt: &ResourceType) -> Result<Option<Json>, ScimError> {
    let resolved = resolve(path, rt).map_err(|e| ScimError::bad(ScimType::InvalidValue, e.0))?;
    if resolved.custom {
        return Ok((!value.is_null()).then(|| value.clone()));
    }
    coerce(value, resolved.attribute, &path.to_string())
}

fn coerce(value: &Json, attribute: &Attribute, at: &str) -> Result<Option<Json>, ScimError> {
    let wrong = |what: &str| {
        ScimError::bad(
            ScimType::InvalidValue,
            format!("`{at}` takes {what}, not {value}"),
        )
    };
    Ok(match (value, attribute.kind, attribute.multi_valued) {
        (Json::Null, _, _) => None,
        (Json::Array(items), _, true) => {
            let mut out = Vec::new();
            for item in items {
                let single = Attribute {
                    multi_valued: false,
                    ..*attribute
                };
                if let Some(v) = coerce(item, &single, at)? {
                    out.push(v);
                }
            }
            (!out.is_empty()).then_some(Json::Array(out))
        }
        (single, _, true) => coerce(&Json::Array(vec![single.clone()]), attribute, at)?,
        (Json::Bool(_), Type::Boolean, _) => Some(value.clone()),
        (Json::String(s), Type::Boolean, _) if s.eq_ignore_ascii_case("true") => {
            Some(Json::Bool(true))
        }
        (Json::String(s), Type::Boolean, _) if s.eq_ignore_ascii_case("false") => {
            Some(Json::Bool(false))
        }
        (_, Type::Boolean, _) => return Err(wrong("true or false")),
        (Json::Number(n), Type::Integer, _) if n.is_i64() => Some(value.clone()),
        (_, Type::Integer, _) => return Err(wrong("an integer")),
        (Json::Number(_), Type::Decimal, _) => Some(value.clone()),
        (_, Type::Decimal, _) => return Err(wrong("a number")),
        // `manager` as a bare id, as Entra often sends it.
        (Json::String(id), Type::Complex, _)
            if attribute.sub_attributes.iter().any(|s| s.name == "$ref") =>
        {
            (!id.is_empty()).then(|| json!({"value": id}))
        }
        (Json::Object(map), Type::Complex, _) => {
            let mut out = Map::new();
            for (name, v) in map {
                let Some(sub) = schema::find(attribute.sub_attributes, name) else {
                    return Err(ScimError::bad(
                        ScimType::InvalidValue,
                        format!("`{at}` has no sub-attribute `{name}`"),
                    ));
                };
                if let Some(v) = coerce(v, sub, &format!("{at}.{name}"))? {
                    out.insert(sub.name.to_string(), v);
                }
            }
            (!out.is_empty()).then_some(Json::Object(out))
        }
        (_, Type::Complex, _) => return Err(wrong("an object")),
        (Json::String(_), _, _) => Some(value.clone()),
        (_, _, _) => return Err(wrong("a string")),
    })
}

/// A stored resource as the server shows it: `schemas`, `id`, the body, then `meta`.
pub fn represent(stored: &Stored, kind: ObjectKind, base: &str) -> Json {
    serde_json::to_value(Shown { stored, kind, base }).unwrap_or(Json::Null)
}

/// [`represent`]'s shape, serialized straight from the stored resource: a response
/// that shows the whole resource is written without building it first.
pub struct Shown<'a> {
    pub stored: &'a Stored,
    pub kind: ObjectKind,
    pub base: &'a str,
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (stored, kind) = (self.stored, self.kind.as_str());
        let mut map = serializer.serialize_map(None)?;
        if let Some(schemas) = stored.body.get("schemas") {
            map.serialize_entry("schemas", schemas)?;
        }
        map.serialize_entry("id", &stored.id)?;
        if let Json::Object(body) = &stored.body {
            // `password` is write-only: stored, never shown.
            for (k, v) in body
                .iter()
                .filter(|(k, _)| *k != "schemas" && *k != "password")
            {
                map.serialize_entry(k, v)?;
            }
        }
        let meta = Meta {
            resource_type: kind,
            created: &stored.created,
            last_modified: &stored.modified,
            location: format!("{}/{kind}s/{}", self.base, stored.id),
            version: etag(stored.version),
        };
        map.serialize_entry("meta", &meta)?;
        map.end()
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    resource_type: &'a str,
    created: &'a str,
    last_modified: &'a str,
    location: String,
    version: String,
}

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes a
/// response shows, sub-attributes included (`emails.value`, `name.givenName`). `id`
/// and `schemas` always show.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Vec<Named>,
    except: Vec<Named>,
}

/// An attribute path of the list, lowercased; `schema` is `None` for the core schema.
#[derive(Debug, Clone)]
struct Named {
    schema: Option<String>,
    name: String,
    sub: Option<String>,
    /// The whole entry, which may be an extension's URN alone.
    text: String,
}

impl Named {
    fn is(&self, schema: Option<&str>, name: &str) -> bool {
        self.schema.as_deref() == schema && self.name == name
    }
}

/// Core schema URNs name the resource's own attributes.
const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:";

fn named_list(text: Option<&str>, parameter: &str) -> Result<Vec<Named>, String> {
    let entries: Vec<&str> = text
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if entries.len() > crate::bounds::MAX_TERMS {
        return Err(format!(
            "{parameter} names {} attributes; at most {} are taken",
            entries.len(),
            crate::bounds::MAX_TERMS
        ));
    }
    entries
        .into_iter()
        .map(|entry| {
            let path = crate::scim::Path::parse(entry)
                .map_err(|e| format!("{parameter}: `{entry}`: {e}"))?;
            if path.filter.is_some() {
                return Err(format!(
                    "{parameter}: `{entry}` has a filter; attributes are named by plain paths (`emails.value`)"
                ));
            }
            let lower = |s: &str| s.to_ascii_lowercase();
            Ok(Named {
                schema: path
                    .attr
                    .urn
                    .as_deref()
                    .map(lower)
                    .filter(|u| !u.starts_with(CORE)),
                name: lower(&path.attr.name),
                sub: path.attr.sub.as_deref().map(lower),
                text: lower(entry),
            })
        })
        .collect()
}

impl Projection {
    /// The projection a request asks for; an entry that is not an attribute path (or
    /// has a filter) is an error to answer with 400 `invalidPath`.
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Result<Projection, String> {
        Ok(Projection {
            only: named_list(attributes, "attributes")?,
            except: named_list(excluded, "excludedAttributes")?,
        })
    }

    /// Whether every attribute shows (neither parameter given).
    pub fn is_whole(&self) -> bool {
        self.only.is_empty() && self.except.is_empty()
    }

    pub fn apply(&self, resource: Json) -> Json {
        if self.is_whole() {
            return resource;
        }
        let Json::Object(map) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in map {
            let lower = key.to_ascii_lowercase();
            let kept = if key == "id" || key == "schemas" {
                Some(value)
            } else if lower.starts_with("urn:") {
                self.extension(&lower, value)
            } else {
                self.attribute(None, &lower, value, false)
            };
            if let Some(value) = kept {
                out.insert(key, value);
            }
        }
        Json::Object(out)
    }

    fn extension(&self, urn: &str, value: Json) -> Option<Json> {
        if self.except.iter().any(|e| e.text == urn) {
            return None;
        }
        let Json::Object(map) = value else {
            return Some(value);
        };
        let whole = self.only.iter().any(|e| e.text == urn);
        let kept: Map<String, Json> = map
            .into_iter()
            .filter_map(|(name, v)| {
                let lower = name.to_ascii_lowercase();
                Some((name, self.attribute(Some(urn), &lower, v, whole)?))
            })
            .collect();
        (!kept.is_empty()).then_some(Json::Object(kept))
    }

    /// One attribute as shown: absent when excluded or not asked for, and with only
    /// the sub-attributes asked for (or not excluded).
    fn attribute<'p>(
        &'p self,
        schema: Option<&str>,
        name: &str,
        value: Json,
        whole: bool,
    ) -> Option<Json> {
        let mentions = |list: &'p [Named]| {
            let (mut all, mut subs) = (false, Vec::new());
            for entry in list.iter().filter(|e| e.is(schema, name)) {
                match &entry.sub {
                    None => all = true,
                    Some(sub) => subs.push(sub.as_str()),
                }
            }
            (all, subs)
        };
        let (excluded, excluded_subs) = mentions(&self.except);
        if excluded {
            return None;
        }
        let value = keep_subs(value, |sub| !excluded_subs.contains(&sub));
        let (asked, asked_subs) = mentions(&self.only);
        if self.only.is_empty() || whole || asked {
            return value;
        }
        if asked_subs.is_empty() {
            return None;
        }
        keep_subs(value?, |sub| asked_subs.contains(&sub))
    }
}

/// A complex value (or each element of a multi-valued one) with the sub-attributes
/// `keep` accepts (given lowercased); `None` when that leaves nothing of what there was.
fn keep_subs(value: Json, keep: impl Fn(&str) -> bool + Copy) -> Option<Json> {
    let object = |map: Map<String, Json>| -> Option<Json> {
        if map.is_empty() {
            return Some(Json::Object(map));
        }
        let kept: Map<String, Json> = map
            .into_iter()
            .filter(|(k, _)| keep(&k.to_ascii_lowercase()))
            .collect();
        (!kept.is_empty()).then_some(Json::Object(kept))
    };
    match value {
        Json::Object(map) => object(map),
        Json::Array(items) => {
            let kept: Vec<Json> = items
                .into_iter()
                .filter_map(|item| match item {
                    Json::Object(map) => object(map),
                    other => Some(other),
                })
                .collect();
            (!kept.is_empty()).then_some(Json::Array(kept))
        }
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_create_bodies_are_normalised() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "0a21f0f2", "userName": "Test_User@contoso.com", "active": "True",
            "emails": [{"primary": true, "type": "work", "value": "t1@contoso.com"}],
            "meta": {"resourceType": "User"}, "roles": [], "addresses": null, "title": null,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m1", "department": "Sales"},
        });
        let out = normalize(&body, ObjectKind::User).unwrap();
        assert_eq!(out["active"], true);
        assert!(
            out.get("meta").is_none() && out.get("roles").is_none() && out.get("title").is_none()
        );
        assert_eq!(
            out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"],
            json!({"value": "m1"})
        );
        let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "displayName": "Eng", "externalId": "8aa1", "meta": {"resourceType": "Group"}});
        let out = normalize(&group, ObjectKind::Group).unwrap();
        assert_eq!(
            out["schemas"],
            json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        let user = |extra: Json| {
            let mut body =
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a"});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            normalize(&body, ObjectKind::User).unwrap_err().detail
        };
        assert!(user(json!({"nickname2": "x"})).contains("not an attribute"));
        assert!(user(json!({"active": "perhaps"})).contains("true or false"));
        assert!(user(json!({"userName": ""})).contains("required"));
        assert!(user(json!({"name": {"first": "x"}})).contains("no sub-attribute"));
        assert!(normalize(&json!({"userName": "a"}), ObjectKind::User)
            .unwrap_err()
            .detail
            .contains("schemas"));
    }

    #[test]
    fn projections() {
        let r = json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
                       "urn:x:User": {"a": 1, "b": 2}, "meta": {}});
        let project = |only, except| Projection::new(only, except).unwrap().apply(r.clone());
        let p = project(Some("userName,name.givenName"), None);
        assert_eq!(
            p,
            json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "A"}})
        );
        let p = project(None, Some("name,urn:x:User:a,meta"));
        assert_eq!(
            p,
            json!({"schemas": [], "id": "1", "userName": "a", "urn:x:User": {"b": 2}})
        );
        let p = project(None, Some("name.givenName,urn:x:User"));
        assert_eq!(
            p,
            json!({"schemas": [], "id": "1", "userName": "a", "name": {"familyName": "B"}, "meta": {}})
        );
        let emails = json!({"id": "1", "emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]});
        let only_values = Projection::new(Some("EMAILS.VALUE"), None)
            .unwrap()
            .apply(emails.clone());
        assert_eq!(
            only_values,
            json!({"id": "1", "emails": [{"value": "a@x"}, {"value": "b@x"}]})
        );
        let no_types = Projection::new(None, Some("emails.type"))
            .unwrap()
            .apply(emails);
        assert_eq!(no_types, only_values);
        let core = Projection::new(
            Some("urn:ietf:params:scim:schemas:core:2.0:User:userName"),
            None,
        )
        .unwrap();
        assert_eq!(
            core.apply(r.clone()),
            json!({"schemas": [], "id": "1", "userName": "a"})
        );
        let e = Projection::new(Some(r#"emails[type eq "work"]"#), None).unwrap_err();
        assert!(e.contains("filter"), "{e}");
        assert!(Projection::new(None, Some("name..x")).is_err());
    }
}
