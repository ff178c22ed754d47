//! SCIM 2.0 (RFC 7643, RFC 7644): attribute paths and filters (parsed, checked against
//! the schemas, evaluated over resources), the known schemas, and PATCH requests: made
//! in Entra's two shapes, and applied in every shape Entra sends.

pub mod diff;
pub mod filter;
mod patch;
pub mod path;
pub mod schema;
mod update;

pub use filter::FilterError;
pub use patch::{member_operations, patch, patch_body, PatchStyle};
pub use path::{AttrPath, CompValue, CompareOp, Filter, Path, PathError};
pub use update::{apply_patch, PatchError, MAX_PATCH_OPERATIONS, MAX_PATCH_VALUES};

/// The two kinds of object provisioned and stored: users and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    User,
    Group,
}

impl ObjectKind {
    /// The resource type's name, as SCIM and Entra's logs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "User",
            ObjectKind::Group => "Group",
        }
    }
}
