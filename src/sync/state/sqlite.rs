//! The state of one job in a SQLite file: `scimap sync`'s default, one process.

use std::path::Path;

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;

use super::{corrupt_message, Backend, Escrow, Link, LinkHead, StateError};
use crate::scim::ObjectKind;
use crate::sqlite::Database;

/// The schema version this binary writes in a state file; a newer file is refused.
pub const SCHEMA_VERSION: i64 = 1;

const PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

/// `MIGRATIONS[n]` brings a file of version `n` to `n + 1`. Files from before versions
/// were recorded (version 0) already hold version 1's tables, hence `IF NOT EXISTS`.
const MIGRATIONS: &[&str] = &["
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
"];

pub(super) struct Sqlite(Database);

impl Sqlite {
    pub(super) fn open(path: Option<&Path>) -> Result<Sqlite, StateError> {
        let database = Database::open(path, PRAGMAS)?;
        migrate(&mut database.lock())?;
        Ok(Sqlite(database))
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.0.lock()
    }

    /// Numbers the next cycle after `last`, so that a dry run's copy names the cycle
    /// it would be.
    pub(super) fn continue_after(&self, last: i64) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO cycles (id, started) VALUES (?1, '')",
            params![last],
        )?;
        Ok(())
    }
}

/// Brings a state file to [`SCHEMA_VERSION`] in one transaction, or refuses one that a
/// newer scimap wrote.
fn migrate(connection: &mut Connection) -> Result<(), StateError> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StateError::Newer {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let transaction = connection.transaction()?;
    for migration in &MIGRATIONS[found as usize..] {
        transaction.execute_batch(migration)?;
    }
    transaction.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    transaction.commit()?;
    Ok(())
}

impl Backend for Sqlite {
    fn link(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Link>, StateError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT kind, source_id, target_id, exported, source_hash, active FROM links WHERE kind = ?1 AND source_id = ?2",
                params![kind.as_str(), source_id],
                link_row,
            )
            .optional()?)
    }

    fn links(&self, kind: ObjectKind) -> Result<Vec<Link>, StateError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT kind, source_id, target_id, exported, source_hash, active FROM links WHERE kind = ?1 ORDER BY source_id",
        )?;
        let links = statement
            .query_map(params![kind.as_str()], link_row)?
            .collect::<Result<_, _>>()?;
        Ok(links)
    }

    fn heads(&self, kind: ObjectKind, each: &mut dyn FnMut(LinkHead)) -> Result<(), StateError> {
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

    fn has_links(&self) -> Result<bool, StateError> {
        Ok(self
            .lock()
            .query_row("SELECT EXISTS (SELECT 1 FROM links)", [], |r| r.get(0))?)
    }

    fn save_link(&self, link: &Link) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO links (kind, source_id, target_id, exported, source_hash, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (kind, source_id) DO UPDATE SET target_id = ?3, exported = ?4, source_hash = ?5, active = ?6",
            params![link.kind.as_str(), link.source_id, link.target_id, link.exported.to_string(), link.source_hash as i64, link.active],
        )?;
        Ok(())
    }

    fn remove_link(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.lock().execute(
            "DELETE FROM links WHERE kind = ?1 AND source_id = ?2",
            params![kind.as_str(), source_id],
        )?;
        Ok(())
    }

    fn put_escrow(&self, entry: &Escrow) -> Result<(), StateError> {
        self.lock().execute(
            "INSERT INTO escrow (kind, source_id, attempts, next_attempt, error) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, source_id) DO UPDATE SET attempts = ?3, next_attempt = ?4, error = ?5",
            params![entry.kind.as_str(), entry.source_id, entry.attempts, entry.next_attempt.to_string(), entry.error],
        )?;
        Ok(())
    }

    fn escrow(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Escrow>, StateError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT kind, source_id, attempts, next_attempt, error FROM escrow WHERE kind = ?1 AND source_id = ?2",
                params![kind.as_str(), source_id],
                escrow_row,
            )
            .optional()?)
    }

    fn clear(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        self.lock().execute(
            "DELETE FROM escrow WHERE kind = ?1 AND source_id = ?2",
            params![kind.as_str(), source_id],
        )?;
        Ok(())
    }

    fn escrows(&self) -> Result<Vec<Escrow>, StateError> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT kind, source_id, attempts, next_attempt, error FROM escrow ORDER BY kind, source_id",
        )?;
        let entries = statement
            .query_map([], escrow_row)?
            .collect::<Result<_, _>>()?;
        Ok(entries)
    }

    fn value(&self, key: &str) -> Result<Option<String>, StateError> {
        Ok(self
            .lock()
            .query_row("SELECT value FROM job WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_value(&self, key: &str, value: Option<&str>) -> Result<(), StateError> {
        let connection = self.lock();
        match value {
            Some(value) => connection.execute(
                "INSERT INTO job (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, value],
            )?,
            None => connection.execute("DELETE FROM job WHERE key = ?1", params![key])?,
        };
        Ok(())
    }

    fn restart(&self) -> Result<(), StateError> {
        self.lock()
            .execute_batch("DELETE FROM escrow; DELETE FROM job WHERE key = 'quarantine';")?;
        Ok(())
    }

    fn begin_cycle(&self, now: Timestamp) -> Result<i64, StateError> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO cycles (started) VALUES (?1)",
            params![now.to_string()],
        )?;
        Ok(connection.last_insert_rowid())
    }

    fn finish_cycle(&self, id: i64, now: Timestamp, summary: &Json) -> Result<(), StateError> {
        self.lock().execute(
            "UPDATE cycles SET finished = ?2, summary = ?3 WHERE id = ?1",
            params![id, now.to_string(), summary.to_string()],
        )?;
        Ok(())
    }

    fn cycles(&self) -> Result<Vec<Json>, StateError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached("SELECT id, started, finished, summary FROM cycles WHERE finished IS NOT NULL ORDER BY id")?;
        let cycles = statement
            .query_map([], |r| {
                let summary: String = r.get(3)?;
                Ok(super::cycle_entry(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    &summary,
                ))
            })?
            .collect::<Result<_, _>>()?;
        Ok(cycles)
    }

    fn last_cycle(&self) -> Result<Option<i64>, StateError> {
        Ok(self
            .lock()
            .query_row("SELECT MAX(id) FROM cycles", [], |r| r.get(0))?)
    }
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

fn corrupt(
    table: &str,
    kind: &str,
    source_id: &str,
    column: usize,
    name: &str,
    e: impl std::fmt::Display,
) -> rusqlite::Error {
    let message = corrupt_message(table, kind, source_id, name, e);
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, message.into())
}

#[cfg(test)]
pub(super) mod tests {
    pub(crate) const VERSION_1: &str = super::MIGRATIONS[0];
}
