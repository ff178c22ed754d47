//! SCIM resources from mapped values: where each target goes in the JSON (the plan,
//! built once per object mapping) and the values of one record typed per the schema.

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value as Json;

use super::{AttributeMapping, ObjectMapping, Target};
use crate::scim::schema::{ResourceType, Type};
use crate::value::{Map, Value};

/// The shape of an object mapping's resources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    nodes: Vec<Node>,
    /// Per attribute: whether it is the only value of a filtered element, so that a
    /// multi-valued result can become one element per value.
    pub(crate) alone: Vec<bool>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        key: String,
        attribute: usize,
    },
    Object {
        key: String,
        children: Vec<Node>,
        urn: bool,
    },
    Elements {
        key: String,
        elements: Vec<Element>,
    },
}

#[derive(Debug, Clone)]
struct Element {
    fixed: Vec<(String, Json)>,
    leaves: Vec<(String, usize)>,
    primary: bool,
}

impl Node {
    fn key(&self) -> &str {
        match self {
            Node::Leaf { key, .. } | Node::Object { key, .. } | Node::Elements { key, .. } => key,
        }
    }

    fn first_attribute(&self) -> usize {
        match self {
            Node::Leaf { attribute, .. } => *attribute,
            Node::Object { children, .. } => children[0].first_attribute(),
            Node::Elements { elements, .. } => elements[0].leaves[0].1,
        }
    }
}

/// A conflict between two targets: the earlier attribute, the later one, why.
type Conflict = (usize, usize, String);

fn find<'n>(nodes: &'n mut [Node], key: &str) -> Option<&'n mut Node> {
    nodes.iter_mut().find(|n| n.key().eq_ignore_ascii_case(key))
}

impl Plan {
    pub(crate) fn build(resource: &ResourceType, targets: &[&Target]) -> Result<Plan, Conflict> {
        let mut plan = Plan::default();
        for (i, target) in targets.iter().enumerate() {
            plan.place(i, target)?;
        }
        plan.alone = (0..targets.len()).map(|i| plan.is_alone(i)).collect();
        plan.mark_primary(resource);
        Ok(plan)
    }

    fn place(&mut self, i: usize, target: &Target) -> Result<(), Conflict> {
        let conflict = |node: &Node, why: &str| {
            (
                node.first_attribute(),
                i,
                format!("`{}` {why}", target.text),
            )
        };
        let container = match &target.urn {
            None => &mut self.nodes,
            Some(urn) => {
                if find(&mut self.nodes, urn).is_none() {
                    self.nodes.push(Node::Object {
                        key: urn.clone(),
                        children: Vec::new(),
                        urn: true,
                    });
                }
                match find(&mut self.nodes, urn) {
                    Some(Node::Object { children, .. }) => children,
                    _ => unreachable!("just made"),
                }
            }
        };
        let key = &target.attribute;
        match (&target.element, &target.sub) {
            (Some(fixed), Some(sub)) => {
                match find(container, key) {
                    None => container.push(Node::Elements {
                        key: key.clone(),
                        elements: Vec::new(),
                    }),
                    Some(node @ (Node::Leaf { .. } | Node::Object { .. })) => {
                        return Err(conflict(
                            node,
                            "sets an element of an attribute another mapping sets whole",
                        ))
                    }
                    Some(Node::Elements { .. }) => {}
                }
                let Some(Node::Elements { elements, .. }) = find(container, key) else {
                    unreachable!("just made")
                };
                let element = match elements.iter_mut().position(|e| e.fixed == *fixed) {
                    Some(e) => &mut elements[e],
                    None => {
                        elements.push(Element {
                            fixed: fixed.clone(),
                            leaves: Vec::new(),
                            primary: false,
                        });
                        elements.last_mut().expect("just pushed")
                    }
                };
                if let Some(&(_, first)) = element
                    .leaves
                    .iter()
                    .find(|(s, _)| s.eq_ignore_ascii_case(sub))
                {
                    return Err((
                        first,
                        i,
                        format!("`{}` is the target of two mappings", target.text),
                    ));
                }
                element.leaves.push((sub.clone(), i));
            }
            (None, Some(sub)) => {
                match find(container, key) {
                    None => container.push(Node::Object {
                        key: key.clone(),
                        children: Vec::new(),
                        urn: false,
                    }),
                    Some(Node::Object { .. }) => {}
                    Some(node) => {
                        return Err(conflict(
                            node,
                            "sets part of an attribute another mapping sets whole",
                        ))
                    }
                }
                let Some(Node::Object { children, .. }) = find(container, key) else {
                    unreachable!("just made")
                };
                if let Some(node) = find(children, sub) {
                    return Err(conflict(node, "is the target of two mappings"));
                }
                children.push(Node::Leaf {
                    key: sub.clone(),
                    attribute: i,
                });
            }
            (_, None) => {
                if let Some(node) = find(container, key) {
                    let why = match node {
                        Node::Leaf { .. } => "is the target of two mappings",
                        _ => "sets a whole attribute that another mapping sets part of",
                    };
                    return Err(conflict(node, why));
                }
                container.push(Node::Leaf {
                    key: key.clone(),
                    attribute: i,
                });
            }
        }
        Ok(())
    }

