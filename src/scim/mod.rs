//! SCIM 2.0 (RFC 7643, RFC 7644): attribute paths and filters (parsed, checked against
//! the schemas, evaluated over resources), the known schemas, and PATCH requests: made
//! in Entra's two shapes, and applied in every shape Entra sends.

pub mod diff;
mod error;
pub mod filter;
mod patch;
pub mod path;
pub mod schema;
mod update;

pub use diff::Diff;
pub use error::ScimType;
pub use filter::FilterError;
pub use patch::{in_batches, member_operations, patch, patch_body, PatchStyle};
pub use path::{AttrPath, CompValue, CompareOp, Filter, Path, PathError};
pub use update::{apply_patch, PatchError, MAX_PATCH_OPERATIONS, MAX_PATCH_VALUES};

/// The two kinds of object provisioned and stored: users and groups. Written as SCIM
/// and Entra's logs name the resource types (`User`, `Group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ObjectKind {
    User,
    Group,
}

impl ObjectKind {
    /// Users first: groups refer to them.
    pub const ALL: [ObjectKind; 2] = [ObjectKind::User, ObjectKind::Group];

    /// The resource type's name, as SCIM and Entra's logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "User",
            ObjectKind::Group => "Group",
        }
    }

    /// The kind a resource type's name (`User`, `Group`) names.
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The endpoint of its resources: `/Users` or `/Groups`.
    pub fn endpoint(self) -> &'static str {
        match self {
            ObjectKind::User => "/Users",
            ObjectKind::Group => "/Groups",
        }
    }
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ObjectKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
