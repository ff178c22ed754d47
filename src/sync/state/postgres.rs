//! Jobs' state in PostgreSQL, shared by `scimap sync worker` processes: each row carries
//! its job's name, and every write first checks, under a share lock on the job's row,
//! that this worker's lease is still the job's current one and has not expired. A
//! worker whose lease was taken over therefore cannot write another link, escrow entry
//! or cycle for the job, even if it has not noticed yet.
//!
//! The client is the synchronous `postgres` crate on a thread of its own (a
//! [`Session`]): the engine calls the state from async code, where that client's own
//! `block_on` is forbidden. A dropped connection is made again on the next call.

use std::sync::mpsc;
use std::time::Duration;

use jiff::Timestamp;
use postgres::{Client, GenericClient, NoTls, Transaction};
use serde_json::Value as Json;

use super::{corrupt_message, Backend, Escrow, Link, LinkHead, State, StateError};
use crate::scim::ObjectKind;

/// The schema version of the sync tables this binary writes; a newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

/// `MIGRATIONS[n]` brings the sync tables from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
CREATE TABLE scimap_sync_jobs (
    name        TEXT PRIMARY KEY,
    definition  TEXT NOT NULL,
    updated     TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_run    TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    lease_epoch BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX scimap_sync_jobs_due ON scimap_sync_jobs(next_run);
CREATE TABLE scimap_sync_links (
    job         TEXT NOT NULL REFERENCES scimap_sync_jobs(name) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    exported    TEXT NOT NULL,
    source_hash BIGINT NOT NULL,
    active      BOOLEAN NOT NULL,
    PRIMARY KEY (job, kind, source_id)
);
CREATE TABLE scimap_sync_escrow (
    job          TEXT NOT NULL REFERENCES scimap_sync_jobs(name) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    source_id    TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_attempt TEXT NOT NULL,
    error        TEXT NOT NULL,
    PRIMARY KEY (job, kind, source_id)
);
CREATE TABLE scimap_sync_values (
    job   TEXT NOT NULL REFERENCES scimap_sync_jobs(name) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (job, key)
);
CREATE TABLE scimap_sync_cycles (
    job      TEXT NOT NULL REFERENCES scimap_sync_jobs(name) ON DELETE CASCADE,
    id       BIGINT NOT NULL,
    worker   TEXT NOT NULL,
    started  TEXT NOT NULL,
    finished TEXT,
    summary  TEXT,
    PRIMARY KEY (job, id)
);
"];

/// The advisory lock workers take to migrate one at a time (the server's is 0x5c1a_0001).
const MIGRATION_LOCK: i64 = 0x5c1a_0002;

/// How long one statement may run before the database cancels it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Links read per query when a cycle plans: a million links are read in pages.
const PAGE: i64 = 10_000;

type Task = Box<dyn FnOnce(&mut Connector) + Send>;

/// One connection to PostgreSQL on a thread of its own; calls queue and run in turn.
pub struct Session {
    tasks: Option<mpsc::Sender<Task>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Connector {
    config: postgres::Config,
    client: Option<Client>,
}

impl Connector {
    fn client(&mut self) -> Result<&mut Client, StateError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            self.client = Some(self.config.connect(NoTls).map_err(error)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

impl Session {
    /// A session with the database at `url`; the first connection is made here, so a
    /// wrong URL or a database that is down is an error now. A session that is not
    /// `durable` does not wait for the disk at each commit: right for links and escrow
    /// (a link lost with the database's last moments is found again by the next cycle's
    /// matching, never created twice), wrong for leases.
    pub fn connect(url: &str, durable: bool) -> Result<Session, StateError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StateError::Postgres(format!("the URL: {e}")))?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .options(&format!(
                "-c statement_timeout={} -c synchronous_commit={}",
                STATEMENT_TIMEOUT.as_millis(),
                if durable { "on" } else { "off" }
            ))
            .application_name("scimap sync");
        let (tasks, queue) = mpsc::channel::<Task>();
        let thread = std::thread::Builder::new()
            .name("scimap-sync-postgres".into())
            .spawn(move || {
                let mut connector = Connector {
                    config,
                    client: None,
                };
                for task in queue {
                    task(&mut connector);
                }
            })
            .map_err(|e| StateError::Unavailable(format!("cannot start its thread: {e}")))?;
        let session = Session {
            tasks: Some(tasks),
            thread: Some(thread),
        };
        session.call(|_| Ok(()))?;
        Ok(session)
    }

    /// Runs `f` with the connection, on the session's thread.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let task: Task = Box::new(move |connector| {
            let _ = reply.send(connector.client().and_then(f));
        });
        let ended = || StateError::Unavailable("the database session ended".into());
        self.tasks
            .as_ref()
            .ok_or_else(ended)?
            .send(task)
            .map_err(|_| ended())?;
        answer.recv().map_err(|_| ended())?
    }

    /// Brings the sync tables to [`SCHEMA_VERSION`], or refuses a newer database.
    pub fn migrate(&self) -> Result<(), StateError> {
        self.call(|client| {
            let mut transaction = client.transaction().map_err(error)?;
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map_err(error)?;
            let found = version(&mut transaction)?;
            if found > SCHEMA_VERSION {
                return Err(StateError::Newer {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found == SCHEMA_VERSION {
                return Ok(());
            }
            transaction
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS scimap_sync_schema (version BIGINT NOT NULL);
                     INSERT INTO scimap_sync_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM scimap_sync_schema);",
                )
                .map_err(error)?;
            for migration in &MIGRATIONS[found as usize..] {
                transaction.batch_execute(migration).map_err(error)?;
            }
            transaction
                .execute("UPDATE scimap_sync_schema SET version = $1", &[&SCHEMA_VERSION])
                .map_err(error)?;
            transaction.commit().map_err(error)
        })
    }

    /// The version of the sync tables; 0 where scimap's sync never ran.
    pub fn schema_version(&self) -> Result<i64, StateError> {
        self.call(version)
    }
}