    fn is_alone(&self, i: usize) -> bool {
        fn walk(nodes: &[Node], i: usize) -> bool {
            nodes.iter().any(|n| match n {
                Node::Object { children, .. } => walk(children, i),
                Node::Elements { elements, .. } => elements
                    .iter()
                    .any(|e| e.leaves.len() == 1 && e.leaves[0].1 == i),
                Node::Leaf { .. } => false,
            })
        }
        walk(&self.nodes, i)
    }

    /// Entra marks the `work` element of emails, phone numbers and addresses primary
    /// (its create requests show `"primary": true` on the work email).
    fn mark_primary(&mut self, resource: &ResourceType) {
        if resource.name != "User" {
            return;
        }
        for node in &mut self.nodes {
            let Node::Elements { key, elements } = node else {
                continue;
            };
            if !["emails", "phoneNumbers", "addresses"].contains(&key.as_str()) {
                continue;
            }
            let work = elements.iter_mut().find(|e| {
                e.fixed.iter().any(|(k, v)| {
                    k == "type" && v.as_str().is_some_and(|t| t.eq_ignore_ascii_case("work"))
                }) && !e.fixed.iter().any(|(k, _)| k == "primary")
            });
            if let Some(work) = work {
                work.primary = true;
            }
        }
    }
}

/// A mapped value, typed for its target.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out<'a> {
    Text(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Object(Cow<'a, Box<Map>>),
    /// A reference, resolved to the target's id: `{"value": id}` in a complex target.
    Ref(String),
    /// Several values: a multi-valued target, or one element per value of a filtered one.
    Many(Vec<Out<'a>>),
}

/// Why a value cannot go to its target.
pub(crate) struct TypeError(pub String);

/// Types a value for a target. `Ok(None)` leaves the attribute out (null, ignored
/// flow, or a reference to an object not provisioned yet, which `resolve` reports).
pub(crate) fn output<'a>(
    value: Value<'a>,
    attribute: &AttributeMapping,
    alone: bool,
    resolve: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<Out<'a>>, TypeError> {
    let target = &attribute.target;
    match value {
        Value::Null | Value::Ignored => Ok(None),
        Value::List(items) if target.multi_valued || (alone && target.element.is_some()) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.into_vec() {
                if let Some(v) = scalar(item, attribute, resolve)? {
                    out.push(element(
                        v,
                        target.multi_valued && target.kind == Type::Complex,
                    ));
                }
            }
            Ok((!out.is_empty()).then_some(Out::Many(out)))
        }
        Value::List(items) if items.len() == 1 => {
            let item = items.into_vec().pop().expect("one item");
            scalar(item, attribute, resolve)
        }
        Value::List(items) => Err(TypeError(format!(
            "{} values for a single-valued attribute",
            items.len(),
        ))),
        single if target.multi_valued => Ok(scalar(single, attribute, resolve)?
            .map(|v| Out::Many(vec![element(v, target.kind == Type::Complex)]))),
        single => scalar(single, attribute, resolve),
    }
}

/// An item of a multi-valued complex attribute is an object: text becomes
/// `{"value": text}`.
fn element(value: Out<'_>, complex: bool) -> Out<'_> {
    match value {
        Out::Text(s) if complex => Out::Ref(s.into_owned()),
        other => other,
    }
}

fn scalar<'a>(
    value: Value<'a>,
    attribute: &AttributeMapping,
    resolve: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Option<Out<'a>>, TypeError> {
    let target = &attribute.target;
    if let Value::Object(map) = value {
        return match target.kind {
            Type::Complex => Ok(Some(Out::Object(map))),
            _ => Err(TypeError(
                "an object cannot go to a single-valued attribute".to_string(),
            )),
        };
    }
    if matches!(value, Value::Null | Value::Ignored | Value::List(_)) {
        return Ok(None);
    }
    if target.reference {
        let id = value.as_text().expect("a single value has text");
        return Ok(resolve(&id).map(|id| match target.kind {
            Type::Complex => Out::Ref(id),
            _ => Out::Text(Cow::Owned(id)),
        }));
    }
    Ok(Some(match (target.kind, value) {
        (Type::Boolean, Value::Bool(b)) => Out::Bool(b),
        (Type::Boolean, Value::Str(s)) if s.trim().eq_ignore_ascii_case("true") => Out::Bool(true),
        (Type::Boolean, Value::Str(s)) if s.trim().eq_ignore_ascii_case("false") => {
            Out::Bool(false)
        }
        (Type::Boolean, v) => {
            return Err(TypeError(format!(
                "a boolean is needed, and {} is not True or False",
                quoted(&v)
            )))
        }
        (Type::Integer, Value::Int(n)) => Out::Int(n),
        (Type::Integer, v) => match v.as_text().and_then(|t| t.trim().parse().ok()) {
            Some(n) => Out::Int(n),
            None => {
                return Err(TypeError(format!(
                    "an integer is needed, and {} is not one",
                    quoted(&v)
                )))
            }
        },
        (Type::Complex, Value::Str(s)) => Out::Text(s),
        (_, Value::Str(s)) => Out::Text(s),
        (_, v) => Out::Text(Cow::Owned(
            v.as_text().expect("a single value has text").into_owned(),
        )),
    }))
}

