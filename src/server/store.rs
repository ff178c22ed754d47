//! Where the SCIM server keeps resources: a storage trait, and SQLite behind it (bundled,
//! in WAL mode), with the attributes Entra queries by in indexed columns.

use std::path::Path;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::Value as Json;

pub use super::select::{Bound, Narrow, Order};
use super::select::{Dialect, Sql};
use super::tenants::{Audit, AuditEntry, Principal, Tenant, TenantId, TokenHash};
use crate::json::field;
use crate::sqlite::{Database, Reader, Readers};

pub use crate::scim::ObjectKind;

/// The attributes kept in indexed columns, for filters that need no scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    WorkEmail,
}

/// A stored resource with what the server adds to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    /// Bumped by every change; the ETag is `W/"<version>"`.
    pub version: u64,
    pub created: String,
    pub modified: String,
    pub body: Json,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique attribute's value is taken (`userName` of users, `displayName` of
    /// groups), compared without case.
    #[error("{attribute} {value:?} is already taken")]
    Conflict {
        attribute: &'static str,
        value: String,
    },
    #[error("no such resource")]
    NotFound,
    /// `If-Match` named a version that is no longer current.
    #[error("the resource changed since version {0}")]
    Stale(String),
    /// The database failed; its error is kept (shared, so that the error stays `Clone`).
    #[error("storage: {0}")]
    Database(#[source] std::sync::Arc<rusqlite::Error>),
    /// The database holds what scimap cannot read (a resource that is not JSON, a
    /// tenant gone between two statements).
    #[error("storage: {0}")]
    Corrupt(String),
    /// PostgreSQL failed; its error is kept.
    #[cfg(feature = "postgres")]
    #[error("storage: {0}")]
    Postgres(#[source] super::postgres::PostgresError),
    /// The database cannot be reached (down, restarting, too slow, every connection
    /// busy): the request may be sent again.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The connection was lost while a change was being committed: the change may have
    /// been made or not, so the request must not be sent again blindly.
    #[error("the database connection was lost while the change was committed: {0}")]
    Indeterminate(String),
    /// The database is not at the schema this binary writes (migrated by another, or
    /// not yet).
    #[error("storage: the database has schema version {found}; this scimap needs {expected}")]
    Schema { found: i64, expected: i64 },
    /// The storage cannot do what was asked (see [`Store::atomically`]).
    #[error("{0}")]
    Unsupported(&'static str),
    /// A newer scimap wrote the database.
    #[error("storage: the database has schema version {found}, newer than this scimap's {supported}: use a newer scimap")]
    Newer { found: i64, supported: i64 },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Database(std::sync::Arc::new(e))
    }
}

/// What a SCIM server needs from its storage. Every resource belongs to one tenant,
/// and every method on resources takes the tenant first: there is no way to ask for a
/// resource without saying whose it is. A shared database for several replicas
/// implements the same trait.
pub trait Store: Send + Sync {
    /// Stores a new resource under a fresh id. Each write appends `audit` (when
    /// given) to the audit log in its own transaction: a write is never without its
    /// entry, nor an entry without its write.
    fn create(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        body: Json,
        audit: Option<&Audit>,
    ) -> Result<Stored, StoreError>;
    fn get(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Option<Stored>, StoreError>;
    /// Replaces a resource's body, if its version is still `if_version` when given.
    fn replace(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        id: &str,
        body: Json,
        if_version: Option<u64>,
        audit: Option<&Audit>,
    ) -> Result<Stored, StoreError>;
    fn delete(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        id: &str,
        if_version: Option<u64>,
        audit: Option<&Audit>,
    ) -> Result<(), StoreError>;
    /// How many resources of a kind meet `narrow` (all of them when `None`).
    fn count(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        narrow: Option<&Narrow>,
    ) -> Result<usize, StoreError>;
    /// The resources of a kind that meet `narrow`, in `order`, `window` (offset,
    /// limit) of them when given, handed to `each` as they are read.
    fn select(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        narrow: Option<&Narrow>,
        order: Order,
        window: Option<(usize, usize)>,
        each: &mut dyn FnMut(Stored),
    ) -> Result<(), StoreError>;
    /// Resources whose indexed attribute equals `value` (without regard to case where
    /// the attribute has none), in creation order.
    fn find(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        column: Indexed,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        let narrow = Narrow::Compare(column, Bound::Eq, value.to_string());
        let mut found = Vec::new();
        self.select(
            tenant,
            kind,
            Some(&narrow),
            Order::Created,
            None,
            &mut |s| found.push(s),
        )?;
        Ok(found)
    }
    /// Every resource of a kind, in creation order, handed to `each`.
    fn scan(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        each: &mut dyn FnMut(Stored),
    ) -> Result<(), StoreError> {
        self.select(tenant, kind, None, Order::Created, None, each)
    }
    /// How many resources of a kind there are, and `limit` of them from `offset` in
    /// creation order.
    fn page(
        &self,
        tenant: &TenantId,
        kind: ObjectKind,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<Stored>), StoreError> {
        let total = self.count(tenant, kind, None)?;
        let mut page = Vec::new();
        let window = Some((offset, limit));
        self.select(tenant, kind, None, Order::Created, window, &mut |s| {
            page.push(s)
        })?;
        Ok((total, page))
    }
    /// The tenant and token a bearer token's hash belongs to, if the token is known,
    /// not revoked and not past its end at `now`.
    fn authenticate(&self, hash: &TokenHash, now: &str) -> Result<Option<Principal>, StoreError>;
    /// The tenant of this name, made when it does not exist yet (for `--token`).
    fn ensure_tenant(&self, name: &str) -> Result<Tenant, StoreError>;
    /// Appends one entry to the audit log.
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// How many connections a pooled store holds, for the metrics.
    fn pool_use(&self) -> Option<super::metrics::PoolUse> {
        None
    }
    /// Whether the storage can serve now: reachable, and at this binary's schema.
    fn ready(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Runs `work` in one transaction, handing it the store to use meanwhile: the
    /// writes it makes through that store are kept together when it answers
    /// [`Finish::Commit`], and none of them when it answers [`Finish::Rollback`] (or
    /// panics). Each write still succeeds or fails alone, so a failed one leaves the
    /// transaction usable. Audit entries appended meanwhile are kept either way.
    ///
    /// A store that cannot (the default) answers [`StoreError::Unsupported`].
    fn atomically(&self, work: &mut dyn FnMut(&dyn Store) -> Finish) -> Result<Finish, StoreError> {
        let _ = work;
        Err(StoreError::Unsupported(
            "this storage cannot run several writes in one transaction",
        ))
    }
}

/// How the work of [`Store::atomically`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    Rollback,
}

/// Audit entries appended during a transaction, written when it ends, whichever way.
#[derive(Default)]
pub(crate) struct Deferred(std::sync::Mutex<Vec<AuditEntry>>);

impl Deferred {
    pub(crate) fn push(&self, entry: &AuditEntry) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.clone());
    }

    pub(crate) fn take(&self) -> Vec<AuditEntry> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// SQLite storage at a file path (or in memory for tests): one connection writes, a
/// pool of others reads (a database in memory has only the one).
pub struct Sqlite {
    writer: Database,
    readers: Option<Box<Readers>>,
}

/// Set on every connection.
const PRAGMAS: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA busy_timeout = 5000;
";

/// The schema as it was before tenants (version 0): a database made then is migrated.
const SCHEMA_V0: &str = "
CREATE TABLE IF NOT EXISTS resources (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    version      INTEGER NOT NULL,
    created      TEXT NOT NULL,
    modified     TEXT NOT NULL,
    body         TEXT NOT NULL,
    user_name    TEXT,
    external_id  TEXT,
    display_name TEXT,
    work_email   TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS unique_user_name ON resources(kind, user_name) WHERE user_name IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS unique_group_name ON resources(kind, display_name) WHERE kind = 'Group';
CREATE INDEX IF NOT EXISTS by_external_id ON resources(kind, external_id);
CREATE INDEX IF NOT EXISTS by_display_name ON resources(kind, display_name);
CREATE INDEX IF NOT EXISTS by_work_email ON resources(kind, work_email);
";

/// Version 1: tenants, their tokens (hashes only) and the audit log; every resource in
/// one tenant, uniqueness within it. The audit log has no index of its own: every page
/// an index adds is written again by every commit, and operators read the log from its
/// end. Resources from version 0 go to a tenant named
/// `default`.
const TO_V1: &str = "
CREATE TABLE tenants (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE tokens (
    id      TEXT PRIMARY KEY,
    tenant  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hash    BLOB NOT NULL UNIQUE,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE INDEX tokens_by_tenant ON tokens(tenant);
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    tenant_name TEXT NOT NULL,
    token       TEXT,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    resource    TEXT,
    status      INTEGER NOT NULL,
    request     TEXT NOT NULL
);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
ALTER TABLE resources ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
DROP INDEX unique_user_name;
DROP INDEX unique_group_name;
DROP INDEX by_external_id;
DROP INDEX by_display_name;
DROP INDEX by_work_email;
CREATE UNIQUE INDEX unique_user_name ON resources(tenant, kind, user_name) WHERE user_name IS NOT NULL;
CREATE UNIQUE INDEX unique_group_name ON resources(tenant, kind, display_name) WHERE kind = 'Group';
CREATE INDEX by_tenant ON resources(tenant, kind, seq);
CREATE INDEX by_external_id ON resources(tenant, kind, external_id);
CREATE INDEX by_display_name ON resources(tenant, kind, display_name);
CREATE INDEX by_work_email ON resources(tenant, kind, work_email);
";

/// The schema version this binary writes; a newer database is refused.
pub const SCHEMA_VERSION: i64 = 1;

impl Sqlite {
    /// The database at `path`, made or migrated to this binary's schema.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let readers = Box::new(Readers::new(path, PRAGMAS, READERS));
        Sqlite::migrated(Database::open(Some(path), PRAGMAS)?, Some(readers))
    }

    pub fn in_memory() -> Result<Sqlite, StoreError> {
        Sqlite::migrated(Database::open(None, PRAGMAS)?, None)
    }

    fn migrated(writer: Database, readers: Option<Box<Readers>>) -> Result<Sqlite, StoreError> {
        migrate(&mut writer.lock())?;
        Ok(Sqlite { writer, readers })
    }

    pub(crate) fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.writer.lock()
    }

    fn reader(&self) -> Result<Reading<'_>, StoreError> {
        Ok(match &self.readers {
            Some(readers) => Reading::Pooled(readers.get()?),
            None => Reading::Writer(self.connection()),
        })
    }
}

