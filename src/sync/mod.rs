//! The provisioning engine (issue 7, in progress): so far, its client toward a SCIM
//! target.

pub mod target;

pub use target::{Answer, Target, TargetConfig, TargetError};