/// A value for an error message: text in quotes.
fn quoted(value: &Value<'_>) -> String {
    match value.as_text() {
        Some(text) => format!("{text:?}"),
        None => value.kind().to_string(),
    }
}

/// One record's resource: the object mapping's plan with this record's values.
#[derive(Debug, Clone)]
pub struct Resource<'a> {
    pub(crate) object: &'a ObjectMapping,
    pub(crate) values: Vec<Option<Out<'a>>>,
    /// References to objects without a target id yet, as (target path, source id).
    pub unresolved: Vec<(String, String)>,
}

impl Resource<'_> {
    /// The resource as a JSON value.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).expect("a resource serializes")
    }

    /// Appends the resource as one line of JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("writing to memory cannot fail");
    }

    fn present(&self, node: &Node) -> bool {
        match node {
            Node::Leaf { attribute, .. } => self.values[*attribute].is_some(),
            Node::Object { children, .. } => children.iter().any(|c| self.present(c)),
            Node::Elements { elements, .. } => elements
                .iter()
                .any(|e| e.leaves.iter().any(|(_, a)| self.values[*a].is_some())),
        }
    }
}

impl Serialize for Resource<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schemas", &Schemas(self))?;
        for node in &self.object.plan.nodes {
            if self.present(node) {
                map.serialize_entry(node.key(), &NodeValue(self, node))?;
            }
        }
        map.end()
    }
}

/// The `schemas` array: the core schema, the enterprise extension for users (as Entra
/// always lists it), and each other extension the resource has values in.
struct Schemas<'r, 'a>(&'r Resource<'a>);

impl Serialize for Schemas<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let resource = self.0.object.resource;
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(resource.schema)?;
        for (urn, _) in resource.extensions {
            seq.serialize_element(urn)?;
        }
        for node in &self.0.object.plan.nodes {
            let custom = matches!(node, Node::Object { urn: true, key, .. }
                if !resource.extensions.iter().any(|(u, _)| u == key));
            if custom && self.0.present(node) {
                seq.serialize_element(node.key())?;
            }
        }
        seq.end()
    }
}

struct NodeValue<'r, 'a>(&'r Resource<'a>, &'r Node);

impl Serialize for NodeValue<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let resource = self.0;
        match self.1 {
            Node::Leaf { attribute, .. } => {
                let value = resource.values[*attribute].as_ref().expect("present");
                OutValue(value).serialize(serializer)
            }
            Node::Object { children, .. } => {
                let mut map = serializer.serialize_map(None)?;
                for child in children.iter().filter(|c| resource.present(c)) {
                    map.serialize_entry(child.key(), &NodeValue(resource, child))?;
                }
                map.end()
            }
            Node::Elements { elements, .. } => {
                let mut seq = serializer.serialize_seq(None)?;
                for element in elements {
                    let many =
                        element
                            .leaves
                            .iter()
                            .find_map(|(_, a)| match &resource.values[*a] {
                                Some(Out::Many(values)) => Some(values.len()),
                                _ => None,
                            });
                    match many {
                        Some(n) => {
                            for k in 0..n {
                                seq.serialize_element(&ElementValue(resource, element, Some(k)))?;
                            }
                        }
                        None if element
                            .leaves
                            .iter()
                            .any(|(_, a)| resource.values[*a].is_some()) =>
                        {
                            seq.serialize_element(&ElementValue(resource, element, None))?;
                        }
                        None => {}
                    }
                }
                seq.end()
            }
        }
    }
}

/// One element of a multi-valued attribute; `Some(k)` for the k-th of several values.
struct ElementValue<'r, 'a>(&'r Resource<'a>, &'r Element, Option<usize>);

impl Serialize for ElementValue<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let ElementValue(resource, element, k) = *self;
        let mut map = serializer.serialize_map(None)?;
        if element.primary && k.unwrap_or(0) == 0 {
            map.serialize_entry("primary", &true)?;
        }
        for (key, value) in &element.fixed {
            map.serialize_entry(key, value)?;
        }
        for (key, attribute) in &element.leaves {
            match (&resource.values[*attribute], k) {
                (Some(Out::Many(values)), Some(k)) => {
                    map.serialize_entry(key, &OutValue(&values[k]))?
                }
                (Some(value), _) => map.serialize_entry(key, &OutValue(value))?,
                (None, _) => {}
            }
        }
        map.end()
    }
}

struct OutValue<'r, 'a>(&'r Out<'a>);

impl Serialize for OutValue<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Out::Text(s) => serializer.serialize_str(s),
            Out::Bool(b) => serializer.serialize_bool(*b),
            Out::Int(n) => serializer.serialize_i64(*n),
            Out::Object(map) => map.serialize(serializer),
            Out::Ref(id) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("value", id)?;
                map.end()
            }
            Out::Many(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(&OutValue(value))?;
                }
                seq.end()
            }
        }
    }
}
