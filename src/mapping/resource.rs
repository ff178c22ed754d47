//! SCIM resources from mapped values: where each target goes in the JSON (the plan,
//! built once per object mapping) and the values of one record typed per the schema.

use std::borrow::Cow;

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

/// Each node keeps its key written as JSON (`"userName":`), so that writing a
/// resource copies keys rather than escaping them again.
#[derive(Debug, Clone)]
enum Node {
    Leaf {
        key: String,
        attribute: usize,
        prefix: Box<[u8]>,
    },
    Object {
        key: String,
        children: Vec<Node>,
        urn: bool,
        prefix: Box<[u8]>,
    },
    Elements {
        key: String,
        elements: Vec<Element>,
        prefix: Box<[u8]>,
    },
}

#[derive(Debug, Clone)]
struct Element {
    fixed: Vec<(String, Json)>,
    /// The sub-attribute, the attribute, and `,"sub":`.
    leaves: Vec<(String, usize, Box<[u8]>)>,
    primary: bool,
    /// The fixed sub-attributes written as JSON: `"type":"work"`.
    fixed_json: Box<[u8]>,
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

/// A key as JSON, with its colon.
fn key_json(key: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(key.len() + 3);
    string(&mut out, key);
    out.push(b':');
    out.into()
}

impl Node {
    fn prefix(&self) -> &[u8] {
        match self {
            Node::Leaf { prefix, .. }
            | Node::Object { prefix, .. }
            | Node::Elements { prefix, .. } => prefix,
        }
    }
}

fn find<'n>(nodes: &'n mut [Node], key: &str) -> Option<&'n mut Node> {
    nodes.iter_mut().find(|n| n.key().eq_ignore_ascii_case(key))
}

