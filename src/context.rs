//! What an evaluation may depend on besides the record: bounds, the clock, the seed
//! of its randomness, the tenant, the values a target already holds. Below every stage
//! of the language, which all read it.

use std::fmt;
use std::sync::Arc;

/// Bounds on what one evaluation may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The longest string a function may produce, in bytes.
    pub max_text_bytes: usize,
    /// The most values a function may put in a multi-valued result.
    pub max_list_len: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_text_bytes: 1 << 20,
            max_list_len: 100_000,
        }
    }
}

/// What an evaluation may depend on besides the record.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Context {
    pub limits: Limits,
    /// The time `Now()` returns; the system clock when `None`.
    pub now: Option<jiff::Timestamp>,
    /// Seeds `Guid()` and `RandomString()`, so that results can be reproduced; the
    /// system's randomness when `None`.
    pub seed: Option<u64>,
    /// The tenant's default domain, for `DefaultDomain()`.
    pub tenant_domain: Option<String>,
    /// The values already taken in the target, for `SelectUniqueValue`.
    pub existing: Option<Arc<dyn ExistingValues>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("limits", &self.limits)
            .field("now", &self.now)
            .field("seed", &self.seed)
            .field("tenant_domain", &self.tenant_domain)
            .field("existing", &self.existing.as_ref().map(|_| ".."))
            .finish()
    }
}

impl Context {
    /// The random numbers for one batch.
    pub(crate) fn rng(&self) -> fastrand::Rng {
        match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        }
    }
}

/// The values a target already holds for an attribute, asked by `SelectUniqueValue`.
pub trait ExistingValues: Send + Sync {
    fn contains(&self, value: &str) -> bool;
}

/// A fixed set of existing values, compared without regard to case, as directory
/// lookups of user principal names and mail addresses are.
#[derive(Debug, Clone, Default)]
pub struct ExistingSet(rustc_hash::FxHashSet<String>);

impl ExistingSet {
    pub fn new<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> ExistingSet {
        ExistingSet(
            values
                .into_iter()
                .map(|v| v.as_ref().to_lowercase())
                .collect(),
        )
    }
}

impl ExistingValues for ExistingSet {
    fn contains(&self, value: &str) -> bool {
        self.0.contains(&value.to_lowercase())
    }
}