impl Drop for Session {
    /// The client closes its connection on the session's thread, never on an async one.
    fn drop(&mut self) {
        self.tasks.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn version(client: &mut impl GenericClient) -> Result<i64, StateError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('scimap_sync_schema') IS NOT NULL", &[])
        .map_err(error)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_opt("SELECT version FROM scimap_sync_schema", &[])
        .map_err(error)?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// PostgreSQL's error as the state's: a connection that cannot be made or was lost
/// is `Unavailable` (the next call connects again); anything else names the database's
/// own message.
pub(crate) fn error(e: postgres::Error) -> StateError {
    if let Some(db) = e.as_db_error() {
        return StateError::Postgres(match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        });
    }
    let source = std::error::Error::source(&e).map(|s| format!(": {s}"));
    StateError::Unavailable(format!("{e}{}", source.unwrap_or_default()))
}

/// Which job a state is, and the lease its writes must still hold.
#[derive(Debug, Clone)]
pub struct Holder {
    pub job: String,
    pub worker: String,
    /// The lease's epoch: the job's row counts up each time a worker takes the job.
    pub epoch: i64,
}

struct Postgres {
    session: std::sync::Arc<Session>,
    holder: Holder,
}

impl State {
    /// The state of the job `holder` leased, in the database of `session`; every write
    /// checks that the lease is still held.
    pub fn postgres(session: std::sync::Arc<Session>, holder: Holder) -> Result<State, StateError> {
        State::with(Box::new(Postgres { session, holder }))
    }
}

impl Postgres {
    fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client, &str) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let job = self.holder.job.clone();
        self.session.call(move |client| f(client, &job))
    }

    /// `f` in a transaction that first takes a share lock on the job's row and checks
    /// the lease: a worker taking the job over waits for the write to end, and a write
    /// after the lease is gone is refused.
    fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &str) -> Result<R, StateError> + Send + 'static,
    ) -> Result<R, StateError> {
        let holder = self.holder.clone();
        self.session.call(move |client| {
            let mut transaction = client.transaction().map_err(error)?;
            let held = transaction
                .query_opt(
                    "SELECT 1 FROM scimap_sync_jobs WHERE name = $1 AND lease_owner = $2
                     AND lease_epoch = $3 AND lease_until > now() FOR SHARE",
                    &[&holder.job, &holder.worker, &holder.epoch],
                )
                .map_err(error)?;
            if held.is_none() {
                return Err(StateError::LeaseLost { job: holder.job });
            }
            let result = f(&mut transaction, &holder.job)?;
            transaction.commit().map_err(error)?;
            Ok(result)
        })
    }
}

const LINK: &str =
    "SELECT kind, source_id, target_id, exported, source_hash, active FROM scimap_sync_links";
const ESCROW: &str =
    "SELECT kind, source_id, attempts, next_attempt, error FROM scimap_sync_escrow";

