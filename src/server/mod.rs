//! The SCIM 2.0 service provider that Entra (and scimap's own sync) provisions into:
//! `store` keeps resources (SQLite), `resources` checks and shapes them, `http` answers
//! the protocol, `discovery` describes the server, `error` makes SCIM errors, `listen`
//! accepts and watches connections.

mod discovery;
mod error;
pub mod http;
mod limits;
pub mod listen;
pub mod metrics;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod resources;
mod select;
pub mod store;
pub mod tenants;
pub mod tls;

pub use error::ScimError;
pub use http::{router, Config};
pub use listen::Connections;
#[cfg(feature = "postgres")]
pub use postgres::{Postgres, PostgresError, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION};
pub use store::{Sqlite, Store};
pub use tenants::{Tenant, TenantError, TenantId};
