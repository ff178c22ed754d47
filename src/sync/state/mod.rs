//! What the provisioning engine remembers between cycles: which source object is which
//! target object and what was last exported to it (for PATCH diffs), objects in escrow
//! with their retry schedule, quarantine, and the history of cycles. One job's state
//! lives in a SQLite file (`sqlite`) or, for workers sharing jobs, in PostgreSQL beside
//! the job's lease (`postgres`), where every write checks that the lease is still held.

#[cfg(feature = "postgres")]
pub mod postgres;
mod sqlite;

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value as Json;

use super::FINGERPRINT;
use crate::scim::ObjectKind;
use sqlite::Sqlite;
pub use sqlite::SCHEMA_VERSION;

/// A source object linked to a target object.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub kind: ObjectKind,
    pub source_id: String,
    pub target_id: String,
    /// The resource as last exported: what the next PATCH is computed against.
    pub exported: Json,
    /// A fingerprint of the source record last seen, so that an incremental cycle
    /// skips objects that did not change.
    pub source_hash: u64,
    /// Whether the object is in scope and enabled on the target (a disabled one is
    /// not disabled again).
    pub active: bool,
}

/// A link without what was exported: all that planning a cycle needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkHead {
    pub source_id: String,
    pub target_id: String,
    pub source_hash: u64,
    pub active: bool,
}

/// Why and since when the job is quarantined.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantine {
    pub reason: String,
    pub since: Timestamp,
}

