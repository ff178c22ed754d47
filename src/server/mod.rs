//! The SCIM 2.0 service provider: storage now; the HTTP side follows.

pub mod store;
