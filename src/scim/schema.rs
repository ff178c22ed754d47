//! The SCIM 2.0 schemas scimap knows (RFC 7643 §4 and §8.7): User, Group and the
//! enterprise User extension, as one table of attribute definitions.

/// SCIM attribute types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl Type {
    /// A Graph `attributeDefinition` type name (`String`, `Boolean`, `Integer`,
    /// `DateTime`, `Binary`, `Reference`), case-insensitively.
    pub fn from_graph(name: &str) -> Option<Type> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => Type::String,
            "boolean" => Type::Boolean,
            "integer" | "int" => Type::Integer,
            "decimal" => Type::Decimal,
            "datetime" => Type::DateTime,
            "binary" => Type::Binary,
            "reference" => Type::Reference,
            "complex" => Type::Complex,
            _ => return None,
        })
    }
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Type,
    pub multi_valued: bool,
    pub sub_attributes: &'static [Attribute],
}

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A resource type: its core schema and the extensions it knows.
#[derive(Debug, Clone, Copy)]
pub struct ResourceType {
    pub name: &'static str,
    pub schema: &'static str,
    pub attributes: &'static [Attribute],
    pub extensions: &'static [(&'static str, &'static [Attribute])],
}

pub static USER_TYPE: ResourceType = ResourceType {
    name: "User",
    schema: USER,
    attributes: USER_ATTRIBUTES,
    extensions: &[(ENTERPRISE_USER, ENTERPRISE_ATTRIBUTES)],
};

pub static GROUP_TYPE: ResourceType = ResourceType {
    name: "Group",
    schema: GROUP,
    attributes: GROUP_ATTRIBUTES,
    extensions: &[],
};

impl ResourceType {
    pub fn by_name(name: &str) -> Option<&'static ResourceType> {
        [&USER_TYPE, &GROUP_TYPE]
            .into_iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// The attributes of a schema URN of this type: the core schema or a known
    /// extension. `None` for a URN this type does not know (a custom extension).
    pub fn schema_attributes(&self, urn: Option<&str>) -> Option<&'static [Attribute]> {
        match urn {
            None => Some(self.attributes),
            Some(urn) if urn.eq_ignore_ascii_case(self.schema) => Some(self.attributes),
            Some(urn) => self
                .extensions
                .iter()
                .find(|(u, _)| u.eq_ignore_ascii_case(urn))
                .map(|(_, a)| *a),
        }
    }

    /// The canonical spelling of a known extension URN.
    pub fn extension_urn(&self, urn: &str) -> Option<&'static str> {
        self.extensions
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .map(|(u, _)| *u)
    }
}

/// Finds an attribute by name, case-insensitively as SCIM requires.
pub fn find(attributes: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

const fn single(name: &'static str, kind: Type) -> Attribute {
    Attribute {
        name,
        kind,
        multi_valued: false,
        sub_attributes: &[],
    }
}

const fn complex(name: &'static str, sub_attributes: &'static [Attribute]) -> Attribute {
    Attribute {
        name,
        kind: Type::Complex,
        multi_valued: false,
        sub_attributes,
    }
}

const fn multi(name: &'static str, sub_attributes: &'static [Attribute]) -> Attribute {
    Attribute {
        name,
        kind: Type::Complex,
        multi_valued: true,
        sub_attributes,
    }
}

const fn string(name: &'static str) -> Attribute {
    single(name, Type::String)
}

/// `value`, `display`, `type`, `primary`: the sub-attributes of most multi-valued
/// attributes.
const PLURAL: &[Attribute] = &[
    string("value"),
    string("display"),
    string("type"),
    single("primary", Type::Boolean),
];

const REFERENCE_PLURAL: &[Attribute] = &[
    string("value"),
    single("$ref", Type::Reference),
    string("display"),
    string("type"),
];

const USER_ATTRIBUTES: &[Attribute] = &[
    string("id"),
    string("externalId"),
    string("userName"),
    complex(
        "name",
        &[
            string("formatted"),
            string("familyName"),
            string("givenName"),
            string("middleName"),
            string("honorificPrefix"),
            string("honorificSuffix"),
        ],
    ),
    string("displayName"),
    string("nickName"),
    single("profileUrl", Type::Reference),
    string("title"),
    string("userType"),
    string("preferredLanguage"),
    string("locale"),
    string("timezone"),
    single("active", Type::Boolean),
    string("password"),
    multi("emails", PLURAL),
    multi("phoneNumbers", PLURAL),
    multi("ims", PLURAL),
    multi(
        "photos",
        &[
            single("value", Type::Reference),
            string("display"),
            string("type"),
            single("primary", Type::Boolean),
        ],
    ),
    multi(
        "addresses",
        &[
            string("formatted"),
            string("streetAddress"),
            string("locality"),
            string("region"),
            string("postalCode"),
            string("country"),
            string("type"),
            single("primary", Type::Boolean),
        ],
    ),
    multi("groups", REFERENCE_PLURAL),
    multi("entitlements", PLURAL),
    multi("roles", PLURAL),
    multi(
        "x509Certificates",
        &[
            single("value", Type::Binary),
            string("display"),
            string("type"),
            single("primary", Type::Boolean),
        ],
    ),
];

const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    string("employeeNumber"),
    string("costCenter"),
    string("organization"),
    string("division"),
    string("department"),
    complex(
        "manager",
        &[
            string("value"),
            single("$ref", Type::Reference),
            string("displayName"),
        ],
    ),
];

const GROUP_ATTRIBUTES: &[Attribute] = &[
    string("id"),
    string("externalId"),
    string("displayName"),
    multi("members", REFERENCE_PLURAL),
];
