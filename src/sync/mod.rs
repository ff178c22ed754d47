//! The provisioning engine: a cycle planned from a directory snapshot, the
//! assignments, the mapping's scoping filters and the state kept since the last cycle
//! (`plan`), run against a SCIM target (`engine`, `target`), remembered in SQLite
//! (`state`) and logged as Entra logs provisioning (`log`).

pub mod engine;
pub mod log;
pub mod plan;
pub mod source;
pub mod state;
pub mod target;

pub use engine::{
    Cycle, CycleSummary, Engine, EngineError, Options, QuarantinePolicy, Source, Stop,
};
pub use log::LogRecord;
pub use target::{Answer, Attempt, Target, TargetConfig, TargetError};
