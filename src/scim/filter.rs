//! SCIM filters (RFC 7644 §3.4.2.2) checked against a resource type's schemas and
//! evaluated over resources as JSON.

use std::cmp::Ordering;

use serde_json::Value as Json;

use crate::json::field;

use super::path::{AttrPath, CompValue, CompareOp, Filter};
use super::schema::{self, Attribute, ResourceType, Type};

/// A filter that cannot be used: the server answers 400 `invalidFilter` with this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// The schema attribute an attribute path names, and the sub-attribute when it has one.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    pub attribute: &'static Attribute,
    pub sub: Option<&'static Attribute>,
    /// An attribute of an extension schema the resource type does not describe (a
    /// custom extension): a single string, named as the path names it.
    pub custom: bool,
}

impl Resolved {
    /// The attribute compared: the sub-attribute when there is one.
    pub fn leaf(&self) -> &'static Attribute {
        self.sub.unwrap_or(self.attribute)
    }
}

/// Finds an attribute path in a resource type's schemas (`meta.*` included). An
/// attribute of an extension the type does not describe is a custom string attribute.
pub fn resolve(path: &AttrPath, resource: &ResourceType) -> Result<Resolved, FilterError> {
    let known_schema = path
        .urn
        .as_deref()
        .is_none_or(|u| resource.schema_attributes(Some(u)).is_some());
    if !known_schema {
        if path.sub.is_some() {
            return Err(FilterError(format!(
                "`{path}`: custom extension attributes have no sub-attributes"
            )));
        }
        return Ok(Resolved {
            attribute: &CUSTOM,
            sub: None,
            custom: true,
        });
    }
    let table = if path.urn.is_none() && path.name.eq_ignore_ascii_case("meta") {
        Some(META)
    } else {
        resource.schema_attributes(path.urn.as_deref())
    };
    let attribute = table
        .and_then(|t| schema::find(t, &path.name))
        .or_else(|| {
            (path.urn.is_none() && path.name.eq_ignore_ascii_case("meta"))
                .then_some(&META_ATTRIBUTE)
        })
        .ok_or_else(|| {
            FilterError(format!(
                "`{path}` is not an attribute of a {}",
                resource.name
            ))
        })?;
    let sub = match (&path.sub, attribute.kind) {
        (None, _) => None,
        (Some(sub), Type::Complex) => {
            Some(schema::find(attribute.sub_attributes, sub).ok_or_else(|| {
                FilterError(format!("`{}` has no sub-attribute `{sub}`", attribute.name))
            })?)
        }
        (Some(sub), _) => {
            return Err(FilterError(format!(
                "`{}` has no sub-attributes (asked for `{sub}`)",
                attribute.name
            )))
        }
    };
    Ok(Resolved {
        attribute,
        sub,
        custom: false,
    })
}

const CUSTOM: Attribute = Attribute {
    name: "",
    kind: Type::String,
    multi_valued: false,
    sub_attributes: &[],
};

const META_ATTRIBUTE: Attribute = Attribute {
    name: "meta",
    kind: Type::Complex,
    multi_valued: false,
    sub_attributes: META_SUBS,
};

const META: &[Attribute] = &[META_ATTRIBUTE];

const META_SUBS: &[Attribute] = &[
    Attribute {
        name: "resourceType",
        kind: Type::String,
        multi_valued: false,
        sub_attributes: &[],
    },
    Attribute {
        name: "created",
        kind: Type::DateTime,
        multi_valued: false,
        sub_attributes: &[],
    },
    Attribute {
        name: "lastModified",
        kind: Type::DateTime,
        multi_valued: false,
        sub_attributes: &[],
    },
    Attribute {
        name: "location",
        kind: Type::Reference,
        multi_valued: false,
        sub_attributes: &[],
    },
    Attribute {
        name: "version",
        kind: Type::String,
        multi_valued: false,
        sub_attributes: &[],
    },
];

/// Attributes compared with case (RFC 7643: `caseExact` true); every other string
/// attribute compares without.
fn case_exact(attribute: &Attribute) -> bool {
    matches!(attribute.name, "id" | "externalId")
        || matches!(attribute.kind, Type::Reference | Type::Binary)
}

impl Filter {
    /// Checks every attribute and operator against the resource type: an unknown
    /// attribute or an operator its type does not take is an error, never a filter
    /// that matches everything.
    pub fn check(&self, resource: &ResourceType) -> Result<(), FilterError> {
        match self {
            Filter::And(all) | Filter::Or(all) => all.iter().try_for_each(|f| f.check(resource)),
            Filter::Not(a) => a.check(resource),
            Filter::Present(path) => resolve(path, resource).map(drop),
            Filter::Compare(path, op, value) => {
                check_compare(resolve(path, resource)?.leaf(), *op, value)
            }
            Filter::ValuePath { attr, filter, then } => {
                let head = AttrPath {
                    urn: attr.urn.clone(),
                    name: attr.name.clone(),
                    sub: None,
                };
                let resolved = resolve(&head, resource)?;
                if resolved.attribute.kind != Type::Complex {
                    return Err(FilterError(format!(
                        "`{}` has no sub-attributes to filter on",
                        resolved.attribute.name
                    )));
                }
                filter.check_within(resolved.attribute)?;
                let leaf = match &attr.sub {
                    Some(sub) => {
                        schema::find(resolved.attribute.sub_attributes, sub).ok_or_else(|| {
                            FilterError(format!(
                                "`{}` has no sub-attribute `{sub}`",
                                resolved.attribute.name
                            ))
                        })?
                    }
                    None => resolved.attribute,
                };
                match then {
                    Some((op, value)) => check_compare(leaf, *op, value),
                    None => Ok(()),
                }
            }
        }
    }

