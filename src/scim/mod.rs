//! SCIM 2.0 (RFC 7643, RFC 7644): attribute paths and filters, the known schemas, and
//! PATCH requests in Entra's two shapes.

mod patch;
pub mod path;
pub mod schema;

pub use patch::{member_operations, patch, patch_body, PatchStyle};
pub use path::{AttrPath, CompValue, CompareOp, Filter, Path, PathError};