/// Reading connections a file database keeps at most: a few per core, since a read
/// spends part of its time waiting for the kernel rather than computing.
const READERS: usize = 8;

/// A connection to read with: one of the pool's, or the writer's.
enum Reading<'s> {
    Pooled(Reader<'s>),
    Writer(std::sync::MutexGuard<'s, Connection>),
}

impl std::ops::Deref for Reading<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Reading::Pooled(reader) => reader,
            Reading::Writer(writer) => writer,
        }
    }
}

/// Brings a database to [`SCHEMA_VERSION`] in one transaction, or refuses one that a
/// newer scimap wrote.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Newer {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let transaction = connection.transaction()?;
    transaction.execute_batch(SCHEMA_V0)?;
    transaction.execute_batch(TO_V1)?;
    let default = super::tenants::new_tenant_id();
    transaction.execute(
        "INSERT INTO tenants (id, name, created) SELECT ?1, 'default', ?2
         WHERE EXISTS (SELECT 1 FROM resources)",
        params![default.as_str(), now()],
    )?;
    transaction.execute(
        "UPDATE resources SET tenant = ?1 WHERE tenant = ''",
        params![default.as_str()],
    )?;
    transaction.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    transaction.commit()?;
    Ok(())
}

/// The indexed columns' values of a body: lower-cased where lookups ignore case
/// (`externalId` is case-exact).
impl Indexed {
    /// The column an indexed attribute is kept in, and a value as that column holds
    /// it (lower-cased where look-ups ignore case; `externalId` is case-exact).
    pub(crate) fn lookup(self, value: &str) -> (&'static str, String) {
        match self {
            Indexed::Id => ("id", value.to_string()),
            Indexed::UserName => ("user_name", value.to_lowercase()),
            Indexed::ExternalId => ("external_id", value.to_string()),
            Indexed::DisplayName => ("display_name", value.to_lowercase()),
            Indexed::WorkEmail => ("work_email", value.to_lowercase()),
        }
    }
}

