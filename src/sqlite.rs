//! One SQLite connection behind a mutex, opened with its schema: the server's store and
//! the sync engine's state each keep one. The server's store reads through a pool of
//! [`Readers`] beside it.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::config::DbConfig;
use rusqlite::Connection;

#[cfg(feature = "server")]
mod readers;
#[cfg(feature = "server")]
pub(crate) use readers::{Reader, Readers};

pub(crate) struct Database(Mutex<Connection>);

impl Database {
    /// The database at `path`, or a new one in memory; `schema` is run on it.
    pub(crate) fn open(path: Option<&Path>, schema: &str) -> rusqlite::Result<Database> {
        let connection = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        configure(&connection, schema)?;
        Ok(Database(Mutex::new(connection)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each change is one
        // statement or transaction), so the poison can be ignored.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs `schema` on a new connection, with the query planner's stability guarantee on:
/// without it, a plan that depends on a bound value (`kind = ?2` against the partial
/// index of groups' names) marks the statement expired whenever that parameter is bound
/// again, and SQLite parses and plans every cached statement anew on each use.
pub(crate) fn configure(connection: &Connection, schema: &str) -> rusqlite::Result<()> {
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.execute_batch(schema)
}
