//! The provisioning engine: a cycle planned from a directory snapshot, the
//! assignments, the mapping's scoping filters and the state kept since the last cycle
//! (`plan`), run against a SCIM target (`cycle` runs it, `object` does one object's
//! actions, `unique` asks the target for `SelectUniqueValue`, `target` speaks HTTP),
//! remembered in SQLite (`state`) and logged as Entra logs provisioning (`log`).

mod cycle;
mod engine;
#[cfg(feature = "postgres")]
pub mod jobs;
pub mod log;
mod object;
pub(crate) mod plan;
mod required;
pub mod source;
pub mod state;
mod target;
mod unique;

pub use engine::{
    Cycle, CycleSummary, Engine, EngineBuilder, EngineError, Fence, LogSink, Options, Progress,
    QuarantinePolicy, Source, Stop, DELETION_THRESHOLD, MEMBER_BATCH,
};
pub use log::{LogRecord, ProvisioningAction, ProvisioningStatus, ProvisioningStep, StepName};
pub use plan::{Assignments, FINGERPRINT};
pub use target::{Answer, Attempt, Target, TargetConfig, TargetError, Transport};
