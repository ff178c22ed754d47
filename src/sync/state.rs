//! What the provisioning engine remembers between cycles, in SQLite: which source object
//! is which target object and what was last exported to it (for PATCH diffs), objects
//! in escrow with their retry schedule, and the history of cycles.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;

use super::FINGERPRINT;
use crate::scim::ObjectKind;
use crate::sqlite::Database;

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

pub struct State {
    database: Database,
    /// How the fingerprints in this state were made, when not as now.
    migrated_from: Option<String>,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS links (
    kind        TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    exported    TEXT NOT NULL,
    source_hash INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    PRIMARY KEY (kind, source_id)
);
CREATE TABLE IF NOT EXISTS escrow (
    kind         TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_attempt TEXT NOT NULL,
    error        TEXT NOT NULL,
    PRIMARY KEY (kind, source_id)
);
CREATE TABLE IF NOT EXISTS job (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cycles (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    started  TEXT NOT NULL,
    finished TEXT,
    summary  TEXT
);
";

impl State {
    pub fn open(path: &Path) -> Result<State, StateError> {
        State::with(Database::open(Some(path), SCHEMA)?)
    }

    pub fn in_memory() -> Result<State, StateError> {
        State::with(Database::open(None, SCHEMA)?)
    }

    fn with(database: Database) -> Result<State, StateError> {
        let migrated_from = fingerprint_migration(&database.lock())?;
        Ok(State {
            database,
            migrated_from,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.database.lock()
    }

    /// How this state's fingerprints were made before it was opened, when that was
    /// not [`FINGERPRINT`]: the next cycle then evaluates every linked object again and
    /// sends only what differs from what was last exported.
    pub fn fingerprints_migrated_from(&self) -> Option<&str> {
        self.migrated_from.as_deref()
    }

    /// A copy in memory of the links, for a dry run that must leave this state alone.
    pub fn copy_in_memory(&self) -> Result<State, StateError> {
        let copy = State::in_memory()?;
        for kind in ObjectKind::ALL {
            for link in self.links(kind)? {
                copy.save_link(&link)?;
            }
        }
        for entry in self.escrows()? {
            copy.put_escrow(&entry)?;
        }
        if let Some(quarantine) = self.quarantine()? {
            copy.set_quarantine(&quarantine)?;
        }
        // Numbered on from here, so that a dry run's log names the cycle it would be.
        let last: Option<i64> = self
            .lock()
            .query_row("SELECT MAX(id) FROM cycles", [], |r| r.get(0))?;
        if let Some(last) = last {
            copy.lock().execute(
                "INSERT INTO cycles (id, started) VALUES (?1, '')",
                params![last],
            )?;
        }
        Ok(copy)
    }

    pub fn link(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Link>, StateError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT kind, source_id, target_id, exported, source_hash, active FROM links WHERE kind = ?1 AND source_id = ?2",
                params![kind.as_str(), source_id],
                link_row,
            )
            .optional()?)
    }

    pub fn links(&self, kind: ObjectKind) -> Result<Vec<Link>, StateError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT kind, source_id, target_id, exported, source_hash, active FROM links WHERE kind = ?1 ORDER BY source_id",
        )?;
        let links = statement
            .query_map(params![kind.as_str()], link_row)?
            .collect::<Result<_, _>>()?;
        Ok(links)
    }

