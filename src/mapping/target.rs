//! Target paths resolved against the SCIM schemas: where in a resource a mapping's
//! value goes and what type it must have there.

use serde_json::Value as Json;

use super::file::TargetAttributeFile;
use crate::diagnostic::Code;
use crate::scim::schema::{self, Attribute, ResourceType, Type};
use crate::scim::{CompValue, Path};

/// A mapping's target, resolved.
#[derive(Debug, Clone)]
pub struct TargetAttribute {
    /// The path as the mapping wrote it.
    pub text: String,
    /// The extension schema holding the attribute; `None` for the core schema.
    pub urn: Option<String>,
    /// The attribute's name, spelled as its schema spells it.
    pub attribute: String,
    /// For `emails[type eq "work"].value`: the sub-attributes the filter fixes
    /// (`type` = `"work"`), typed per the schema.
    pub element: Option<Vec<(String, Json)>>,
    /// The sub-attribute written, spelled as the schema spells it.
    pub sub: Option<String>,
    /// The type of what is written.
    pub kind: Type,
    /// Whether what is written takes several values (a whole multi-valued attribute).
    pub multi_valued: bool,
    /// Whether the value names another object (`manager`, `members`), so it is
    /// translated from a source id to a target id.
    pub reference: bool,
    /// Whether the target app refuses to create an object without a value here.
    pub required: bool,
    custom: bool,
}

/// Why a target path cannot be used.
#[derive(Debug, Clone)]
pub struct TargetProblem {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
}

fn problem(code: Code, message: impl Into<String>) -> TargetProblem {
    TargetProblem {
        code,
        message: message.into(),
        help: None,
    }
}

impl TargetAttribute {
    /// The path this target writes, spelled as its schema spells it and as
    /// [`crate::scim::diff`] names changes: `emails[type eq "work"].value`,
    /// `urn:…:User:manager`.
    pub fn diff_path(&self) -> String {
        let mut path = match &self.urn {
            Some(urn) => format!("{urn}:{}", self.attribute),
            None => self.attribute.clone(),
        };
        let kind = self
            .element
            .iter()
            .flatten()
            .find(|(k, _)| k.eq_ignore_ascii_case("type"));
        if let Some((_, kind)) = kind {
            path.push_str(&format!("[type eq {kind}]"));
        }
        if let Some(sub) = &self.sub {
            path.push('.');
            path.push_str(sub);
        }
        path
    }

