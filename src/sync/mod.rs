//! The provisioning engine (issue 7, in progress): so far, its client toward a SCIM
//! target and the state it keeps between cycles.

pub mod state;
pub mod target;

pub use target::{Answer, Target, TargetConfig, TargetError};
