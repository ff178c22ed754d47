//! What a target requires of a resource before it creates it: read from its
//! `/Schemas` when it serves them, SCIM's own requirements when it does not.

use reqwest::Method;
use serde_json::{json, Value as Json};

use super::target::Target;
use crate::scim::ObjectKind;

#[derive(Debug, Clone)]
pub(super) struct Required {
    users: Vec<String>,
    groups: Vec<String>,
}

impl Default for Required {
    /// SCIM's own: `userName`; and the `displayName` every Entra group has, which
    /// groups are matched by.
    fn default() -> Required {
        Required {
            users: vec!["userName".into()],
            groups: vec!["displayName".into()],
        }
    }
}

impl Required {
    /// What the target's `/Schemas` requires; SCIM's own requirements when the target
    /// has no usable `/Schemas` (many do not serve it), said in a note.
    pub(super) async fn read(target: &Target, notes: &mut Vec<String>) -> Required {
        let answer = target.send(Method::GET, "/Schemas", None).await;
        let read = match &answer {
            Ok(answer) => answer.body.as_ref().and_then(Required::from_schemas),
            Err(_) => None,
        };
        read.unwrap_or_else(|| {
            let why = match answer {
                Err(e) => e.to_string(),
                Ok(_) => "not a list of schemas".to_string(),
            };
            notes.push(format!(
                "the target's /Schemas cannot be used ({why}); users need userName and groups displayName before they are created"
            ));
            Required::default()
        })
    }

    /// The attributes `/Schemas` marks required in the User and Group schemas and
    /// their extensions (extension ones as `urn:…:name`), beside the defaults;
    /// `None` when the answer is not a list of schemas.
    fn from_schemas(body: &Json) -> Option<Required> {
        let schemas = match body {
            Json::Array(items) => items,
            other => other.get("Resources")?.as_array()?,
        };
        let mut required = Required::default();
        for schema in schemas {
            let id = schema.get("id")?.as_str()?;
            let kind = match id {
                crate::scim::schema::USER => None,
                crate::scim::schema::GROUP => Some(true),
                _ if id.ends_with(":User") => Some(false),
                _ => continue,
            };
            let list = match kind {
                Some(true) => &mut required.groups,
                _ => &mut required.users,
            };
            for attribute in schema.get("attributes")?.as_array()? {
                let name = attribute.get("name")?.as_str()?;
                let wanted = attribute.get("required").and_then(Json::as_bool) == Some(true);
                let assigned = matches!(name, "id" | "meta" | "schemas");
                let name = match kind {
                    Some(false) => format!("{id}:{name}"),
                    _ => name.to_string(),
                };
                if wanted && !assigned && !list.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                    list.push(name);
                }
            }
        }
        Some(required)
    }

    /// Those of `kind`'s required attributes that `resource` has no value for.
    pub(super) fn missing(&self, kind: ObjectKind, resource: &Json) -> Vec<String> {
        let names = match kind {
            ObjectKind::Group => &self.groups,
            ObjectKind::User => &self.users,
        };
        names
            .iter()
            .filter(|name| {
                let (holder, key) = match name.rsplit_once(':') {
                    Some((urn, key)) => (resource.get(urn), key),
                    None => (Some(resource), name.as_str()),
                };
                let value = holder.and_then(|holder| crate::json::field(holder, key));
                matches!(value, None | Some(Json::Null)) || value == Some(&json!(""))
            })
            .cloned()
            .collect()
    }
}