pub(crate) fn columns(kind: ObjectKind, body: &Json) -> [Option<String>; 4] {
    let lower = |v: Option<&Json>| v.and_then(Json::as_str).map(str::to_lowercase);
    let work_email = field(body, "emails")
        .and_then(Json::as_array)
        .and_then(|emails| {
            let work = emails.iter().find(|e| {
                field(e, "type")
                    .and_then(Json::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"))
            });
            lower(work.and_then(|e| field(e, "value")))
        });
    let user_name = match kind {
        ObjectKind::User => lower(field(body, "userName")),
        ObjectKind::Group => None,
    };
    let external_id = field(body, "externalId")
        .and_then(Json::as_str)
        .map(str::to_string);
    [
        user_name,
        external_id,
        lower(field(body, "displayName")),
        work_email,
    ]
}

/// The tenant, the kind, then the condition's values: a statement's parameters.
pub(crate) fn bound<'a>(tenant: &'a TenantId, kind: ObjectKind, sql: &'a Sql) -> Vec<&'a str> {
    let mut all = vec![tenant.as_str(), kind.as_str()];
    all.extend(sql.params.iter().map(String::as_str));
    all
}

/// ` LIMIT … OFFSET …` for a window (numbers, never text a client wrote).
pub(crate) fn limit(window: Option<(usize, usize)>) -> String {
    window.map_or(String::new(), |(offset, limit)| {
        format!(" LIMIT {limit} OFFSET {offset}")
    })
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn conflict(kind: ObjectKind, body: &Json, e: rusqlite::Error) -> StoreError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation);
    if !unique {
        return e.into();
    }
    conflict_on(kind, body)
}

