//! scimap: Microsoft Entra ID's attribute-mapping expressions as a real language.
//!
//! Compile an expression once, then evaluate it over batches of source records:
//!
//! ```
//! use scimap::{Batch, Context, Program, Value};
//!
//! let program = Program::compile(r#"ToLower(Replace([mail], "@contoso.com", , , "@fabrikam.com", , ))"#)?;
//! let records = serde_json::json!([{"mail": "John.Doe@contoso.com"}, {}]);
//! let batch = Batch::from_json(records.as_array().unwrap())?;
//! let results = program.eval_batch(&batch, &Context::default());
//! assert_eq!(results[0], Ok(Value::str("john.doe@fabrikam.com")));
//! assert_eq!(results[1], Ok(Value::Null)); // no mail: nothing to provision
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors in the expression come back as [`Diagnostics`] that point into the source:
//!
//! ```
//! let err = scimap::Program::compile(r#"toLower([mail])"#).unwrap_err();
//! let first = err.first_error().unwrap();
//! assert_eq!(first.code.as_str(), "unknown-function");
//! assert!(first.help.as_deref().unwrap().contains("ToLower"));
//! println!("{}", err.render("toLower([mail])", "<expression>", false));
//! ```
//!
//! The pipeline, one module per stage: `syntax` (pest grammar → spanned tree),
//! `check` (names, arity, argument kinds), `compile` (tree → bytecode), `vm`
//! (bytecode × batch → values), with [`functions`] as the single table of Entra's
//! function library; then [`records`] (files → records), [`mapping`] (mapping files →
//! SCIM resources and PATCH requests), [`scim`] (paths, filters, schemas, PatchOp made
//! and applied) and, with the `server` feature, `server` (the SCIM service provider),
//! with the `sync` feature, `sync` (the provisioning engine). The language's internal
//! stages are public only with the `unstable-internals` feature; [`Program`] is their
//! stable face.

/// Modules public only with the `unstable-internals` feature, which tests, benches and
/// fuzz targets use: their API changes whenever the implementation does.
macro_rules! internal {
    ($($(#[$meta:meta])* mod $name:ident;)*) => {$(
        #[cfg(feature = "unstable-internals")]
        $(#[$meta])*
        pub mod $name;
        #[cfg(not(feature = "unstable-internals"))]
        $(#[$meta])*
        mod $name;
    )*};
}

// pest_derive without `std` (see Cargo.toml) names `alloc` in the parsers it writes.
extern crate alloc;

mod batch;
pub mod bounds;
mod bytecode;
mod check;
pub mod context;
pub mod diagnostic;
pub mod explain;
pub mod functions;
pub mod graph_tree;
mod json;
pub mod mapping;
pub mod records;
pub mod scim;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(feature = "server", feature = "sync"))]
mod sqlite;
#[cfg(feature = "sync")]
pub mod sync;
mod value;

internal! {
    mod compile;
    mod syntax;
    mod vm;
}

#[cfg(feature = "cli")]
pub mod cli;

pub use batch::{Batch, BatchBuilder, RecordError};
pub use bytecode::Program;
pub use context::{Context, ExistingSet, ExistingValues, Limits};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity, Span};
pub use mapping::Mapping;
pub use value::{List, Value};
pub use vm::EvalError;

/// The README's Rust example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

/// So is the mapping reference's.
#[cfg(doctest)]
#[doc = include_str!("../docs/mapping.md")]
struct MappingDocExamples;

/// And the mapping-testing guide's.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
struct TestingDocExamples;

/// And the server guide's.
#[cfg(all(doctest, feature = "server"))]
#[doc = include_str!("../docs/server.md")]
struct ServerDocExamples;

/// And the sync guide's.
#[cfg(all(doctest, feature = "server", feature = "sync"))]
#[doc = include_str!("../docs/sync.md")]
struct SyncDocExamples;
