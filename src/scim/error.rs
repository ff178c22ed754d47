//! RFC 7644's `scimType`: what kind of 400 (or 409) a SCIM error is.

use serde::{Serialize, Serializer};

/// The `scimType` of a SCIM error (RFC 7644 §3.12). Targets may send others; they are
/// kept as [`ScimType::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    Other(String),
}

const NAMED: [(ScimType, &str); 10] = [
    (ScimType::InvalidFilter, "invalidFilter"),
    (ScimType::TooMany, "tooMany"),
    (ScimType::Uniqueness, "uniqueness"),
    (ScimType::Mutability, "mutability"),
    (ScimType::InvalidSyntax, "invalidSyntax"),
    (ScimType::InvalidPath, "invalidPath"),
    (ScimType::NoTarget, "noTarget"),
    (ScimType::InvalidValue, "invalidValue"),
    (ScimType::InvalidVers, "invalidVers"),
    (ScimType::Sensitive, "sensitive"),
];

impl ScimType {
    /// As a SCIM error body writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ScimType::Other(text) => text,
            known => NAMED
                .iter()
                .find(|(t, _)| t == known)
                .map_or("", |(_, name)| name),
        }
    }

    /// The type a body's `scimType` names; one RFC 7644 does not name is kept as it is.
    pub fn from_name(name: &str) -> ScimType {
        NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| ScimType::Other(name.to_string()), |(t, _)| t.clone())
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ScimType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for ScimType {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ScimType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for (kind, name) in NAMED {
            assert_eq!(ScimType::from_name(name), kind);
            assert_eq!(kind.as_str(), name);
        }
        assert_eq!(
            ScimType::from_name("tooLarge"),
            ScimType::Other("tooLarge".into())
        );
        assert_eq!(ScimType::Other("tooLarge".into()).to_string(), "tooLarge");
    }
}
