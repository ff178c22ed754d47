//! The provisioning engine (issue 7, in progress): so far, the planning of a cycle
//! (scope, assignments, what changed), the state kept between cycles, and the client
//! toward a SCIM target.

pub mod engine;
pub mod plan;
pub mod state;
pub mod target;

pub use target::{Answer, Target, TargetConfig, TargetError};