    /// Resolves a target path for a resource type, with the custom attributes a
    /// mapping declares.
    pub fn resolve(
        text: &str,
        resource: &'static ResourceType,
        declared: &[TargetAttributeFile],
    ) -> Result<TargetAttribute, TargetProblem> {
        let path = Path::parse(text).map_err(|e| {
            problem(
                Code::UnknownTarget,
                format!("invalid target path `{text}`: {e}"),
            )
        })?;
        let urn = path.attr.urn.as_deref();
        let table = resource.schema_attributes(urn);
        let declared = declared.iter().find(|d| d.name.eq_ignore_ascii_case(text));
        let found = table.and_then(|t| schema::find(t, &path.attr.name));
        let Some(attribute) = found else {
            return TargetAttribute::custom(text, &path, table.is_some(), declared, resource);
        };
        let canonical_urn = urn.and_then(|u| {
            if u.eq_ignore_ascii_case(resource.schema) {
                None
            } else {
                resource.extension_urn(u).map(str::to_string)
            }
        });
        let mut target = TargetAttribute {
            text: text.to_string(),
            urn: canonical_urn,
            attribute: attribute.name.to_string(),
            element: None,
            sub: None,
            kind: attribute.kind,
            multi_valued: attribute.multi_valued,
            reference: is_reference(attribute),
            required: false,
            custom: false,
        };
        if let Some(filter) = &path.filter {
            if !attribute.multi_valued {
                return Err(problem(
                    Code::UnknownTarget,
                    format!(
                        "`{}` is single-valued; only multi-valued attributes take a filter",
                        attribute.name
                    ),
                ));
            }
            let equalities = path.equalities().ok_or_else(|| TargetProblem {
                help: Some(r#"write it as emails[type eq "work"].value"#.into()),
                ..problem(
                    Code::UnknownTarget,
                    format!("the filter `{filter}` does not pick one element; a target filter is `sub eq \"value\"`, joined by `and`"),
                )
            })?;
            let mut fixed = Vec::new();
            for (name, value) in equalities {
                let sub = sub_attribute(attribute, name)?;
                fixed.push((sub.name.to_string(), typed_constant(sub, value)?));
            }
            target.element = Some(fixed);
            target.multi_valued = false;
            target.kind = Type::Complex;
        }
        if let Some(sub) = &path.attr.sub {
            if attribute.multi_valued && path.filter.is_none() {
                return Err(TargetProblem {
                    help: Some(format!(
                        r#"pick an element: {}[type eq "work"].{sub}"#,
                        attribute.name
                    )),
                    ..problem(
                        Code::UnknownTarget,
                        format!(
                            "`{}` is multi-valued; a sub-attribute target needs a filter",
                            attribute.name
                        ),
                    )
                });
            }
            let sub = sub_attribute(attribute, sub)?;
            target.sub = Some(sub.name.to_string());
            target.kind = sub.kind;
            target.multi_valued = false;
            target.reference |= sub.kind == Type::Reference;
        } else if target.element.is_some() {
            return Err(problem(
                Code::UnknownTarget,
                format!(
                    "`{text}` picks an element but no sub-attribute of it; add one, e.g. `.value`"
                ),
            ));
        }
        Ok(target)
    }

    /// A target outside the schemas scimap knows: an attribute the mapping declares,
    /// or any attribute of a custom extension (a string unless declared otherwise).
    fn custom(
        text: &str,
        path: &Path,
        known_schema: bool,
        declared: Option<&TargetAttributeFile>,
        resource: &'static ResourceType,
    ) -> Result<TargetAttribute, TargetProblem> {
        let (kind, multi_valued) = match declared {
            Some(d) => (
                Type::from_graph(&d.kind).ok_or_else(|| {
                    problem(Code::Mapping, format!("unknown attribute type `{}` for `{}`", d.kind, d.name))
                })?,
                d.multi_valued,
            ),
            None if known_schema => {
                let names = resource
                    .schema_attributes(path.attr.urn.as_deref())
                    .unwrap_or_default();
                let near = nearest(names.iter().map(|a| a.name), &path.attr.name);
                let schema = path.attr.urn.as_deref().unwrap_or(resource.schema);
                return Err(TargetProblem {
                    help: Some(match near {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "declare it in `targetAttributes`, or put it in a custom extension schema".to_string(),
                    }),
                    ..problem(Code::UnknownTarget, format!("`{}` is not an attribute of {schema}", path.attr.name))
                });
            }
            None if path.filter.is_some() || path.attr.sub.is_some() => {
                return Err(problem(
                    Code::UnknownTarget,
                    format!("`{text}`: custom extension attributes are single-valued and simple, so they take no filter or sub-attribute"),
                ))
            }
            None => (Type::String, false),
        };
        Ok(TargetAttribute {
            text: text.to_string(),
            urn: path.attr.urn.clone(),
            attribute: path.attr.name.clone(),
            element: None,
            sub: path.attr.sub.clone(),
            kind,
            multi_valued,
            reference: kind == Type::Reference,
            required: declared.is_some_and(|d| d.required),
            custom: true,
        })
    }

    /// Resolves a target among the attributes an app (a directory that is not SCIM)
    /// defines for one of its objects: a name, spelled as the definition spells it.
    pub fn resolve_app(
        text: &str,
        object: &str,
        directory: &str,
        declared: &[TargetAttributeFile],
    ) -> Result<TargetAttribute, TargetProblem> {
        let found = declared
            .iter()
            .find(|d| d.name == text)
            .or_else(|| declared.iter().find(|d| d.name.eq_ignore_ascii_case(text)));
        let Some(attribute) = found else {
            let help = match nearest(declared.iter().map(|d| d.name.as_str()), text) {
                Some(near) => format!("did you mean `{near}`?"),
                None if declared.is_empty() => {
                    "declare the app's attributes in `targetAttributes`".to_string()
                }
                None => format!("its attributes are {}", list(declared)),
            };
            return Err(TargetProblem {
                help: Some(help),
                ..problem(
                    Code::UnknownTarget,
                    format!("`{text}` is not an attribute of `{object}` in {directory}"),
                )
            });
        };
        if attribute.anchor {
            return Err(TargetProblem {
                help: Some(
                    "the app assigns it when it creates the object; remove this mapping"
                        .to_string(),
                ),
                ..problem(
                    Code::UnknownTarget,
                    format!(
                        "`{}` is the anchor of `{object}` in {directory}, which no mapping may write",
                        attribute.name
                    ),
                )
            });
        }
        let kind = Type::from_graph(&attribute.kind).ok_or_else(|| {
            problem(
                Code::Mapping,
                format!(
                    "unknown attribute type `{}` for `{}`",
                    attribute.kind, attribute.name
                ),
            )
        })?;
        Ok(TargetAttribute {
            text: text.to_string(),
            urn: None,
            attribute: attribute.name.clone(),
            element: None,
            sub: None,
            kind,
            multi_valued: attribute.multi_valued,
            reference: kind == Type::Reference,
            required: attribute.required,
            custom: true,
        })
    }

    /// Whether the target lies outside the schemas scimap knows.
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    /// Whether this is a group's `members`, which are sent by PATCH once the members
    /// exist rather than on creation.
    pub fn is_members(&self) -> bool {
        !self.custom && self.urn.is_none() && self.attribute == "members"
    }

    /// The value at this target in a resource (an exported state), if any.
    pub fn find<'r>(&self, resource: &'r Json) -> Option<&'r Json> {
        let container = match &self.urn {
            Some(urn) => crate::json::field(resource, urn)?,
            None => resource,
        };
        let attribute = crate::json::field(container, &self.attribute)?;
        let holder = match &self.element {
            Some(fixed) => attribute.as_array()?.iter().find(|item| {
                fixed
                    .iter()
                    .all(|(k, v)| crate::json::field(item, k).is_some_and(|x| same(x, v)))
            })?,
            None => attribute,
        };
        match &self.sub {
            Some(sub) => crate::json::field(holder, sub),
            None => Some(holder),
        }
        .filter(|v| !v.is_null())
    }
}

