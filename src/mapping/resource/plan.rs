//! Where each target attribute goes in a resource's JSON: built once per object
//! mapping, with conflicts between targets found then.

use serde_json::Value as Json;

use super::writer::string;
use crate::mapping::TargetAttribute;
use crate::scim::schema::ResourceType;

/// The shape of an object mapping's resources.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    pub(super) nodes: Vec<Node>,
    /// Per attribute: whether it is the only value of a filtered element, so that a
    /// multi-valued result can become one element per value.
    pub(crate) alone: Vec<bool>,
}

/// Each node keeps its key written as JSON (`"userName":`), so that writing a
/// resource copies keys rather than escaping them again.
#[derive(Debug, Clone)]
pub(super) enum Node {
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
pub(super) struct Element {
    pub(super) fixed: Vec<(String, Json)>,
    /// The sub-attribute, the attribute, and `,"sub":`.
    pub(super) leaves: Vec<(String, usize, Box<[u8]>)>,
    pub(super) primary: bool,
    /// The fixed sub-attributes written as JSON: `"type":"work"`.
    pub(super) fixed_json: Box<[u8]>,
}

impl Node {
    pub(super) fn key(&self) -> &str {
        match self {
            Node::Leaf { key, .. } | Node::Object { key, .. } | Node::Elements { key, .. } => key,
        }
    }

    pub(super) fn first_attribute(&self) -> usize {
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
    pub(super) fn prefix(&self) -> &[u8] {
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
        targets: &[&TargetAttribute],
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

    fn place(&mut self, i: usize, target: &TargetAttribute) -> Result<(), Conflict> {
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
