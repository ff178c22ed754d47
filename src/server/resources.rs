//! Resources as the server takes them in (checked and normalised) and gives them out
//! (with `id` and `meta`, projected by `attributes`/`excludedAttributes`).

use serde_json::{json, Map, Value as Json};

use super::error::ScimError;
use super::store::{Kind, Stored};
use crate::scim::filter::{field, resolve};
use crate::scim::schema::{self, Attribute, ResourceType, Type};
use crate::scim::AttrPath;

pub fn resource_type(kind: Kind) -> &'static ResourceType {
    match kind {
        Kind::User => &schema::USER_TYPE,
        Kind::Group => &schema::GROUP_TYPE,
    }
}

/// A body from a client, made into what is stored: known attributes only, typed, no
/// nulls, no empty lists, no `id` or `meta` (Entra sends `meta`; the server owns it).
/// Extension objects are kept for the extensions the resource type knows and for those
/// the body lists in `schemas`; a schema URI listed without attributes is ignored
/// (Entra's extra group schema).
pub fn normalize(body: &Json, kind: Kind) -> Result<Json, ScimError> {
    let rt = resource_type(kind);
    let Json::Object(map) = body else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    };
    let schemas: Vec<&str> = field(body, "schemas")
        .and_then(Json::as_array)
        .map(|s| s.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    if !schemas.iter().any(|s| s.eq_ignore_ascii_case(rt.schema)) {
        return Err(ScimError::bad(
            "invalidSyntax",
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
                    "invalidValue",
                    format!(
                        "`{key}` is not an extension of {} and is not listed in `schemas`",
                        rt.name
                    ),
                ));
            }
            let Json::Object(attributes) = value else {
                return Err(ScimError::bad(
                    "invalidValue",
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
                    let resolved =
                        resolve(&path, rt).map_err(|e| ScimError::bad("invalidValue", e.0))?;
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
                    "invalidValue",
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
        Kind::User => "userName",
        Kind::Group => "displayName",
    };
    let blank = out
        .get(required)
        .and_then(Json::as_str)
        .is_none_or(|s| s.trim().is_empty());
    if blank {
        return Err(ScimError::bad(
            "invalidValue",
            format!("`{required}` is required"),
        ));
    }
    out.insert("schemas".into(), json!(listed));
    Ok(Json::Object(out))
}

/// A value typed for its attribute, or `None` when it holds nothing.
fn typed(value: &Json, path: &AttrPath, rt: &ResourceType) -> Result<Option<Json>, ScimError> {
    let resolved = resolve(path, rt).map_err(|e| ScimError::bad("invalidValue", e.0))?;
    if resolved.custom {
        return Ok((!value.is_null()).then(|| value.clone()));
    }
    coerce(value, resolved.attribute, &path.to_string())
}

fn coerce(value: &Json, attribute: &Attribute, at: &str) -> Result<Option<Json>, ScimError> {
    let wrong =
        |what: &str| ScimError::bad("invalidValue", format!("`{at}` takes {what}, not {value}"));
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
                        "invalidValue",
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

/// A stored resource as the server shows it: `id` first, then the body, then `meta`.
pub fn represent(stored: &Stored, kind: Kind, base: &str) -> Json {
    let mut out = Map::new();
    if let Some(schemas) = stored.body.get("schemas") {
        out.insert("schemas".into(), schemas.clone());
    }
    out.insert("id".into(), Json::String(stored.id.clone()));
    if let Json::Object(body) = &stored.body {
        // `password` is write-only: stored, never shown.
        for (k, v) in body
            .iter()
            .filter(|(k, _)| *k != "schemas" && *k != "password")
        {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.as_str(),
            "created": stored.created,
            "lastModified": stored.modified,
            "location": format!("{base}/{}s/{}", kind.as_str(), stored.id),
            "version": etag(stored.version),
        }),
    );
    Json::Object(out)
}

pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// `attributes` / `excludedAttributes`: which attributes a response shows. `id` and
/// `schemas` always show; `meta` shows unless excluded.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Vec<String>,
    except: Vec<String>,
}

impl Projection {
    pub fn new(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let list = |s: Option<&str>| -> Vec<String> {
            s.map(|s| {
                s.split(',')
                    .map(|a| a.trim().to_ascii_lowercase())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default()
        };
        Projection {
            only: list(attributes),
            except: list(excluded),
        }
    }

    pub fn apply(&self, resource: Json) -> Json {
        if self.only.is_empty() && self.except.is_empty() {
            return resource;
        }
        let Json::Object(map) = resource else {
            return resource;
        };
        let mut out = Map::new();
        for (key, value) in map {
            let always = key == "id" || key == "schemas";
            let lower = key.to_ascii_lowercase();
            if always {
                out.insert(key, value);
                continue;
            }
            if self.except.iter().any(|e| e == &lower) {
                continue;
            }
            if lower.starts_with("urn:") {
                let value = self.extension(&lower, value);
                if !value.as_object().is_some_and(Map::is_empty) {
                    out.insert(key, value);
                }
                continue;
            }
            if self.only.is_empty() || self.only.iter().any(|a| a == &lower) {
                out.insert(key, value);
            } else if let Json::Object(sub) = value {
                let kept: Map<String, Json> = sub
                    .into_iter()
                    .filter(|(s, _)| {
                        self.only
                            .contains(&format!("{lower}.{}", s.to_ascii_lowercase()))
                    })
                    .collect();
                if !kept.is_empty() {
                    out.insert(key, Json::Object(kept));
                }
            }
        }
        Json::Object(out)
    }

    fn extension(&self, urn: &str, value: Json) -> Json {
        let Json::Object(map) = value else {
            return value;
        };
        let whole = self.only.iter().any(|a| a == urn);
        let kept: Map<String, Json> = map
            .into_iter()
            .filter(|(name, _)| {
                let full = format!("{urn}:{}", name.to_ascii_lowercase());
                !self.except.contains(&full)
                    && (self.only.is_empty() || whole || self.only.contains(&full))
            })
            .collect();
        Json::Object(kept)
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
        let out = normalize(&body, Kind::User).unwrap();
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
        let out = normalize(&group, Kind::Group).unwrap();
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
            normalize(&body, Kind::User).unwrap_err().detail
        };
        assert!(user(json!({"nickname2": "x"})).contains("not an attribute"));
        assert!(user(json!({"active": "perhaps"})).contains("true or false"));
        assert!(user(json!({"userName": ""})).contains("required"));
        assert!(user(json!({"name": {"first": "x"}})).contains("no sub-attribute"));
        assert!(normalize(&json!({"userName": "a"}), Kind::User)
            .unwrap_err()
            .detail
            .contains("schemas"));
    }

    #[test]
    fn projections() {
        let r = json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
                       "urn:x:User": {"a": 1, "b": 2}, "meta": {}});
        let p = Projection::new(Some("userName,name.givenName"), None).apply(r.clone());
        assert_eq!(
            p,
            json!({"schemas": [], "id": "1", "userName": "a", "name": {"givenName": "A"}})
        );
        let p = Projection::new(None, Some("name,urn:x:User:a,meta")).apply(r);
        assert_eq!(
            p,
            json!({"schemas": [], "id": "1", "userName": "a", "urn:x:User": {"b": 2}})
        );
    }
}
