//! What the stages need of `serde_json` values, kept in one place: the kind of a value
//! for messages, serde_json's message without its place for messages that name the
//! place their own way, and an object's member found without regard to case (SCIM's
//! attribute names are case-insensitive).

use serde_json::Value as Json;

/// What a value is, with its article, for messages: `an array`.
pub(crate) fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// serde_json's message without the " at line L column C" it ends with.
pub(crate) fn message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    }
}

/// A JSON object's member, found without regard to case (an exact match first).
pub(crate) fn field<'r>(value: &'r Json, name: &str) -> Option<&'r Json> {
    let map = value.as_object()?;
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_are_found_exactly_first_then_ignoring_case() {
        let value = json!({"userName": 1, "USERNAME": 2, "Title": 3});
        assert_eq!(field(&value, "USERNAME"), Some(&json!(2)));
        assert_eq!(field(&value, "title"), Some(&json!(3)));
        assert_eq!(field(&value, "mail"), None);
        assert_eq!(field(&json!([1]), "a"), None);
        assert_eq!(kind(&json!([1])), "an array");
        let e = serde_json::from_str::<Json>("{").unwrap_err();
        assert_eq!(message(&e), "EOF while parsing an object");
    }
}