impl Backend for Postgres {
    fn link(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Link>, StateError> {
        let source_id = source_id.to_string();
        self.read(move |client, job| {
            let sql = format!("{LINK} WHERE job = $1 AND kind = $2 AND source_id = $3");
            let row = client
                .query_opt(&sql, &[&job, &kind.as_str(), &source_id])
                .map_err(error)?;
            row.map(|r| link_row(&r)).transpose()
        })
    }

    fn links(&self, kind: ObjectKind) -> Result<Vec<Link>, StateError> {
        self.read(move |client, job| {
            let sql = format!("{LINK} WHERE job = $1 AND kind = $2 ORDER BY source_id");
            let rows = client.query(&sql, &[&job, &kind.as_str()]).map_err(error)?;
            rows.iter().map(link_row).collect()
        })
    }

    fn heads(&self, kind: ObjectKind, each: &mut dyn FnMut(LinkHead)) -> Result<(), StateError> {
        let mut after = String::new();
        loop {
            let from = std::mem::take(&mut after);
            let page: Vec<LinkHead> = self.read(move |client, job| {
                let rows = client
                    .query(
                        "SELECT source_id, target_id, source_hash, active FROM scimap_sync_links
                         WHERE job = $1 AND kind = $2 AND source_id > $3 ORDER BY source_id LIMIT $4",
                        &[&job, &kind.as_str(), &from, &PAGE],
                    )
                    .map_err(error)?;
                Ok(rows
                    .iter()
                    .map(|r| LinkHead {
                        source_id: r.get(0),
                        target_id: r.get(1),
                        source_hash: r.get::<_, i64>(2) as u64,
                        active: r.get(3),
                    })
                    .collect())
            })?;
            let full = page.len() as i64 == PAGE;
            if let Some(last) = page.last() {
                after = last.source_id.clone();
            }
            page.into_iter().for_each(&mut *each);
            if !full {
                return Ok(());
            }
        }
    }

    fn has_links(&self) -> Result<bool, StateError> {
        self.read(|client, job| {
            let row = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM scimap_sync_links WHERE job = $1)",
                    &[&job],
                )
                .map_err(error)?;
            Ok(row.get(0))
        })
    }

    fn save_link(&self, link: &Link) -> Result<(), StateError> {
        let link = link.clone();
        self.write(move |t, job| {
            t.execute(
                "INSERT INTO scimap_sync_links (job, kind, source_id, target_id, exported, source_hash, active)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (job, kind, source_id) DO UPDATE SET target_id = $4, exported = $5, source_hash = $6, active = $7",
                &[&job, &link.kind.as_str(), &link.source_id, &link.target_id, &link.exported.to_string(), &(link.source_hash as i64), &link.active],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn remove_link(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        let source_id = source_id.to_string();
        self.write(move |t, job| {
            t.execute(
                "DELETE FROM scimap_sync_links WHERE job = $1 AND kind = $2 AND source_id = $3",
                &[&job, &kind.as_str(), &source_id],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn put_escrow(&self, entry: &Escrow) -> Result<(), StateError> {
        let entry = entry.clone();
        self.write(move |t, job| {
            t.execute(
                "INSERT INTO scimap_sync_escrow (job, kind, source_id, attempts, next_attempt, error)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (job, kind, source_id) DO UPDATE SET attempts = $4, next_attempt = $5, error = $6",
                &[&job, &entry.kind.as_str(), &entry.source_id, &(entry.attempts as i32), &entry.next_attempt.to_string(), &entry.error],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn escrow(&self, kind: ObjectKind, source_id: &str) -> Result<Option<Escrow>, StateError> {
        let source_id = source_id.to_string();
        self.read(move |client, job| {
            let sql = format!("{ESCROW} WHERE job = $1 AND kind = $2 AND source_id = $3");
            let row = client
                .query_opt(&sql, &[&job, &kind.as_str(), &source_id])
                .map_err(error)?;
            row.map(|r| escrow_row(&r)).transpose()
        })
    }

    fn clear(&self, kind: ObjectKind, source_id: &str) -> Result<(), StateError> {
        let source_id = source_id.to_string();
        self.write(move |t, job| {
            t.execute(
                "DELETE FROM scimap_sync_escrow WHERE job = $1 AND kind = $2 AND source_id = $3",
                &[&job, &kind.as_str(), &source_id],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn escrows(&self) -> Result<Vec<Escrow>, StateError> {
        self.read(|client, job| {
            let sql = format!("{ESCROW} WHERE job = $1 ORDER BY kind, source_id");
            let rows = client.query(&sql, &[&job]).map_err(error)?;
            rows.iter().map(escrow_row).collect()
        })
    }

    fn value(&self, key: &str) -> Result<Option<String>, StateError> {
        let key = key.to_string();
        self.read(move |client, job| {
            let row = client
                .query_opt(
                    "SELECT value FROM scimap_sync_values WHERE job = $1 AND key = $2",
                    &[&job, &key],
                )
                .map_err(error)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn set_value(&self, key: &str, value: Option<&str>) -> Result<(), StateError> {
        let (key, value) = (key.to_string(), value.map(str::to_string));
        self.write(move |t, job| {
            match value {
                Some(value) => t.execute(
                    "INSERT INTO scimap_sync_values (job, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (job, key) DO UPDATE SET value = $3",
                    &[&job, &key, &value],
                ),
                None => t.execute(
                    "DELETE FROM scimap_sync_values WHERE job = $1 AND key = $2",
                    &[&job, &key],
                ),
            }
            .map_err(error)?;
            Ok(())
        })
    }

    fn restart(&self) -> Result<(), StateError> {
        self.write(|t, job| {
            t.execute("DELETE FROM scimap_sync_escrow WHERE job = $1", &[&job])
                .map_err(error)?;
            t.execute(
                "DELETE FROM scimap_sync_values WHERE job = $1 AND key = 'quarantine'",
                &[&job],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn begin_cycle(&self, now: Timestamp) -> Result<i64, StateError> {
        let worker = self.holder.worker.clone();
        self.write(move |t, job| {
            let row = t
                .query_one(
                    "INSERT INTO scimap_sync_cycles (job, id, worker, started)
                     SELECT $1, COALESCE(MAX(id), 0) + 1, $2, $3 FROM scimap_sync_cycles WHERE job = $1
                     RETURNING id",
                    &[&job, &worker, &now.to_string()],
                )
                .map_err(error)?;
            Ok(row.get(0))
        })
    }

    fn finish_cycle(&self, id: i64, now: Timestamp, summary: &Json) -> Result<(), StateError> {
        let summary = summary.to_string();
        self.write(move |t, job| {
            t.execute(
                "UPDATE scimap_sync_cycles SET finished = $3, summary = $4 WHERE job = $1 AND id = $2",
                &[&job, &id, &now.to_string(), &summary],
            )
            .map_err(error)?;
            Ok(())
        })
    }

    fn cycles(&self) -> Result<Vec<Json>, StateError> {
        self.read(|client, job| {
            let rows = client
                .query(
                    "SELECT id, started, finished, summary FROM scimap_sync_cycles
                     WHERE job = $1 AND finished IS NOT NULL ORDER BY id",
                    &[&job],
                )
                .map_err(error)?;
            Ok(rows
                .iter()
                .map(|r| super::cycle_entry(r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect())
        })
    }

    fn last_cycle(&self) -> Result<Option<i64>, StateError> {
        self.read(|client, job| {
            let row = client
                .query_one(
                    "SELECT MAX(id) FROM scimap_sync_cycles WHERE job = $1",
                    &[&job],
                )
                .map_err(error)?;
            Ok(row.get(0))
        })
    }
}

fn kind_of(r: &postgres::Row, table: &str) -> Result<ObjectKind, StateError> {
    let kind: &str = r.get(0);
    ObjectKind::from_name(kind).ok_or_else(|| {
        StateError::Postgres(corrupt_message(
            table,
            kind,
            r.get(1),
            "kind",
            "not User or Group",
        ))
    })
}

fn link_row(r: &postgres::Row) -> Result<Link, StateError> {
    let kind = kind_of(r, "scimap_sync_links")?;
    let source_id: String = r.get(1);
    let exported = serde_json::from_str(r.get(3)).map_err(|e| {
        StateError::Postgres(corrupt_message(
            "scimap_sync_links",
            kind.as_str(),
            &source_id,
            "exported",
            e,
        ))
    })?;
    Ok(Link {
        target_id: r.get(2),
        exported,
        source_hash: r.get::<_, i64>(4) as u64,
        active: r.get(5),
        kind,
        source_id,
    })
}

fn escrow_row(r: &postgres::Row) -> Result<Escrow, StateError> {
    let kind = kind_of(r, "scimap_sync_escrow")?;
    let source_id: String = r.get(1);
    let next_attempt = r.get::<_, &str>(3).parse().map_err(|e| {
        StateError::Postgres(corrupt_message(
            "scimap_sync_escrow",
            kind.as_str(),
            &source_id,
            "next_attempt",
            e,
        ))
    })?;
    Ok(Escrow {
        attempts: r.get::<_, i32>(2) as u32,
        next_attempt,
        error: r.get(4),
        kind,
        source_id,
    })
}