    /// Checks a filter inside `attribute[...]`, whose paths name sub-attributes.
    fn check_within(&self, parent: &'static Attribute) -> Result<(), FilterError> {
        let sub = |path: &AttrPath| {
            schema::find(parent.sub_attributes, &path.name)
                .filter(|_| path.urn.is_none() && path.sub.is_none())
                .ok_or_else(|| {
                    FilterError(format!("`{}` has no sub-attribute `{path}`", parent.name))
                })
        };
        match self {
            Filter::And(all) | Filter::Or(all) => {
                all.iter().try_for_each(|f| f.check_within(parent))
            }
            Filter::Not(a) => a.check_within(parent),
            Filter::Present(path) => sub(path).map(drop),
            Filter::Compare(path, op, value) => check_compare(sub(path)?, *op, value),
            Filter::ValuePath { .. } => {
                Err(FilterError("a value filter cannot nest another".into()))
            }
        }
    }

    /// Whether a resource matches. The filter must have passed [`Filter::check`].
    pub fn matches(&self, resource: &Json, rt: &ResourceType) -> bool {
        match self {
            Filter::And(all) => all.iter().all(|f| f.matches(resource, rt)),
            Filter::Or(all) => all.iter().any(|f| f.matches(resource, rt)),
            Filter::Not(a) => !a.matches(resource, rt),
            Filter::Present(path) => values(resource, path).iter().any(|v| present(v)),
            Filter::Compare(path, op, value) => {
                let Ok(resolved) = resolve(path, rt) else {
                    return false;
                };
                compare_any(&values(resource, path), resolved.leaf(), *op, value)
            }
            Filter::ValuePath { attr, filter, then } => {
                let head = AttrPath {
                    urn: attr.urn.clone(),
                    name: attr.name.clone(),
                    sub: None,
                };
                let Ok(resolved) = resolve(&head, rt) else {
                    return false;
                };
                let elements = values(resource, &head);
                elements.into_iter().any(|element| {
                    element_matches(filter, element, resolved.attribute)
                        && match (then, &attr.sub) {
                            (Some((op, value)), Some(sub)) => {
                                let leaf = schema::find(resolved.attribute.sub_attributes, sub)
                                    .unwrap_or(resolved.attribute);
                                compare_any(
                                    &field(element, sub).into_iter().collect::<Vec<_>>(),
                                    leaf,
                                    *op,
                                    value,
                                )
                            }
                            _ => true,
                        }
                })
            }
        }
    }
}

/// Whether one element of a multi-valued attribute matches a value filter.
pub fn element_matches(filter: &Filter, element: &Json, parent: &Attribute) -> bool {
    match filter {
        Filter::And(all) => all.iter().all(|f| element_matches(f, element, parent)),
        Filter::Or(all) => all.iter().any(|f| element_matches(f, element, parent)),
        Filter::Not(a) => !element_matches(a, element, parent),
        Filter::Present(path) => field(element, &path.name).is_some_and(present),
        Filter::Compare(path, op, value) => {
            let leaf = schema::find(parent.sub_attributes, &path.name).unwrap_or(parent);
            compare_any(
                &field(element, &path.name).into_iter().collect::<Vec<_>>(),
                leaf,
                *op,
                value,
            )
        }
        Filter::ValuePath { .. } => false,
    }
}

fn check_compare(
    attribute: &Attribute,
    op: CompareOp,
    value: &CompValue,
) -> Result<(), FilterError> {
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    match attribute.kind {
        Type::Complex => Err(FilterError(format!(
            "`{}` is complex: compare one of its sub-attributes",
            attribute.name
        ))),
        Type::Boolean if ordering || substring => Err(FilterError(format!(
            "`{}` is a boolean: only eq, ne and pr apply",
            attribute.name
        ))),
        Type::Binary if ordering => Err(FilterError(format!(
            "`{}` is binary: it has no order",
            attribute.name
        ))),
        _ if substring && !matches!(value, CompValue::Str(_)) => Err(FilterError(format!(
            "`{op}` compares strings, and {value} is not one"
        ))),
        _ => Ok(()),
    }
}

/// Every value at a path: arrays are flattened, so `emails.value` gives each email's.
pub fn values<'r>(resource: &'r Json, path: &AttrPath) -> Vec<&'r Json> {
    let container = match &path.urn {
        Some(urn) => match field(resource, urn) {
            Some(c) => c,
            None => return Vec::new(),
        },
        None => resource,
    };
    let Some(value) = field(container, &path.name) else {
        return Vec::new();
    };
    let items: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    match &path.sub {
        None => items,
        Some(sub) => items
            .into_iter()
            .filter_map(|item| field(item, sub))
            .collect(),
    }
}