/// The name closest to `name` (ignoring case), when it is close enough to be a typo.
fn nearest<'n>(names: impl Iterator<Item = &'n str>, name: &str) -> Option<&'n str> {
    let name = name.to_lowercase();
    let distance = |n: &str| strsim::damerau_levenshtein(&n.to_lowercase(), &name);
    names
        .min_by_key(|n| distance(n))
        .filter(|n| distance(n) <= 3)
}

/// Up to a dozen attribute names, for a message.
fn list(declared: &[TargetAttributeFile]) -> String {
    let names: Vec<String> = declared
        .iter()
        .take(12)
        .map(|d| format!("`{}`", d.name))
        .collect();
    let more = declared.len().saturating_sub(12);
    match more {
        0 => names.join(", "),
        _ => format!("{}, and {more} more", names.join(", ")),
    }
}

/// JSON equality, with strings compared without case (SCIM's default for `type`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::String(a), Json::String(b)) => a.eq_ignore_ascii_case(b),
        (Json::String(s), Json::Bool(b)) | (Json::Bool(b), Json::String(s)) => {
            s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => a == b,
    }
}

fn is_reference(attribute: &Attribute) -> bool {
    attribute.kind == Type::Reference || attribute.sub_attributes.iter().any(|s| s.name == "$ref")
}

