//! The server store's reading connections.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use rusqlite::Connection;

use super::configure;

/// Connections that only read, beside a database's writer: in WAL mode each reads the
/// last commit while the writer writes, so reads wait neither for writes nor for each
/// other. Opened when first needed, at most `most` of them; past that, a reader waits
/// for one to be returned.
pub(crate) struct Readers {
    path: PathBuf,
    pragmas: &'static str,
    most: usize,
    /// The idle connections, and how many are open.
    idle: Mutex<(Vec<Connection>, usize)>,
    returned: Condvar,
}

impl Readers {
    pub(crate) fn new(path: &Path, pragmas: &'static str, most: usize) -> Readers {
        Readers {
            path: path.to_path_buf(),
            pragmas,
            most: most.max(1),
            idle: Mutex::new((Vec::new(), 0)),
            returned: Condvar::new(),
        }
    }

    pub(crate) fn get(&self) -> rusqlite::Result<Reader<'_>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(connection) = idle.0.pop() {
                return Ok(self.lend(connection));
            }
            if idle.1 < self.most {
                idle.1 += 1;
                drop(idle);
                return match self.open() {
                    Ok(connection) => Ok(self.lend(connection)),
                    Err(e) => {
                        self.idle.lock().unwrap_or_else(|p| p.into_inner()).1 -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open(&self.path)?;
        configure(&connection, self.pragmas)?;
        connection.execute_batch("PRAGMA query_only = ON")?;
        Ok(connection)
    }

    fn lend(&self, connection: Connection) -> Reader<'_> {
        Reader {
            readers: self,
            connection: Some(connection),
        }
    }
}

/// A reading connection, back to its pool when dropped.
pub(crate) struct Reader<'r> {
    readers: &'r Readers,
    connection: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.connection.as_ref().expect("held until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut idle = self.readers.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.0.push(connection);
            drop(idle);
            self.readers.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::Database;

    #[test]
    fn readers_see_every_commit_and_stay_within_their_number() {
        let dir = std::env::temp_dir().join(format!("scimap-readers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("readers.db");
        let pragmas = "PRAGMA journal_mode = WAL;";
        let writer = Database::open(Some(&path), pragmas).unwrap();
        writer
            .lock()
            .execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        let readers = Readers::new(&path, pragmas, 2);
        let sum = |r: &Connection| -> i64 {
            r.query_row("SELECT SUM(n) FROM t", [], |row| row.get(0))
                .unwrap()
        };
        let (first, second) = (readers.get().unwrap(), readers.get().unwrap());
        assert_eq!(sum(&first), 1);
        writer
            .lock()
            .execute("INSERT INTO t VALUES (2)", [])
            .unwrap();
        assert_eq!(sum(&second), 3);
        assert!(second.execute("INSERT INTO t VALUES (3)", []).is_err());
        std::thread::scope(|scope| {
            let third = scope.spawn(|| sum(&readers.get().unwrap()));
            drop(first);
            assert_eq!(third.join().unwrap(), 3);
        });
        drop(second);
        assert_eq!(readers.idle.lock().unwrap().1, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
