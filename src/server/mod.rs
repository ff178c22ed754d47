//! The SCIM 2.0 service provider that Entra (and scimap's own sync) provisions into:
//! `store` keeps resources (SQLite), `resources` checks and shapes them, `http` answers
//! the protocol, `discovery` describes the server, `error` makes SCIM errors, `listen`
//! accepts and watches connections.

mod discovery;
mod error;
pub mod http;
mod limits;
pub mod listen;
mod resources;
pub mod store;
pub mod tenants;

pub use error::ScimError;
pub use http::{router, Config};
pub use listen::Connections;
pub use store::{Sqlite, Store};
pub use tenants::{Tenant, TenantError, TenantId};
