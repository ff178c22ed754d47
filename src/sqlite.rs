//! One SQLite connection behind a mutex, opened with its schema: the server's store and
//! the sync engine's state each keep one.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

pub(crate) struct Database(Mutex<Connection>);

impl Database {
    /// The database at `path`, or a new one in memory; `schema` is run on it.
    pub(crate) fn open(path: Option<&Path>, schema: &str) -> rusqlite::Result<Database> {
        let connection = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        connection.execute_batch(schema)?;
        Ok(Database(Mutex::new(connection)))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each change is one
        // statement or transaction), so the poison can be ignored.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