fn present(value: &Json) -> bool {
    match value {
        Json::Null => false,
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare_any(found: &[&Json], attribute: &Attribute, op: CompareOp, value: &CompValue) -> bool {
    if op == CompareOp::Ne {
        return !compare_any(found, attribute, CompareOp::Eq, value);
    }
    if matches!(value, CompValue::Null) {
        // `attr eq null`: the attribute has no value.
        return op == CompareOp::Eq && !found.iter().any(|v| present(v));
    }
    found.iter().any(|v| compare(v, attribute, op, value))
}

fn compare(found: &Json, attribute: &Attribute, op: CompareOp, wanted: &CompValue) -> bool {
    let exact = case_exact(attribute);
    match (found, wanted) {
        (Json::String(s), CompValue::Str(w)) => {
            let (a, b) = if exact {
                (s.clone(), w.clone())
            } else {
                (s.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                _ => ordered(op, order_strings(&a, &b, attribute.kind)),
            }
        }
        (Json::Bool(b), CompValue::Bool(w)) => op == CompareOp::Eq && b == w,
        (Json::String(s), CompValue::Bool(w)) if attribute.kind == Type::Boolean => {
            op == CompareOp::Eq && s.eq_ignore_ascii_case(if *w { "true" } else { "false" })
        }
        (Json::Number(n), CompValue::Num(w)) => match (n.as_f64(), w.as_f64()) {
            (Some(a), Some(b)) => ordered(op, a.partial_cmp(&b)),
            _ => false,
        },
        _ => false,
    }
}

/// Date-times compare as instants; other strings as text.
fn order_strings(a: &str, b: &str, kind: Type) -> Option<Ordering> {
    if kind == Type::DateTime {
        if let (Ok(x), Ok(y)) = (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
            return Some(x.cmp(&y));
        }
    }
    Some(a.cmp(b))
}

fn ordered(op: CompareOp, ordering: Option<Ordering>) -> bool {
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{GROUP_TYPE, USER_TYPE};
    use serde_json::json;

    fn user() -> Json {
        json!({
            "id": "2819c223", "externalId": "Zoe-1", "userName": "Zoe@Contoso.com", "active": true,
            "name": {"givenName": "Zoë", "familyName": "Müller"},
            "emails": [{"type": "work", "value": "zoe@contoso.com", "primary": true},
                       {"type": "home", "value": "zoe@example.org"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales", "manager": {"value": "m1"}},
            "meta": {"created": "2026-01-02T03:04:05Z", "lastModified": "2026-05-01T00:00:00Z"},
        })
    }

    fn matches(text: &str) -> bool {
        let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        filter
            .check(&USER_TYPE)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        filter.matches(&user(), &USER_TYPE)
    }

    #[test]
    fn operators_and_case() {
        assert!(
            matches(r#"userName eq "zoe@contoso.com""#),
            "userName is not caseExact"
        );
        assert!(
            !matches(r#"externalId eq "zoe-1""#),
            "externalId is caseExact"
        );
        assert!(matches(r#"externalId eq "Zoe-1""#));
        assert!(matches(r#"USERNAME sw "zoe@""#));
        assert!(matches(r#"userName ew ".COM""#));
        assert!(matches(r#"name.familyName co "ll""#));
        assert!(matches(r#"userName ne "x""#));
        assert!(matches("active eq true"));
        assert!(!matches("active eq false"));
        assert!(matches("title eq null"));
        assert!(matches("name.givenName pr and not (title pr)"));
        assert!(!matches(
            r#"meta.lastModified gt "2026-04-30T23:00:00-02:00""#
        ));
        assert!(matches(r#"meta.created lt "2026-01-02T04:00:00Z""#));
        assert!(matches(
            r#"userName eq "nobody" or emails.value eq "zoe@example.org""#
        ));
    }

    #[test]
    fn value_paths_and_extensions() {
        assert!(matches(
            r#"emails[type eq "work"].value eq "ZOE@contoso.com""#
        ));
        assert!(!matches(
            r#"emails[type eq "home"].value eq "zoe@contoso.com""#
        ));
        assert!(matches(r#"emails[type eq "work" and primary eq true]"#));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "sales""#
        ));
        assert!(matches(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m1""#
        ));
    }

    #[test]
    fn invalid_filters_are_errors() {
        let err =
            |text: &str, rt: &ResourceType| Filter::parse(text).unwrap().check(rt).unwrap_err().0;
        assert!(err(r#"nickname2 eq "x""#, &USER_TYPE).contains("not an attribute"));
        assert!(err(r#"emails[colour eq "x"]"#, &USER_TYPE).contains("no sub-attribute"));
        assert!(err("active gt true", &USER_TYPE).contains("boolean"));
        assert!(err(r#"name eq "x""#, &USER_TYPE).contains("complex"));
        assert!(err(r#"userName eq "x""#, &GROUP_TYPE).contains("not an attribute of a Group"));
    }
}