fn sub_attribute(
    attribute: &'static Attribute,
    name: &str,
) -> Result<&'static Attribute, TargetProblem> {
    schema::find(attribute.sub_attributes, name).ok_or_else(|| {
        let names: Vec<&str> = attribute.sub_attributes.iter().map(|s| s.name).collect();
        TargetProblem {
            help: Some(format!("its sub-attributes are {}", names.join(", "))),
            ..problem(
                Code::UnknownTarget,
                format!("`{}` has no sub-attribute `{name}`", attribute.name),
            )
        }
    })
}

/// A filter's constant as the sub-attribute's type wants it: `primary eq "True"` is
/// the boolean true.
fn typed_constant(sub: &Attribute, value: &CompValue) -> Result<Json, TargetProblem> {
    let wrong = || {
        problem(
            Code::UnknownTarget,
            format!("`{}` is {:?}, and {value} is not one", sub.name, sub.kind),
        )
    };
    Ok(match (sub.kind, value) {
        (Type::Boolean, CompValue::Bool(b)) => Json::Bool(*b),
        (Type::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("true") => Json::Bool(true),
        (Type::Boolean, CompValue::Str(s)) if s.eq_ignore_ascii_case("false") => Json::Bool(false),
        (Type::Boolean, _) => return Err(wrong()),
        (_, CompValue::Str(s)) => Json::String(s.clone()),
        (_, CompValue::Num(n)) => Json::Number(n.clone()),
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_TYPE;

    fn resolve(text: &str) -> Result<TargetAttribute, TargetProblem> {
        TargetAttribute::resolve(text, &USER_TYPE, &[])
    }

    #[test]
    fn resolves_every_form() {
        let t = resolve("active").unwrap();
        assert_eq!((t.kind, t.multi_valued), (Type::Boolean, false));
        let t = resolve("NAME.givenname").unwrap();
        assert_eq!(
            (t.attribute.as_str(), t.sub.as_deref()),
            ("name", Some("givenName"))
        );
        let t = resolve(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(t.element, Some(vec![("type".into(), Json::from("work"))]));
        let t = resolve(r#"roles[primary eq "True"].value"#).unwrap();
        assert_eq!(t.element, Some(vec![("primary".into(), Json::Bool(true))]));
        let t =
            resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager").unwrap();
        assert!(t.reference);
        assert_eq!(t.urn.as_deref(), Some(schema::ENTERPRISE_USER));
        let t = resolve("urn:ietf:params:scim:schemas:extension:Custom:2.0:User:tag").unwrap();
        assert!(t.is_custom());
        assert_eq!(t.kind, Type::String);
        assert!(resolve("roles").unwrap().multi_valued);
    }

    #[test]
    fn rejects_what_cannot_be_a_target() {
        let message = |text: &str| resolve(text).unwrap_err().message;
        assert!(message("userNam").contains("not an attribute"));
        assert_eq!(
            resolve("userNam").unwrap_err().help.as_deref(),
            Some("did you mean `userName`?")
        );
        assert!(message("emails.value").contains("needs a filter"));
        assert!(message(r#"emails[type eq "work"]"#).contains("no sub-attribute"));
        assert!(message(r#"emails[type eq "work"].colour"#).contains("no sub-attribute `colour`"));
        assert!(message(r#"title[type eq "x"].value"#).contains("single-valued"));
        assert!(message(r#"emails[type co "w"].value"#).contains("does not pick one element"));
        assert!(message("emails[").contains("invalid target path"));
    }

    #[test]
    fn finds_values_in_an_exported_resource() {
        let resource = serde_json::json!({
            "emails": [{"type": "Work", "value": "a@b"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "X"},
        });
        assert_eq!(
            resolve(r#"emails[type eq "work"].value"#)
                .unwrap()
                .find(&resource),
            Some(&Json::from("a@b"))
        );
        let department =
            resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
                .unwrap();
        assert_eq!(department.find(&resource), Some(&Json::from("X")));
        assert_eq!(resolve("title").unwrap().find(&resource), None);
    }
}