/// The conflict a unique index reports: on `userName` for users, `displayName` for
/// groups.
pub(crate) fn conflict_on(kind: ObjectKind, body: &Json) -> StoreError {
    let attribute = match kind {
        ObjectKind::User => "userName",
        ObjectKind::Group => "displayName",
    };
    let value = field(body, attribute)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    StoreError::Conflict { attribute, value }
}

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    let body: String = row.get(4)?;
    Ok(Stored {
        id: row.get(0)?,
        version: row.get::<_, i64>(1)? as u64,
        created: row.get(2)?,
        modified: row.get(3)?,
        body: serde_json::from_str(&body).unwrap_or(Json::Null),
    })
}

const SELECT: &str = "SELECT id, version, created, modified, body FROM resources";

/// The statements of a [`Store`] on one SQLite connection. Each write runs in a
/// savepoint: a transaction of its own on the database's connection, a nested one
/// inside [`Store::atomically`].
fn insert(
    connection: &mut Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    body: Json,
    audit: Option<&Audit>,
) -> Result<Stored, StoreError> {
    let id = new_id();
    let time = now();
    let [user_name, external_id, display_name, work_email] = columns(kind, &body);
    let savepoint = connection.savepoint()?;
    savepoint
        .execute(
            "INSERT INTO resources (tenant, kind, id, version, created, modified, body, user_name, external_id, display_name, work_email)
             VALUES (?9, ?1, ?2, 1, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![kind.as_str(), id, time, body.to_string(), user_name, external_id, display_name, work_email, tenant.as_str()],
        )
        .map_err(|e| conflict(kind, &body, e))?;
    record(&savepoint, tenant, audit, &id, &time)?;
    savepoint.commit()?;
    Ok(Stored {
        id,
        version: 1,
        created: time.clone(),
        modified: time,
        body,
    })
}

fn fetch(
    connection: &Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
) -> Result<Option<Stored>, StoreError> {
    Ok(connection
        .prepare_cached(
            "SELECT id, version, created, modified, body FROM resources
             WHERE tenant = ?3 AND kind = ?1 AND id = ?2",
        )?
        .query_row(params![kind.as_str(), id, tenant.as_str()], row)
        .optional()?)
}

fn update(
    connection: &mut Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
    body: Json,
    if_version: Option<u64>,
    audit: Option<&Audit>,
) -> Result<Stored, StoreError> {
    let savepoint = connection.savepoint()?;
    let current: Option<(i64, String)> = savepoint
        .query_row(
            "SELECT version, created FROM resources WHERE tenant = ?3 AND kind = ?1 AND id = ?2",
            params![kind.as_str(), id, tenant.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((version, created)) = current else {
        return Err(StoreError::NotFound);
    };
    if if_version.is_some_and(|v| v != version as u64) {
        return Err(StoreError::Stale(version.to_string()));
    }
    let time = now();
    let [user_name, external_id, display_name, work_email] = columns(kind, &body);
    savepoint
        .execute(
            "UPDATE resources SET version = version + 1, modified = ?3, body = ?4, user_name = ?5,
             external_id = ?6, display_name = ?7, work_email = ?8 WHERE tenant = ?9 AND kind = ?1 AND id = ?2",
            params![kind.as_str(), id, time, body.to_string(), user_name, external_id, display_name, work_email, tenant.as_str()],
        )
        .map_err(|e| conflict(kind, &body, e))?;
    record(&savepoint, tenant, audit, id, &time)?;
    savepoint.commit()?;
    Ok(Stored {
        id: id.to_string(),
        version: version as u64 + 1,
        created,
        modified: time,
        body,
    })
}

fn remove(
    connection: &mut Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
    if_version: Option<u64>,
    audit: Option<&Audit>,
) -> Result<(), StoreError> {
    let savepoint = connection.savepoint()?;
    let version: Option<i64> = savepoint
        .query_row(
            "SELECT version FROM resources WHERE tenant = ?3 AND kind = ?1 AND id = ?2",
            params![kind.as_str(), id, tenant.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    match version {
        None => Err(StoreError::NotFound),
        Some(v) if if_version.is_some_and(|w| w != v as u64) => {
            Err(StoreError::Stale(v.to_string()))
        }
        Some(_) => {
            savepoint.execute(
                "DELETE FROM resources WHERE tenant = ?3 AND kind = ?1 AND id = ?2",
                params![kind.as_str(), id, tenant.as_str()],
            )?;
            record(&savepoint, tenant, audit, id, &now())?;
            savepoint.commit()?;
            Ok(())
        }
    }
}

fn count(
    connection: &Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    narrow: Option<&Narrow>,
) -> Result<usize, StoreError> {
    let mut sql = Sql::new(Dialect::Sqlite);
    let text = format!("SELECT COUNT(*) FROM resources {}", sql.filter(narrow));
    let mut statement = connection.prepare_cached(&text)?;
    let total: i64 =
        statement.query_row(params_from_iter(bound(tenant, kind, &sql)), |r| r.get(0))?;
    Ok(total as usize)
}

fn select(
    connection: &Connection,
    tenant: &TenantId,
    kind: ObjectKind,
    narrow: Option<&Narrow>,
    order: Order,
    window: Option<(usize, usize)>,
    each: &mut dyn FnMut(Stored),
) -> Result<(), StoreError> {
    let mut sql = Sql::new(Dialect::Sqlite);
    let text = format!(
        "{SELECT} {} {}{}",
        sql.filter(narrow),
        sql.order(order),
        limit(window)
    );
    let mut statement = connection.prepare_cached(&text)?;
    for stored in statement.query_map(params_from_iter(bound(tenant, kind, &sql)), row)? {
        each(stored?);
    }
    Ok(())
}

/// [`Store`] over `self.connection()` (writes) and `self.reader()` (reads), written
/// once for the database ([`Sqlite`]) and for a transaction ([`Held`]); `$more` are the
/// methods that differ.
macro_rules! on_connection {
    ($store:ty { $($more:item)* }) => {
        impl Store for $store {
            fn create(&self, tenant: &TenantId, kind: ObjectKind, body: Json, audit: Option<&Audit>) -> Result<Stored, StoreError> {
                insert(&mut self.connection(), tenant, kind, body, audit)
            }
            fn get(&self, tenant: &TenantId, kind: ObjectKind, id: &str) -> Result<Option<Stored>, StoreError> {
                fetch(&*self.reader()?, tenant, kind, id)
            }
            fn replace(&self, tenant: &TenantId, kind: ObjectKind, id: &str, body: Json, if_version: Option<u64>, audit: Option<&Audit>) -> Result<Stored, StoreError> {
                update(&mut self.connection(), tenant, kind, id, body, if_version, audit)
            }
            fn delete(&self, tenant: &TenantId, kind: ObjectKind, id: &str, if_version: Option<u64>, audit: Option<&Audit>) -> Result<(), StoreError> {
                remove(&mut self.connection(), tenant, kind, id, if_version, audit)
            }
            fn count(&self, tenant: &TenantId, kind: ObjectKind, narrow: Option<&Narrow>) -> Result<usize, StoreError> {
                count(&*self.reader()?, tenant, kind, narrow)
            }
            fn select(&self, tenant: &TenantId, kind: ObjectKind, narrow: Option<&Narrow>, order: Order, window: Option<(usize, usize)>, each: &mut dyn FnMut(Stored)) -> Result<(), StoreError> {
                select(&*self.reader()?, tenant, kind, narrow, order, window, each)
            }
            fn authenticate(&self, hash: &TokenHash, now: &str) -> Result<Option<Principal>, StoreError> {
                super::tenants::authenticate(&*self.reader()?, hash, now)
            }
            fn ensure_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
                super::tenants::ensure_tenant(&self.connection(), name)
            }
            $($more)*
        }
    };
}

on_connection!(Sqlite {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        super::tenants::append_audit(&self.connection(), entry)
    }

    fn ready(&self) -> Result<(), StoreError> {
        let version: i64 = self
            .connection()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            SCHEMA_VERSION => Ok(()),
            found => Err(StoreError::Schema {
                found,
                expected: SCHEMA_VERSION,
            }),
        }
    }

    /// The connection is held from `BEGIN IMMEDIATE` to the end: other requests wait,
    /// and another process writing the file waits or gets busy.
    fn atomically(&self, work: &mut dyn FnMut(&dyn Store) -> Finish) -> Result<Finish, StoreError> {
        let mut connection = self.connection();
        connection.execute_batch("BEGIN IMMEDIATE")?;
        let held = Held {
            connection: std::sync::Mutex::new(&mut connection),
            deferred: Deferred::default(),
        };
        let finish = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&held)));
        let deferred = held.deferred.take();
        let ended = match finish {
            Ok(Finish::Commit) => connection.execute_batch("COMMIT"),
            _ => connection.execute_batch("ROLLBACK"),
        };
        if !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        for entry in &deferred {
            super::tenants::append_audit(&connection, entry)?;
        }
        match finish {
            Ok(finish) => ended.map(|()| finish).map_err(StoreError::from),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
});

/// A SQLite transaction's view of the store, for [`Store::atomically`].
struct Held<'c> {
    connection: std::sync::Mutex<&'c mut Connection>,
    deferred: Deferred,
}

