//! Attribute mappings: a mapping file (native, or a Graph `synchronizationSchema`)
//! loaded, checked and compiled once, then applied to batches of source records to
//! make SCIM resources and PATCH requests (or, for a gallery app that is not SCIM,
//! flat objects and change sets).
//!
//! ```
//! use scimap::mapping::{ApplyOptions, Mapping};
//! use scimap::Batch;
//!
//! let mapping = Mapping::embedded_default();
//! let users = mapping.object("User").unwrap();
//! let records = serde_json::json!([{
//!     "objectId": "1", "userPrincipalName": "zoe@contoso.com", "mailNickname": "zoe",
//!     "givenName": "Zoë", "surname": "Müller", "IsSoftDeleted": "False",
//! }]);
//! let batch = Batch::from_json(records.as_array().unwrap()).unwrap();
//! let mut resources = Vec::new();
//! users.apply_batch(&batch, &ApplyOptions::default(), |_, result| {
//!     resources.push(result.unwrap().resource().unwrap().to_json());
//! });
//! assert_eq!(resources[0]["userName"], "zoe@contoso.com");
//! assert_eq!(resources[0]["active"], true);
//! assert_eq!(resources[0]["name"]["formatted"], "Zoë Müller");
//! ```

mod apply;
pub mod entra;
pub mod file;
mod graph;
mod lint;
mod load;
pub mod locate;
mod population;
mod resource;
mod scope;
mod snapshot;
mod stream;
mod target;

use crate::bytecode::Program;
use crate::diagnostic::{Diagnostic, Span};
use crate::scim::schema::ResourceType;
use file::{Apply, MappingFile};

pub use apply::{Applied, ApplyError, ApplyOptions, Phase, References};
pub use population::{
    population_diff, AttributeDiff, Example, Examples, PopulationDiff, ValueExample,
};
pub use resource::Resource;
pub use scope::{Clause, ClauseError, Scope, OPERATORS};
pub use snapshot::{
    snapshot_name, sorted, Snapshot, SnapshotError, SnapshotOptions, DEFAULT_NAME_ATTRIBUTES,
    MAX_NAME_BYTES,
};
pub use stream::{Report, StreamOptions, Summary};
pub use target::TargetAttribute;

use lint::asks_target;
pub use load::file_from_json;
pub(crate) use load::{AttributeOrigin, ObjectOrigin, Origins};

/// The mapping Entra gives a new non-gallery SCIM application, in the native format.
pub const DEFAULT_MAPPING: &str = include_str!("default.json");

/// A loaded, checked and compiled mapping.
#[derive(Debug)]
pub struct Mapping {
    file: MappingFile,
    objects: Vec<ObjectMapping>,
    warnings: Vec<Diagnostic>,
    graph: bool,
}

/// One object mapping, compiled: `User` → SCIM `User`, say.
#[derive(Debug)]
pub struct ObjectMapping {
    pub name: String,
    pub source: String,
    /// What the mapping makes.
    pub target: TargetObject,
    pub enabled: bool,
    pub actions: Vec<file::Action>,
    pub scope: Scope,
    pub(crate) attributes: Vec<AttributeMapping>,
    pub(crate) plan: resource::Plan,
}

