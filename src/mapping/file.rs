//! The native mapping file, as serde reads and writes it. `docs/mapping.schema.json`
//! describes the same shape for editors.

use serde::{Deserialize, Serialize};

/// A mapping file: object mappings plus the attributes a source may have beyond the
/// built-in Entra list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingFile {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Source attributes known besides Entra's built-in ones (directory extensions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_attributes: Vec<String>,
    pub objects: Vec<ObjectFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectFile {
    pub name: String,
    /// The source object type (`User`, `Group`).
    pub source: String,
    /// The target object: a SCIM resource type (`User`, `Group`), or with
    /// `targetDirectory` an object of that app (`User`, `sys_user`).
    pub target: String,
    /// The app the target object belongs to, when the app is not SCIM (Graph's
    /// `targetDirectoryName`, such as `salesforce.com`). Its objects are flat and
    /// their attributes are exactly `targetAttributes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_directory: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Which target actions are allowed: `create`, `update`, `delete`.
    #[serde(default = "all_actions", skip_serializing_if = "is_all_actions")]
    pub actions: Vec<Action>,
    /// Scoping filter groups: an object is in scope when every clause of at least one
    /// group holds. No groups: every object is in scope.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<FilterGroupFile>,
    pub attributes: Vec<AttributeFile>,
    /// For a SCIM target, attributes beyond the SCIM schemas scimap knows (custom
    /// extensions with a type other than string); for an app, every attribute it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_attributes: Vec<TargetAttributeFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterGroupFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub clauses: Vec<ClauseFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClauseFile {
    pub attribute: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeFile {
    /// The SCIM path written: `userName`, `emails[type eq "work"].value`, …
    pub target: String,
    /// The expression computing the value; absent for a mapping of kind `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the portal calls the mapping type; checked against `source` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MappingKind>,
    /// Used when the source evaluates to null, on creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default, skip_serializing_if = "Apply::is_always")]
    pub apply: Apply,
    /// Matching precedence: 1 is tried first; absent or 0 means not a matching attribute.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matching: u32,
}

/// The portal's mapping types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MappingKind {
    Direct,
    Constant,
    Expression,
    None,
}

/// When a mapping flows (Entra's `flowType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Apply {
    /// On creation and on every update.
    #[default]
    Always,
    /// Only when the object is created.
    OnCreate,
    /// On updates only where the target has no value yet (Graph's `AttributeAddOnly`,
    /// `ValueAddOnly` and `MultiValueAddOnly`).
    AddOnly,
}

impl Apply {
    fn is_always(&self) -> bool {
        *self == Apply::Always
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetAttributeFile {
    pub name: String,
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_valued: bool,
    /// The app refuses to create an object without a value here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// The object's identifier in the app, which the app assigns: never a mapping's
    /// target.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anchor: bool,
    /// For a `Reference`: the objects it may name (`User` for a manager).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referenced_objects: Vec<String>,
}

impl TargetAttributeFile {
    /// A single-valued attribute of a type, with nothing else said about it.
    pub fn new(name: &str, kind: &str) -> TargetAttributeFile {
        TargetAttributeFile {
            name: name.to_string(),
            kind: kind.to_string(),
            multi_valued: false,
            required: false,
            anchor: false,
            referenced_objects: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn string_type() -> String {
    "String".to_string()
}

fn all_actions() -> Vec<Action> {
    vec![Action::Create, Action::Update, Action::Delete]
}

fn is_all_actions(actions: &Vec<Action>) -> bool {
    *actions == all_actions()
}
