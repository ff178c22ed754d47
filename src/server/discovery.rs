//! `/Schemas`, `/ResourceTypes` and `/ServiceProviderConfig`, made from the schema table
//! the rest of scimap uses, so that what is advertised is what is accepted.

use serde_json::{json, Value as Json};

use crate::scim::schema::{Attribute, ResourceType, Type, GROUP_TYPE, USER_TYPE};

pub const TYPES: [&ResourceType; 2] = [&USER_TYPE, &GROUP_TYPE];

fn type_name(kind: Type) -> &'static str {
    match kind {
        Type::String => "string",
        Type::Boolean => "boolean",
        Type::Decimal => "decimal",
        Type::Integer => "integer",
        Type::DateTime => "dateTime",
        Type::Binary => "binary",
        Type::Reference => "reference",
        Type::Complex => "complex",
    }
}

fn attribute(a: &Attribute, resource: &ResourceType) -> Json {
    let required = matches!(
        (resource.name, a.name),
        ("User", "userName") | ("Group", "displayName")
    );
    let mutability = match a.name {
        "id" | "groups" => "readOnly",
        "password" => "writeOnly",
        _ => "readWrite",
    };
    let returned = match a.name {
        "password" => "never",
        "id" => "always",
        _ => "default",
    };
    let uniqueness = match (resource.name, a.name) {
        ("User", "userName") | ("Group", "displayName") | (_, "id") => "server",
        _ => "none",
    };
    let mut value = json!({
        "name": a.name,
        "type": type_name(a.kind),
        "multiValued": a.multi_valued,
        "description": "",
        "required": required,
        "caseExact": matches!(a.name, "id" | "externalId") || matches!(a.kind, Type::Reference | Type::Binary),
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    });
    if a.kind == Type::Reference {
        value["referenceTypes"] = json!(["external", "User", "Group"]);
    }
    if !a.sub_attributes.is_empty() {
        value["subAttributes"] = Json::Array(
            a.sub_attributes
                .iter()
                .map(|s| attribute(s, resource))
                .collect(),
        );
    }
    value
}

/// Every schema the server knows, as Schema resources.
pub fn schemas(base: &str) -> Vec<Json> {
    let mut out = Vec::new();
    for resource in TYPES {
        out.push(schema(
            resource.schema,
            resource.name,
            resource.attributes,
            resource,
            base,
        ));
        for (urn, attributes) in resource.extensions {
            out.push(schema(urn, "EnterpriseUser", attributes, resource, base));
        }
    }
    out
}

fn schema(
    id: &str,
    name: &str,
    attributes: &[Attribute],
    resource: &ResourceType,
    base: &str,
) -> Json {
    let attributes: Vec<Json> = attributes
        .iter()
        .filter(|a| a.name != "id")
        .map(|a| attribute(a, resource))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": format!("{name} attributes"),
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

pub fn resource_types(base: &str) -> Vec<Json> {
    TYPES
        .iter()
        .map(|t| {
            let extensions: Vec<Json> = t
                .extensions
                .iter()
                .map(|(urn, _)| json!({"schema": urn, "required": false}))
                .collect();
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
                "id": t.name,
                "name": t.name,
                "endpoint": format!("/{}s", t.name),
                "description": format!("{}s", t.name),
                "schema": t.schema,
                "schemaExtensions": extensions,
                "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", t.name)},
            })
        })
        .collect()
}

pub fn service_provider_config(base: &str, max_results: usize, max_payload: usize) -> Json {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/scimap/scimap/blob/main/docs/server.md",
        "patch": {"supported": true},
        "bulk": {"supported": true, "maxOperations": super::http::MAX_BULK_OPERATIONS, "maxPayloadSize": max_payload},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token in the Authorization header",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