    /// The links of a kind without their exports, which are read only for the objects
    /// a cycle acts on.
    /// Hands each link of a kind to `each`, without what it exported: a million links
    /// are read without being held twice.
    pub fn heads(
        &self,
        kind: ObjectKind,
        mut each: impl FnMut(LinkHead),
    ) -> Result<(), StateError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT source_id, target_id, source_hash, active FROM links WHERE kind = ?1",
        )?;
        let mut rows = statement.query(params![kind.as_str()])?;
        while let Some(r) = rows.next()? {
            each(LinkHead {
                source_id: r.get(0)?,
                target_id: r.get(1)?,
                source_hash: r.get::<_, i64>(2)? as u64,
                active: r.get(3)?,
            });
        }
        Ok(())
    }

    /// Records a link, replacing the one for the same source object.
    pub fn save_link(&self, link: &Link) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO links (kind, source_id, target_id, exported, source_hash, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (kind, source_id) DO UPDATE SET target_id = ?3, exported = ?4, source_hash = ?5, active = ?6",
            params![link.kind.as_str(), link.source_id, link.target_id, link.exported.to_string(), link.source_hash as i64, link.active],
        )?;
        Ok(())
    }

    pub fn remove_link(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.lock().execute(
            "DELETE FROM links WHERE kind = ?1 AND source_id = ?2",
            params![kind.as_str(), source_id],
        )?;
        Ok(())
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
        self.put_escrow(&entry)?;
        Ok(Some(entry))
    }

    fn put_escrow(&self, entry: &Escrow) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO escrow (kind, source_id, attempts, next_attempt, error) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, source_id) DO UPDATE SET attempts = ?3, next_attempt = ?4, error = ?5",
            params![entry.kind.as_str(), entry.source_id, entry.attempts, entry.next_attempt.to_string(), entry.error],
        )?;
        Ok(())
    }

    pub fn escrow(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Escrow>, StateError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT kind, source_id, attempts, next_attempt, error FROM escrow WHERE kind = ?1 AND source_id = ?2",
                params![kind.as_str(), source_id],
                escrow_row,
            )
            .optional()?)
    }

    /// Takes an object out of escrow (it succeeded, or it is gone).
    pub fn clear(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.lock().execute(
            "DELETE FROM escrow WHERE kind = ?1 AND source_id = ?2",
            params![kind.as_str(), source_id],
        )?;
        Ok(())
    }

    /// Every object in escrow.
    pub fn escrows(&self) -> Result<Vec<Escrow>, StateError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT kind, source_id, attempts, next_attempt, error FROM escrow ORDER BY kind, source_id",
        )?;
        let entries = statement
            .query_map([], escrow_row)?
            .collect::<Result<_, _>>()?;
        Ok(entries)
    }

    pub fn quarantine(&self) -> Result<Option<Quarantine>, StateError> {
        let value: Option<String> = self
            .lock()
            .query_row("SELECT value FROM job WHERE key = 'quarantine'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(value.and_then(|v| {
            let (since, reason) = v.split_once(' ')?;
            Some(Quarantine {
                reason: reason.to_string(),
                since: since.parse().ok()?,
            })
        }))
    }

    pub fn set_quarantine(&self, quarantine: &Quarantine) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO job (key, value) VALUES ('quarantine', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            params![format!("{} {}", quarantine.since, quarantine.reason)],
        )?;
        Ok(())
    }

    pub fn lift_quarantine(&self) -> Result<(), StateError> {
        self.lock()
            .execute("DELETE FROM job WHERE key = 'quarantine'", [])?;
        Ok(())
    }

    /// Entra's "restart provisioning": escrow and quarantine cleared, links kept.
    pub fn restart(&self) -> Result<(), StateError> {
        self.lock()
            .execute_batch("DELETE FROM escrow; DELETE FROM job WHERE key = 'quarantine';")?;
        Ok(())
    }

    /// Starts a cycle; its id.
    /// Starts a cycle, recording [`FINGERPRINT`] as the algorithm of the fingerprints
    /// it writes.
    pub fn begin_cycle(&self, now: Timestamp) -> Result<i64, StateError> {
        self.lock().execute(
            "INSERT INTO job (key, value) VALUES ('fingerprint', ?1)
             ON CONFLICT (key) DO UPDATE SET value = ?1",
            params![FINGERPRINT],
        )?;
        let connection = self.lock();
        connection.execute(
            "INSERT INTO cycles (started) VALUES (?1)",
            params![now.to_string()],
        )?;
        Ok(connection.last_insert_rowid())
    }

    pub fn finish_cycle(&self, id: i64, now: Timestamp, summary: &Json) -> Result<(), StateError> {
        self.lock().execute(
            "UPDATE cycles SET finished = ?2, summary = ?3 WHERE id = ?1",
            params![id, now.to_string(), summary.to_string()],
        )?;
        Ok(())
    }

    /// Finished cycles, oldest first, as `{"id", "started", "finished", "summary"}`.
    pub fn cycles(&self) -> Result<Vec<Json>, StateError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached("SELECT id, started, finished, summary FROM cycles WHERE finished IS NOT NULL ORDER BY id")?;
        let cycles = statement
            .query_map([], |r| {
                let summary: String = r.get(3)?;
                Ok(serde_json::json!({
                    "id": r.get::<_, i64>(0)?,
                    "started": r.get::<_, String>(1)?,
                    "finished": r.get::<_, String>(2)?,
                    "summary": serde_json::from_str::<Json>(&summary).unwrap_or(Json::Null),
                }))
            })?
            .collect::<Result<_, _>>()?;
        Ok(cycles)
    }
}

