//! How deep and how long anything a user or a client writes may be. One depth and one
//! term count hold for every parser: the expression language, SCIM filters and paths
//! (`filter`, `sortBy`, `attributes`, PATCH paths), and JSON bodies (PATCH values,
//! Bulk). Nothing after a parser recurses deeper than [`MAX_NESTING`] levels, and
//! nothing walks a chain of more than [`MAX_TERMS`] terms.

use serde_json::Value as Json;

/// How deeply parentheses, brackets, calls or JSON containers may nest. Entra's own
/// expressions stay under 6 levels and SCIM resources under 4.
pub const MAX_NESTING: usize = 64;

/// How many terms one expression or one filter may hold: the comparisons of a SCIM
/// filter, the arguments of an expression's calls together.
pub const MAX_TERMS: usize = 1_000;

/// Where a JSON value first nests more than [`MAX_NESTING`] containers deep, as a path
/// (`/Operations/0/value/…`); `None` when the whole value is within the limit. Walks
/// without recursion, so any depth serde accepted is safe to check.
pub fn too_deep(value: &Json) -> Option<String> {
    // Containers seen: (parent's index, key in the parent).
    let mut seen: Vec<(usize, String)> = vec![(usize::MAX, String::new())];
    let mut stack: Vec<(&Json, usize, usize)> = vec![(value, 1, 0)];
    while let Some((value, depth, index)) = stack.pop() {
        if depth > MAX_NESTING {
            return Some(path_of(&seen, index));
        }
        let mut visit = |key: String, child: &'_ Json| -> Option<usize> {
            (child.is_array() || child.is_object()).then(|| {
                seen.push((index, key));
                seen.len() - 1
            })
        };
        match value {
            Json::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    if let Some(at) = visit(i.to_string(), child) {
                        stack.push((child, depth + 1, at));
                    }
                }
            }
            Json::Object(map) => {
                for (key, child) in map {
                    if let Some(at) = visit(key.clone(), child) {
                        stack.push((child, depth + 1, at));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

fn path_of(seen: &[(usize, String)], mut index: usize) -> String {
    let mut keys = Vec::new();
    while index != 0 {
        let (parent, key) = &seen[index];
        keys.push(key.as_str());
        index = *parent;
    }
    keys.reverse();
    format!("/{}", keys.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Json {
        (0..levels).fold(Json::from(1), |inner, _| Json::Array(vec![inner]))
    }

    #[test]
    fn depth_is_counted_in_containers() {
        assert_eq!(too_deep(&nested(MAX_NESTING)), None);
        assert!(too_deep(&nested(MAX_NESTING + 1)).is_some());
        let value = serde_json::json!({"Operations": [{"value": {"a": 1}}]});
        assert_eq!(too_deep(&value), None);
        let deep = serde_json::json!({"Operations": [{"value": nested(MAX_NESTING)}]});
        assert_eq!(
            too_deep(&deep).unwrap(),
            format!("/Operations/0/value{}", "/0".repeat(MAX_NESTING - 3))
        );
    }
}