/// What an object mapping makes: a SCIM resource, or an object of an app that is not
/// SCIM (most of Entra's gallery apps), typed by the app's own attribute definitions.
///
/// ```
/// use scimap::mapping::{ApplyOptions, Mapping, Phase};
///
/// let mapping = Mapping::from_json(r#"{"objects": [{
///     "name": "Users to Salesforce", "source": "User",
///     "target": "User", "targetDirectory": "salesforce.com",
///     "attributes": [
///         {"target": "Username", "source": "[userPrincipalName]"},
///         {"target": "IsActive", "source": "Not([IsSoftDeleted])"}],
///     "targetAttributes": [
///         {"name": "Username", "required": true},
///         {"name": "IsActive", "type": "Boolean"}]}]}"#).unwrap();
/// let users = mapping.object("User").unwrap();
/// assert_eq!(users.target.to_string(), "User in salesforce.com");
/// let record = serde_json::json!({"userPrincipalName": "ann@contoso.com", "IsSoftDeleted": true});
/// let batch = users.batch(&[record]).unwrap();
/// let mut options = ApplyOptions::default();
/// options.phase = Phase::Update;
/// let made = users.apply_one(&batch, &options).unwrap().unwrap();
/// assert_eq!(made.to_json(), serde_json::json!({"Username": "ann@contoso.com", "IsActive": false}));
/// let exported = serde_json::json!({"Username": "ann@contoso.com", "IsActive": true});
/// assert_eq!(
///     users.changes(&exported, &made),
///     Some(serde_json::json!({"IsActive": {"old": true, "new": false}})),
/// );
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TargetObject {
    Scim(&'static ResourceType),
    App {
        /// The app's directory, as Graph names it (`salesforce.com`).
        directory: String,
        /// The object's name in that directory (`User`).
        object: String,
    },
}

impl TargetObject {
    /// The target object's name: the SCIM resource type's, or the app's.
    pub fn name(&self) -> &str {
        match self {
            TargetObject::Scim(resource) => resource.name,
            TargetObject::App { object, .. } => object,
        }
    }

    /// The SCIM resource type, when the target is SCIM.
    pub fn scim(&self) -> Option<&'static ResourceType> {
        match self {
            TargetObject::Scim(resource) => Some(resource),
            TargetObject::App { .. } => None,
        }
    }
}

impl std::fmt::Display for TargetObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetObject::Scim(resource) => write!(f, "SCIM {}", resource.name),
            TargetObject::App { directory, object } => write!(f, "{object} in {directory}"),
        }
    }
}

/// One attribute mapping, compiled.
#[derive(Debug)]
pub struct AttributeMapping {
    pub target: TargetAttribute,
    /// `None` for a mapping of kind `none`, which only ever supplies its default.
    pub program: Option<Program>,
    pub default: Option<String>,
    pub apply: Apply,
    pub matching: u32,
    /// Where the mapping's target is written in its file, when it was read from text.
    pub span: Option<Span>,
}

impl Mapping {
    /// Entra's default mapping for a non-gallery SCIM application (users and groups).
    pub fn embedded_default() -> Mapping {
        Mapping::from_json(DEFAULT_MAPPING).expect("the embedded default mapping is valid")
    }

    /// The mapping in the native format (what `scimap convert` writes).
    pub fn file(&self) -> &MappingFile {
        &self.file
    }

    /// Whether the mapping was read from a Graph `synchronizationSchema`.
    pub fn is_graph_schema(&self) -> bool {
        self.graph
    }

    pub fn objects(&self) -> &[ObjectMapping] {
        &self.objects
    }

    /// The enabled object mapping making a target object (`User`, `Group`), or else
    /// the one with this name.
    pub fn object(&self, name: &str) -> Option<&ObjectMapping> {
        self.objects
            .iter()
            .find(|o| o.enabled && o.target.name().eq_ignore_ascii_case(name))
            .or_else(|| self.objects.iter().find(|o| o.name == name))
    }

    /// Lint warnings: unknown source attributes, expression pitfalls.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }
}

impl ObjectMapping {
    /// The attribute mappings, in file order.
    pub fn attributes(&self) -> &[AttributeMapping] {
        &self.attributes
    }

    /// The matching attributes in precedence order.
    pub fn matching(&self) -> Vec<&AttributeMapping> {
        let mut matching: Vec<&AttributeMapping> =
            self.attributes.iter().filter(|a| a.matching > 0).collect();
        matching.sort_by_key(|a| a.matching);
        matching
    }

    /// The targets filled by `SelectUniqueValue`, whose candidates a provisioning
    /// engine looks up in the target.
    pub fn unique_targets(&self) -> Vec<&TargetAttribute> {
        self.attributes
            .iter()
            .filter(|a| asks_target(a.program.as_ref()))
            .map(|a| &a.target)
            .collect()
    }
}
