//! One record's resource written as JSON, straight from the plan and the typed values.

use serde_json::Value as Json;

use super::plan::{Element, Node};
use super::Out;
use crate::mapping::ObjectMapping;
use crate::scim::schema::ResourceType;

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
pub(super) fn string(out: &mut Vec<u8>, text: &str) {
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