/// The algorithm the state's links were fingerprinted with, when not [`FINGERPRINT`]
/// (states from before it was recorded used Rust's `DefaultHasher`, whose algorithm
/// may change with the toolchain). Read only: a dry run leaves the state alone.
fn fingerprint_migration(connection: &Connection) -> Result<Option<String>, StateError> {
    let stored: Option<String> = connection
        .query_row("SELECT value FROM job WHERE key = 'fingerprint'", [], |r| {
            r.get(0)
        })
        .optional()?;
    if stored.as_deref() == Some(FINGERPRINT) {
        return Ok(None);
    }
    let linked: bool =
        connection.query_row("SELECT EXISTS (SELECT 1 FROM links)", [], |r| r.get(0))?;
    Ok(linked.then(|| stored.unwrap_or_else(|| "Rust's DefaultHasher (not recorded)".into())))
}

/// A row's kind, which only this module writes.
fn kind_at(r: &rusqlite::Row<'_>, table: &str, source_id: &str) -> rusqlite::Result<ObjectKind> {
    let kind: String = r.get(0)?;
    ObjectKind::from_name(&kind)
        .ok_or_else(|| corrupt(table, &kind, source_id, 0, "kind", "not User or Group"))
}

fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Link> {
    let source_id: String = r.get(1)?;
    let kind = kind_at(r, "links", &source_id)?;
    let exported: String = r.get(3)?;
    let exported = serde_json::from_str(&exported)
        .map_err(|e| corrupt("links", kind.as_str(), &source_id, 3, "exported", e))?;
    Ok(Link {
        target_id: r.get(2)?,
        exported,
        source_hash: r.get::<_, i64>(4)? as u64,
        active: r.get(5)?,
        kind,
        source_id,
    })
}

fn escrow_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Escrow> {
    let source_id: String = r.get(1)?;
    let kind = kind_at(r, "escrow", &source_id)?;
    let next: String = r.get(3)?;
    let next_attempt = next
        .parse()
        .map_err(|e| corrupt("escrow", kind.as_str(), &source_id, 3, "next_attempt", e))?;
    Ok(Escrow {
        attempts: r.get(2)?,
        next_attempt,
        error: r.get(4)?,
        kind,
        source_id,
    })
}

/// A row whose stored value cannot be read: an error naming the table, the object and
/// the column, never a silent default (a null export would resend everything; an
/// unreadable retry time would ignore escrow).
fn corrupt(
    table: &str,
    kind: &str,
    source_id: &str,
    column: usize,
    name: &str,
    e: impl std::fmt::Display,
) -> rusqlite::Error {
    let message = format!("the {table} row of {kind} {source_id}: `{name}` cannot be read: {e}");
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
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
        let state = State::in_memory().unwrap();
        state
            .lock()
            .execute(
                "INSERT INTO links VALUES ('User', 'u-17', 't', '{not json', 5, 1)",
                [],
            )
            .unwrap();
        let error = state.links(ObjectKind::User).unwrap_err().to_string();
        assert!(
            error.contains("the links row of User u-17: `exported`"),
            "{error}"
        );
        state
            .lock()
            .execute(
                "INSERT INTO escrow VALUES ('User', 'u-18', 1, 'soon', 'x')",
                [],
            )
            .unwrap();
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
            let old = State::open(&path).unwrap();
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

    const PINNED: u64 = 815_671_170_538_180_838;
}