impl Plan {
    /// The plan of a SCIM resource type's resources, or (`None`) of an app's flat
    /// objects.
    pub(crate) fn build(
        resource: Option<&ResourceType>,
        targets: &[&Target],
    ) -> Result<Plan, Conflict> {
        let mut plan = Plan::default();
        for (i, target) in targets.iter().enumerate() {
            plan.place(i, target)?;
        }
        plan.alone = (0..targets.len()).map(|i| plan.is_alone(i)).collect();
        if let Some(resource) = resource {
            plan.mark_primary(resource);
        }
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
                        prefix: key_json(urn),
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
                        prefix: key_json(key),
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
                        let fixed_json: Vec<u8> = fixed
                            .iter()
                            .map(|(k, v)| [&*key_json(k), v.to_string().as_bytes()].concat())
                            .collect::<Vec<_>>()
                            .join(&b',');
                        elements.push(Element {
                            fixed: fixed.clone(),
                            leaves: Vec::new(),
                            primary: false,
                            fixed_json: fixed_json.into(),
                        });
                        elements.last_mut().expect("just pushed")
                    }
                };
                if let Some(&(_, first, _)) = element
                    .leaves
                    .iter()
                    .find(|(s, _, _)| s.eq_ignore_ascii_case(sub))
                {
                    return Err((
                        first,
                        i,
                        format!("`{}` is the target of two mappings", target.text),
                    ));
                }
                let prefix = [b",".as_slice(), &key_json(sub)].concat();
                element.leaves.push((sub.clone(), i, prefix.into()));
            }
            (None, Some(sub)) => {
                match find(container, key) {
                    None => container.push(Node::Object {
                        key: key.clone(),
                        children: Vec::new(),
                        urn: false,
                        prefix: key_json(key),
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
                    prefix: key_json(sub),
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
                    prefix: key_json(key),
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
            let Node::Elements { key, elements, .. } = node else {
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
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).expect("the writer writes JSON")
    }

    /// Appends the resource as one line of JSON: `schemas` first (for SCIM), then
    /// the attributes in the order the mapping first names them, leaving out those
    /// without a value.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut first = true;
        out.push(b'{');
        if let Some(resource) = self.object.target.scim() {
            out.extend_from_slice(b"\"schemas\":");
            self.write_schemas(out, resource);
            first = false;
        }
        for node in &self.object.plan.nodes {
            if self.present(node) {
                separate(out, &mut first);
                out.extend_from_slice(node.prefix());
                self.write_node(out, node);
            }
        }
        out.push(b'}');
    }

    fn present(&self, node: &Node) -> bool {
        match node {
            Node::Leaf { attribute, .. } => self.values[*attribute].is_some(),
            Node::Object { children, .. } => children.iter().any(|c| self.present(c)),
            Node::Elements { elements, .. } => elements
                .iter()
                .any(|e| e.leaves.iter().any(|(_, a, _)| self.values[*a].is_some())),
        }
    }

    /// The core schema, the enterprise extension for users (as Entra always lists
    /// it), and each other extension the resource has values in.
    fn write_schemas(&self, out: &mut Vec<u8>, resource: &ResourceType) {
        out.push(b'[');
        string(out, resource.schema);
        for (urn, _) in resource.extensions {
            out.push(b',');
            string(out, urn);
        }
        for node in &self.object.plan.nodes {
            let custom = matches!(node, Node::Object { urn: true, key, .. }
                if !resource.extensions.iter().any(|(u, _)| u == key));
            if custom && self.present(node) {
                out.push(b',');
                string(out, node.key());
            }
        }
        out.push(b']');
    }

    fn write_node(&self, out: &mut Vec<u8>, node: &Node) {
        match node {
            Node::Leaf { attribute, .. } => {
                write_out(out, self.values[*attribute].as_ref().expect("present"));
            }
            Node::Object { children, .. } => {
                out.push(b'{');
                let mut first = true;
                for child in children.iter().filter(|c| self.present(c)) {
                    separate(out, &mut first);
                    out.extend_from_slice(child.prefix());
                    self.write_node(out, child);
                }
                out.push(b'}');
            }
            Node::Elements { elements, .. } => {
                out.push(b'[');
                let mut first = true;
                for element in elements {
                    let many = element
                        .leaves
                        .iter()
                        .find_map(|(_, a, _)| match &self.values[*a] {
                            Some(Out::Many(values)) => Some(values.len()),
                            _ => None,
                        });
                    match many {
                        Some(n) => {
                            for k in 0..n {
                                separate(out, &mut first);
                                self.write_element(out, element, Some(k));
                            }
                        }
                        None if element
                            .leaves
                            .iter()
                            .any(|(_, a, _)| self.values[*a].is_some()) =>
                        {
                            separate(out, &mut first);
                            self.write_element(out, element, None);
                        }
                        None => {}
                    }
                }
                out.push(b']');
            }
        }
    }

    /// One element of a multi-valued attribute; `Some(k)` for the k-th of several
    /// values.
    fn write_element(&self, out: &mut Vec<u8>, element: &Element, k: Option<usize>) {
        out.push(b'{');
        if element.primary && k.unwrap_or(0) == 0 {
            out.extend_from_slice(b"\"primary\":true,");
        }
        out.extend_from_slice(&element.fixed_json);
        for (_, attribute, prefix) in &element.leaves {
            let value = match (&self.values[*attribute], k) {
                (Some(Out::Many(values)), Some(k)) => &values[k],
                (Some(value), _) => value,
                (None, _) => continue,
            };
            out.extend_from_slice(prefix);
            write_out(out, value);
        }
        out.push(b'}');
    }
}

fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

fn write_out(out: &mut Vec<u8>, value: &Out<'_>) {
    match value {
        Out::Text(s) => string(out, s),
        Out::Bool(true) => out.extend_from_slice(b"true"),
        Out::Bool(false) => out.extend_from_slice(b"false"),
        Out::Int(n) => {
            use std::io::Write as _;
            write!(out, "{n}").expect("writing to memory cannot fail");
        }
        Out::Object(map) => {
            serde_json::to_writer(&mut *out, map).expect("writing to memory cannot fail")
        }
        Out::Ref(id) => {
            out.extend_from_slice(b"{\"value\":");
            string(out, id);
            out.push(b'}');
        }
        Out::Many(values) => {
            out.push(b'[');
            let mut first = true;
            for value in values {
                separate(out, &mut first);
                write_out(out, value);
            }
            out.push(b']');
        }
    }
}

/// A JSON string, escaped as serde_json escapes it. Most text needs no escape, and
/// the test for that looks at every byte without stopping early, so that it runs on
/// vector instructions; only text that needs escapes is walked byte by byte.
fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let special = bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !special {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        escape(out, b);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn escape(out: &mut Vec<u8>, b: u8) {
    match b {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::string;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "plain",
            "quote \" and \\ back",
            "ctl \u{1} \u{1f} \n\r\t\u{8}\u{c}",
            "zoë 🎉 \u{2028} \u{7f} ÿ",
            "",
            "twelve bytes\"",
            "a long clean run of text, then a quote: \" and more clean text after it",
        ] {
            let mut out = Vec::new();
            string(&mut out, text);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }
}