impl<'c> Held<'c> {
    fn connection(&self) -> Reborrow<'_, 'c> {
        Reborrow(self.connection.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Reads inside the transaction see its writes: they use its connection.
    fn reader(&self) -> Result<Reborrow<'_, 'c>, StoreError> {
        Ok(self.connection())
    }
}

struct Reborrow<'g, 'c>(std::sync::MutexGuard<'g, &'c mut Connection>);

impl std::ops::Deref for Reborrow<'_, '_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl std::ops::DerefMut for Reborrow<'_, '_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

on_connection!(Held<'_> {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.deferred.push(entry);
        Ok(())
    }
});

/// Appends a write's audit entry, in the write's transaction.
fn record(
    connection: &Connection,
    tenant: &TenantId,
    audit: Option<&Audit>,
    resource: &str,
    time: &str,
) -> Result<(), StoreError> {
    match audit {
        Some(audit) => super::tenants::append_audit(
            connection,
            &audit.entry(tenant, Some(resource.to_string()), time),
        ),
        None => Ok(()),
    }
}

/// An unguessable id: 128 bits from the operating system's random source, as 32
/// hexadecimal digits.
pub(crate) fn new_id() -> String {
    super::tenants::random_hex(16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_tenant(store: &Sqlite) -> TenantId {
        store.ensure_tenant("contoso").unwrap().id
    }

    #[test]
    fn create_get_replace_delete_with_versions() {
        let store = Sqlite::in_memory().unwrap();
        let t = store_tenant(&store);
        let ann = store
            .create(
                &t,
                ObjectKind::User,
                json!({"userName": "Ann@Contoso.com", "externalId": "A1"}),
                None,
            )
            .unwrap();
        assert_eq!(ann.version, 1);
        assert_eq!(
            store
                .get(&t, ObjectKind::User, &ann.id)
                .unwrap()
                .unwrap()
                .body["userName"],
            "Ann@Contoso.com"
        );
        assert_eq!(
            store.get(&t, ObjectKind::Group, &ann.id).unwrap(),
            None,
            "kinds are apart"
        );
        let found = store
            .find(&t, ObjectKind::User, Indexed::UserName, "ann@contoso.COM")
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(
            store
                .find(&t, ObjectKind::User, Indexed::ExternalId, "a1")
                .unwrap()
                .is_empty(),
            "externalId is caseExact"
        );
        let replaced = store
            .replace(
                &t,
                ObjectKind::User,
                &ann.id,
                json!({"userName": "ann2@contoso.com"}),
                Some(1),
                None,
            )
            .unwrap();
        assert_eq!(replaced.version, 2);
        assert_eq!(
            store.replace(
                &t,
                ObjectKind::User,
                &ann.id,
                json!({"userName": "x"}),
                Some(1),
                None
            ),
            Err(StoreError::Stale("2".into()))
        );
        assert_eq!(
            store.delete(&t, ObjectKind::User, &ann.id, Some(1), None),
            Err(StoreError::Stale("2".into()))
        );
        store
            .delete(&t, ObjectKind::User, &ann.id, Some(2), None)
            .unwrap();
        assert_eq!(
            store.delete(&t, ObjectKind::User, &ann.id, None, None),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn unique_names_are_conflicts() {
        let store = Sqlite::in_memory().unwrap();
        let t = store_tenant(&store);
        store
            .create(
                &t,
                ObjectKind::User,
                json!({"userName": "ann@contoso.com"}),
                None,
            )
            .unwrap();
        let err = store
            .create(
                &t,
                ObjectKind::User,
                json!({"userName": "ANN@contoso.com"}),
                None,
            )
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::Conflict {
                attribute: "userName",
                value: "ANN@contoso.com".into()
            }
        );
        store
            .create(&t, ObjectKind::Group, json!({"displayName": "Eng"}), None)
            .unwrap();
        assert!(matches!(
            store.create(&t, ObjectKind::Group, json!({"displayName": "eng"}), None),
            Err(StoreError::Conflict { .. })
        ));
        let bob = store
            .create(
                &t,
                ObjectKind::User,
                json!({"userName": "bob@contoso.com"}),
                None,
            )
            .unwrap();
        let err = store
            .replace(
                &t,
                ObjectKind::User,
                &bob.id,
                json!({"userName": "Ann@contoso.com"}),
                None,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }));
        assert_eq!(
            store
                .get(&t, ObjectKind::User, &bob.id)
                .unwrap()
                .unwrap()
                .version,
            1,
            "nothing half-written"
        );
    }

    #[test]
    fn atomically_keeps_all_or_nothing() {
        let store = Sqlite::in_memory().unwrap();
        let t = &store_tenant(&store);
        let user = |name: &str| json!({ "userName": name });
        let users = |store: &dyn Store| store.count(t, ObjectKind::User, None).unwrap();
        let work = |finish| {
            move |held: &dyn Store| {
                held.create(t, ObjectKind::User, user("ann"), None).unwrap();
                let taken = held.create(t, ObjectKind::User, user("ANN"), None);
                assert!(matches!(taken, Err(StoreError::Conflict { .. })));
                assert_eq!(users(held), 1, "a failed write is undone alone");
                finish
            }
        };
        assert_eq!(
            store.atomically(&mut work(Finish::Rollback)),
            Ok(Finish::Rollback)
        );
        assert_eq!(users(&store), 0);
        assert_eq!(
            store.atomically(&mut work(Finish::Commit)),
            Ok(Finish::Commit)
        );
        assert_eq!(users(&store), 1);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.atomically(&mut |held| {
                held.create(t, ObjectKind::User, user("bob"), None).unwrap();
                panic!("a bug, for the test")
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(users(&store), 1, "a panic rolls back");
        store
            .create(t, ObjectKind::User, user("bob"), None)
            .expect("the connection is usable after a panic");
    }

    #[test]
    fn data_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("scimap-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scim.db");
        let id = {
            let store = Sqlite::open(&path).unwrap();
            let t = store_tenant(&store);
            store
                .create(
                    &t,
                    ObjectKind::User,
                    json!({"userName": "a", "emails": [{"type": "work", "value": "A@B.C"}]}),
                    None,
                )
                .unwrap()
                .id
        };
        let store = Sqlite::open(&path).unwrap();
        let t = store_tenant(&store);
        assert_eq!(
            store.get(&t, ObjectKind::User, &id).unwrap().unwrap().body["userName"],
            "a"
        );
        assert_eq!(
            store
                .find(&t, ObjectKind::User, Indexed::WorkEmail, "a@b.c")
                .unwrap()
                .len(),
            1
        );
        let mut all = Vec::new();
        store
            .scan(&t, ObjectKind::User, &mut |s| all.push(s.id))
            .unwrap();
        assert_eq!(all, std::slice::from_ref(&id));
        let (total, page) = store.page(&t, ObjectKind::User, 0, 10).unwrap();
        assert_eq!(
            (total, page.len(), page[0].id.as_str()),
            (1, 1, id.as_str())
        );
        assert_eq!(
            store.page(&t, ObjectKind::User, 1, 10).unwrap(),
            (1, Vec::new())
        );
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tenants_are_apart() {
        let store = Sqlite::in_memory().unwrap();
        let a = store.ensure_tenant("a").unwrap().id;
        let b = store.ensure_tenant("b").unwrap().id;
        let ann = store
            .create(
                &a,
                ObjectKind::User,
                json!({"userName": "ann@contoso.com"}),
                None,
            )
            .unwrap();
        store
            .create(
                &b,
                ObjectKind::User,
                json!({"userName": "ann@contoso.com"}),
                None,
            )
            .expect("the same userName in another tenant");
        assert_eq!(store.get(&b, ObjectKind::User, &ann.id).unwrap(), None);
        assert_eq!(
            store.replace(
                &b,
                ObjectKind::User,
                &ann.id,
                json!({"userName": "x"}),
                None,
                None
            ),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.delete(&b, ObjectKind::User, &ann.id, None, None),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store
                .find(&b, ObjectKind::User, Indexed::UserName, "ann@contoso.com")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.page(&a, ObjectKind::User, 0, 10).unwrap().0, 1);
        let mut seen = 0;
        store
            .scan(&b, ObjectKind::User, &mut |_| seen += 1)
            .unwrap();
        assert_eq!(seen, 1);
    }

    /// No statement on resources can leave the tenant out: every one in the server's
    /// storage code names it (the shared column list aside, which is only ever used
    /// before a `WHERE tenant = …`).
    #[test]
    fn every_resource_query_names_the_tenant() {
        let mut statements = Vec::new();
        for source in [include_str!("store.rs"), include_str!("tenants.rs")] {
            let code = &source[..source.find("#[cfg(test)]").unwrap()];
            let parts: Vec<&str> = code.split('"').collect();
            for (i, s) in parts.iter().enumerate() {
                let s = s.trim_start();
                let query = ["SELECT", "UPDATE", "DELETE", "INSERT", "{SELECT}"]
                    .iter()
                    .any(|k| s.starts_with(k));
                if query && (s.contains("resources") || s.starts_with("{SELECT}")) && s != SELECT {
                    // A list's `WHERE` is `Sql::filter`'s, which names the tenant first.
                    let filtered = parts
                        .get(i + 1)
                        .and_then(|after| after.split(';').next())
                        .is_some_and(|args| {
                            args.trim_start().starts_with(',') && args.contains("sql.filter(")
                        });
                    statements.push((s, filtered));
                }
            }
        }
        assert!(statements.len() >= 12, "{statements:?}");
        for (statement, filtered) in statements {
            assert!(statement.contains("tenant") || filtered, "{statement}");
        }
        let mut sql = Sql::new(Dialect::Sqlite);
        for narrow in [None, Some(&Narrow::Present(Indexed::UserName))] {
            assert!(sql
                .filter(narrow)
                .starts_with("WHERE tenant = ?1 AND kind = ?2"));
        }
    }

    #[test]
    fn a_database_from_before_tenants_is_migrated_into_one() {
        let dir = std::env::temp_dir().join(format!("scimap-v0-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v0.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V0).unwrap();
            old.execute(
                "INSERT INTO resources (kind, id, version, created, modified, body, user_name)
                 VALUES ('User', 'u1', 3, 't', 't', '{\"userName\":\"ann\"}', 'ann')",
                [],
            )
            .unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
        let default = store.ensure_tenant("default").unwrap();
        let ann = store
            .get(&default.id, ObjectKind::User, "u1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (ann.version, ann.body["userName"].as_str()),
            (3, Some("ann"))
        );
        drop(store);
        let newer = Connection::open(&path).unwrap();
        newer.execute_batch("PRAGMA user_version = 99").unwrap();
        drop(newer);
        let refused = Sqlite::open(&path)
            .err()
            .expect("a newer database is refused");
        assert!(
            refused.to_string().contains("schema version 99"),
            "{refused}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