/// An object whose last action failed, retried on Entra's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Escrow {
    pub kind: ObjectKind,
    pub source_id: String,
    pub attempts: u32,
    pub next_attempt: Timestamp,
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("sync state: {0}")]
    Database(#[from] rusqlite::Error),
    /// A time past what a timestamp can hold (an escrow's next attempt).
    #[error("sync state: {0}")]
    Time(#[from] jiff::Error),
    /// A newer scimap wrote the state.
    #[error("sync state: schema version {found}, newer than this scimap's {supported}: use a newer scimap")]
    Newer { found: i64, supported: i64 },
    #[error("sync state (PostgreSQL): {0}")]
    Postgres(String),
    /// The database cannot be reached now; a later attempt may succeed.
    #[error("sync state: the database cannot be reached: {0}")]
    Unavailable(String),
    /// The worker no longer holds the job's lease (it expired, or another worker took
    /// the job over): nothing more is written for the job.
    #[error("the lease on job `{job}` was lost (expired or taken over); this worker stopped writing for it")]
    LeaseLost { job: String },
}

/// How long after its `attempts`-th failure an object is tried again: 6 h, 12 h, then
/// every 24 h (Entra's schedule); `None` past 28 days, when the entry is dropped.
pub fn retry_delay(attempts: u32) -> Option<SignedDuration> {
    let delay = |attempt: u32| match attempt {
        0 | 1 => 6,
        2 => 12,
        _ => 24,
    };
    let waited: i64 = (1..=attempts.max(1)).map(delay).sum();
    (waited <= 28 * 24).then(|| SignedDuration::from_hours(delay(attempts)))
}

/// Where a job's state lives: each backend stores and reads; [`State`] holds the rules.
pub(super) trait Backend: Send + Sync {
    fn link(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Link>, StateError>;
    fn links(&self, kind: ObjectKind) -> Result<Vec<Link>, StateError>;
    fn heads(&self, kind: ObjectKind, each: &mut dyn FnMut(LinkHead)) -> Result<(), StateError>;
    fn has_links(&self) -> Result<bool, StateError>;
    fn save_link(&self, link: &Link) -> Result<(), StateError>;
    fn remove_link(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError>;
    fn put_escrow(&self, entry: &Escrow) -> Result<(), StateError>;
    fn escrow(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Escrow>, StateError>;
    fn clear(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError>;
    fn escrows(&self) -> Result<Vec<Escrow>, StateError>;
    /// One of the job's own values (`quarantine`, `fingerprint`); `None` removes it.
    fn value(&self, key: &str) -> Result<Option<String>, StateError>;
    fn set_value(&self, key: &str, value: Option<&str>) -> Result<(), StateError>;
    /// Escrow and quarantine cleared together.
    fn restart(&self) -> Result<(), StateError>;
    fn begin_cycle(&self, now: Timestamp) -> Result<i64, StateError>;
    fn finish_cycle(&self, id: i64, now: Timestamp, summary: &Json) -> Result<(), StateError>;
    fn cycles(&self) -> Result<Vec<Json>, StateError>;
    fn last_cycle(&self) -> Result<Option<i64>, StateError>;
}

/// What one job remembers: in a SQLite file ([`State::open`]) for `scimap sync`, or in
/// PostgreSQL beside the job's lease for `scimap sync worker`.
pub struct State {
    backend: Box<dyn Backend>,
    /// How the fingerprints in this state were made, when not as now.
    migrated_from: Option<String>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    /// The state in a SQLite file, made or migrated to this binary's schema; a file a
    /// newer scimap wrote is refused.
    pub fn open(path: &Path) -> Result<State, StateError> {
        State::with(Box::new(Sqlite::open(Some(path))?))
    }

    pub fn in_memory() -> Result<State, StateError> {
        State::with(Box::new(Sqlite::open(None)?))
    }

    pub(super) fn with(backend: Box<dyn Backend>) -> Result<State, StateError> {
        let migrated_from = fingerprint_migration(&*backend)?;
        Ok(State {
            backend,
            migrated_from,
        })
    }

    /// How this state's fingerprints were made before it was opened, when that was
    /// not [`FINGERPRINT`]: the next cycle then evaluates every linked object again and
    /// sends only what differs from what was last exported.
    pub fn fingerprints_migrated_from(&self) -> Option<&str> {
        self.migrated_from.as_deref()
    }

    /// A copy in memory of the links, for a dry run that must leave this state alone.
    pub fn copy_in_memory(&self) -> Result<State, StateError> {
        let copy = Sqlite::open(None)?;
        for kind in ObjectKind::ALL {
            for link in self.links(kind)? {
                copy.save_link(&link)?;
            }
        }
        for entry in self.escrows()? {
            copy.put_escrow(&entry)?;
        }
        if let Some(quarantine) = self.backend.value(QUARANTINE)? {
            copy.set_value(QUARANTINE, Some(&quarantine))?;
        }
        if let Some(last) = self.backend.last_cycle()? {
            copy.continue_after(last)?;
        }
        State::with(Box::new(copy))
    }

    pub fn link(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Link>, StateError> {
        self.backend.link(kind, source_id)
    }

    pub fn links(&self, kind: ObjectKind) -> Result<Vec<Link>, StateError> {
        self.backend.links(kind)
    }

    /// Hands each link of a kind to `each`, without what it exported (read only for
    /// the objects a cycle acts on): a million links are read without being held twice.
    pub fn heads(
        &self,
        kind: ObjectKind,
        mut each: impl FnMut(LinkHead),
    ) -> Result<(), StateError> {
        self.backend.heads(kind, &mut each)
    }

    /// Records a link, replacing the one for the same source object.
    pub fn save_link(&self, link: &Link) -> Result<(), StateError> {
        self.backend.save_link(link)
    }

    pub fn remove_link(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.backend.remove_link(kind, source_id)
    }

    /// Puts an object in escrow after a failure (or records one more failure), with its
    /// next attempt on the schedule; `None` when the schedule is over and the entry is
    /// dropped.
    pub fn fail(
        &self,
        kind: ObjectKind,
        source_id: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<Option<Escrow>, StateError> {
        let attempts = self.escrow(kind, source_id)?.map_or(0, |e| e.attempts) + 1;
        let Some(delay) = retry_delay(attempts) else {
            self.clear(kind, source_id)?;
            return Ok(None);
        };
        let next_attempt = now.checked_add(delay).map_err(StateError::Time)?;
        let entry = Escrow {
            kind,
            source_id: source_id.into(),
            attempts,
            next_attempt,
            error: error.into(),
        };
        self.backend.put_escrow(&entry)?;
        Ok(Some(entry))
    }

    pub fn escrow(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Escrow>, StateError> {
        self.backend.escrow(kind, source_id)
    }

    /// Takes an object out of escrow (it succeeded, or it is gone).
    pub fn clear(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.backend.clear(kind, source_id)
    }

    /// Every object in escrow.
    pub fn escrows(&self) -> Result<Vec<Escrow>, StateError> {
        self.backend.escrows()
    }

    pub fn quarantine(&self) -> Result<Option<Quarantine>, StateError> {
        let value = self.backend.value(QUARANTINE)?;
        Ok(value.and_then(|v| {
            let (since, reason) = v.split_once(' ')?;
            Some(Quarantine {
                reason: reason.to_string(),
                since: since.parse().ok()?,
            })
        }))
    }

    pub fn set_quarantine(&self, quarantine: &Quarantine) -> Result<(), StateError> {
        let value = format!("{} {}", quarantine.since, quarantine.reason);
        self.backend.set_value(QUARANTINE, Some(&value))
    }

    pub fn lift_quarantine(&self) -> Result<(), StateError> {
        self.backend.set_value(QUARANTINE, None)
    }

    /// Entra's "restart provisioning": escrow and quarantine cleared, links kept.
    pub fn restart(&self) -> Result<(), StateError> {
        self.backend.restart()
    }

    /// Starts a cycle, recording [`FINGERPRINT`] as the algorithm of the fingerprints
    /// it writes; the cycle's id.
    pub fn begin_cycle(&self, now: Timestamp) -> Result<i64, StateError> {
        self.backend.set_value(FINGERPRINT_KEY, Some(FINGERPRINT))?;
        self.backend.begin_cycle(now)
    }

    pub fn finish_cycle(&self, id: i64, now: Timestamp, summary: &Json) -> Result<(), StateError> {
        self.backend.finish_cycle(id, now, summary)
    }

    /// Finished cycles, oldest first, as `{"id", "started", "finished", "summary"}`.
    pub fn cycles(&self) -> Result<Vec<Json>, StateError> {
        self.backend.cycles()
    }
}

const QUARANTINE: &str = "quarantine";
const FINGERPRINT_KEY: &str = "fingerprint";

/// A finished cycle as [`State::cycles`] gives it.
fn cycle_entry(id: i64, started: String, finished: String, summary: &str) -> Json {
    serde_json::json!({
        "id": id,
        "started": started,
        "finished": finished,
        "summary": serde_json::from_str::<Json>(summary).unwrap_or(Json::Null),
    })
}

/// The algorithm the state's links were fingerprinted with, when not [`FINGERPRINT`]
/// (states from before it was recorded used Rust's `DefaultHasher`, whose algorithm
/// may change with the toolchain). Read only: a dry run leaves the state alone.
fn fingerprint_migration(backend: &dyn Backend) -> Result<Option<String>, StateError> {
    let stored = backend.value(FINGERPRINT_KEY)?;
    if stored.as_deref() == Some(FINGERPRINT) {
        return Ok(None);
    }
    Ok(backend
        .has_links()?
        .then(|| stored.unwrap_or_else(|| "Rust's DefaultHasher (not recorded)".into())))
}

/// A stored value that cannot be read: a message naming the table, the object and the
/// column, never a silent default (a null export would resend everything; an
/// unreadable retry time would ignore escrow).
fn corrupt_message(
    table: &str,
    kind: &str,
    source_id: &str,
    name: &str,
    e: impl std::fmt::Display,
) -> String {
    format!("the {table} row of {kind} {source_id}: `{name}` cannot be read: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn links_round_trip_and_replace() {
        let state = State::in_memory().unwrap();
        let mut link = Link {
            kind: ObjectKind::User,
            source_id: "s1".into(),
            target_id: "t1".into(),
            exported: json!({"userName": "a"}),
            source_hash: u64::MAX,
            active: true,
        };
        state.save_link(&link).unwrap();
        assert_eq!(
            state.link(ObjectKind::User, "s1").unwrap(),
            Some(link.clone())
        );
        assert_eq!(state.link(ObjectKind::Group, "s1").unwrap(), None);
        link.active = false;
        link.exported = json!({"userName": "a", "active": false});
        state.save_link(&link).unwrap();
        assert_eq!(state.links(ObjectKind::User).unwrap(), [link]);
        state.remove_link(ObjectKind::User, "s1").unwrap();
        assert!(state.links(ObjectKind::User).unwrap().is_empty());
    }

    #[test]
    fn escrow_follows_entras_schedule() {
        let delays: Vec<Option<i64>> = (1..=32)
            .map(|a| retry_delay(a).map(|d| d.as_hours()))
            .collect();
        assert_eq!(&delays[..4], [Some(6), Some(12), Some(24), Some(24)]);
        let last = delays.iter().rposition(Option::is_some).unwrap() + 1;
        let total: i64 = delays.iter().flatten().sum();
        assert!(
            total <= 28 * 24 && total + 24 > 28 * 24,
            "retries end after 28 days ({last} attempts, {total} h)"
        );
        let state = State::in_memory().unwrap();
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let first = state
            .fail(ObjectKind::User, "s1", "409 uniqueness", now)
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.attempts, first.next_attempt.to_string()),
            (1, "2026-11-29T18:00:00Z".into())
        );
        let second = state
            .fail(ObjectKind::User, "s1", "409 again", now)
            .unwrap()
            .unwrap();
        assert_eq!((second.attempts, second.error.as_str()), (2, "409 again"));
        for _ in 3..=last {
            state
                .fail(ObjectKind::User, "s1", "still", now)
                .unwrap()
                .unwrap();
        }
        assert_eq!(
            state.fail(ObjectKind::User, "s1", "still", now).unwrap(),
            None,
            "dropped after 28 days"
        );
        assert_eq!(state.escrow(ObjectKind::User, "s1").unwrap(), None);
    }

    #[test]
    fn cycles_are_recorded() {
        let state = State::in_memory().unwrap();
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        let id = state.begin_cycle(now).unwrap();
        assert!(
            state.cycles().unwrap().is_empty(),
            "an unfinished cycle is not history yet"
        );
        state.finish_cycle(id, now, &json!({"created": 3})).unwrap();
        assert_eq!(state.cycles().unwrap()[0]["summary"], json!({"created": 3}));
    }

    #[test]
    fn quarantine_and_restart() {
        let state = State::in_memory().unwrap();
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        assert_eq!(state.quarantine().unwrap(), None);
        let quarantine = Quarantine {
            reason: "the target refused the token".into(),
            since: now,
        };
        state.set_quarantine(&quarantine).unwrap();
        state.fail(ObjectKind::User, "s1", "409", now).unwrap();
        let copy = state.copy_in_memory().unwrap();
        assert_eq!(copy.quarantine().unwrap(), Some(quarantine.clone()));
        assert_eq!(copy.escrows().unwrap().len(), 1);
        state.restart().unwrap();
        assert_eq!(state.quarantine().unwrap(), None);
        assert!(state.escrows().unwrap().is_empty());
        assert_eq!(
            copy.quarantine().unwrap(),
            Some(quarantine),
            "a copy is apart"
        );
    }

    #[test]
    fn fingerprints_are_pinned_and_ignore_key_order() {
        use crate::sync::plan::fingerprint;
        let a = json!({"objectId": "1", "givenName": "Zoë", "proxyAddresses": ["a", "b"], "n": 2});
        let b = json!({"n": 2, "proxyAddresses": ["a", "b"], "givenName": "Zoë", "objectId": "1"});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        // Persisted in states: a change here is a migration (FINGERPRINT), never silent.
        let canonical = r#"{"givenName":"Zoë","n":2,"objectId":"1","proxyAddresses":["a","b",],}"#;
        assert_eq!(
            fingerprint(&a),
            xxhash_rust::xxh3::xxh3_64(canonical.as_bytes())
        );
        assert_eq!(fingerprint(&a), PINNED);
        let mut c = a.clone();
        c["proxyAddresses"] = json!(["b", "a"]);
        assert_ne!(fingerprint(&a), fingerprint(&c), "list order counts");
    }

    #[test]
    fn corrupt_rows_are_errors_that_name_them() {
        let raw = Sqlite::open(None).unwrap();
        raw.lock()
            .execute_batch(
                "INSERT INTO links VALUES ('User', 'u-17', 't', '{not json', 5, 1);
                 INSERT INTO escrow VALUES ('User', 'u-18', 1, 'soon', 'x');",
            )
            .unwrap();
        let state = State::with(Box::new(raw)).unwrap();
        let error = state.links(ObjectKind::User).unwrap_err().to_string();
        assert!(
            error.contains("the links row of User u-17: `exported`"),
            "{error}"
        );
        let error = state.escrows().unwrap_err().to_string();
        assert!(
            error.contains("the escrow row of User u-18: `next_attempt`"),
            "{error}"
        );
    }

    #[test]
    fn a_state_from_before_the_recorded_fingerprint_says_so_once() {
        let dir = std::env::temp_dir().join(format!("scimap-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        {
            let old = Sqlite::open(Some(&path)).unwrap();
            old.lock()
                .execute(
                    "INSERT INTO links VALUES ('User', 'u1', 't1', '{}', 42, 1)",
                    [],
                )
                .unwrap();
        }
        let state = State::open(&path).unwrap();
        assert_eq!(
            state.fingerprints_migrated_from(),
            Some("Rust's DefaultHasher (not recorded)")
        );
        state.begin_cycle(Timestamp::now()).unwrap();
        drop(state);
        assert_eq!(
            State::open(&path).unwrap().fingerprints_migrated_from(),
            None
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_state_file_from_a_newer_scimap_is_refused_and_old_files_migrate() {
        let dir = std::env::temp_dir().join(format!("scimap-sv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (old, newer) = (dir.join("old.db"), dir.join("newer.db"));
        {
            // A file from before versions were recorded: the tables, version 0.
            let connection = rusqlite::Connection::open(&old).unwrap();
            connection
                .execute_batch(&sqlite::tests::VERSION_1.replace("IF NOT EXISTS ", ""))
                .unwrap();
            connection
                .execute(
                    "INSERT INTO links VALUES ('User', 'u1', 't1', '{}', 42, 1)",
                    [],
                )
                .unwrap();
            let connection = rusqlite::Connection::open(&newer).unwrap();
            connection
                .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
                .unwrap();
        }
        let state = State::open(&old).unwrap();
        assert_eq!(state.links(ObjectKind::User).unwrap().len(), 1);
        let error = State::open(&newer).unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "schema version {}, newer than this scimap's {SCHEMA_VERSION}",
                SCHEMA_VERSION + 1
            )),
            "{error}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    const PINNED: u64 = 815_671_170_538_180_838;
}
