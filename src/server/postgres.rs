//! PostgreSQL storage, shared by several `scimap serve` replicas: the same behaviour as
//! [`Sqlite`](super::Sqlite), with what two processes need on top. Uniqueness lives in
//! unique indexes, so two replicas cannot both create one `userName`; a version check
//! sits in every `UPDATE` and `DELETE`, so two replicas cannot both win one `If-Match`;
//! migrations take an advisory lock, so replicas starting together migrate once.
//!
//! The client is the synchronous `postgres` crate in an r2d2 pool: the store's methods
//! run on the server's blocking pool, as SQLite's do. A connection the database dropped
//! (a restart) is discarded by the pool and a new one is made on the next request;
//! until the database answers, requests get 503 with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{GenericClient, NoTls};
use r2d2_postgres::PostgresConnectionManager;
use serde_json::Value as Json;

use super::select::{Dialect, Sql};
use super::store::{
    bound, columns, conflict_on, limit, new_id, now, Deferred, Finish, Narrow, ObjectKind, Order,
    Store, StoreError, Stored,
};
use super::tenants::{
    check_name, new_tenant_id, new_token, not_revocable, operator_entry, rotated, write_export,
    Audit, AuditEntry, Exported, IssuedToken, Principal, Tenant, TenantError, TenantId, TenantInfo,
    TokenHash, TokenInfo,
};

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Connection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// The schema version this binary writes on PostgreSQL; a newer database is refused.
pub const SCHEMA_VERSION: i32 = 2;

/// How long one statement may run before the database cancels it.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a connection before it is answered 503.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order: `MIGRATIONS[n]` brings version `n` to `n + 1`. Version 2
/// orders the lookup indexes in code point order ("C"), as filters compare, so that
/// prefixes, ranges and sorting read them whatever the database's collation.
const MIGRATIONS: &[&str] = &["
CREATE TABLE tenants (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE tokens (
    id      TEXT PRIMARY KEY,
    tenant  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    hash    BYTEA NOT NULL UNIQUE,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE INDEX tokens_by_tenant ON tokens(tenant);
CREATE TABLE audit (
    seq         BIGSERIAL PRIMARY KEY,
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
CREATE FUNCTION scimap_append_only() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION scimap_append_only();
CREATE TABLE resources (
    seq          BIGSERIAL PRIMARY KEY,
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    version      BIGINT NOT NULL,
    created      TEXT NOT NULL,
    modified     TEXT NOT NULL,
    body         TEXT NOT NULL,
    user_name    TEXT,
    external_id  TEXT,
    display_name TEXT,
    work_email   TEXT
);
CREATE UNIQUE INDEX unique_user_name ON resources(tenant, kind, user_name) WHERE user_name IS NOT NULL;
CREATE UNIQUE INDEX unique_group_name ON resources(tenant, kind, display_name) WHERE kind = 'Group';
CREATE INDEX by_tenant ON resources(tenant, kind, seq);
CREATE INDEX by_external_id ON resources(tenant, kind, external_id);
CREATE INDEX by_display_name ON resources(tenant, kind, display_name);
CREATE INDEX by_work_email ON resources(tenant, kind, work_email);
", r#"
DROP INDEX by_external_id;
DROP INDEX by_display_name;
DROP INDEX by_work_email;
CREATE INDEX by_user_name ON resources(tenant, kind, (user_name COLLATE "C"), seq);
CREATE INDEX by_external_id ON resources(tenant, kind, (external_id COLLATE "C"), seq);
CREATE INDEX by_display_name ON resources(tenant, kind, (display_name COLLATE "C"), seq);
CREATE INDEX by_work_email ON resources(tenant, kind, (work_email COLLATE "C"), seq);
"#];

/// The advisory lock replicas take to migrate one at a time.
const MIGRATION_LOCK: i64 = 0x5c1a_0001;

/// PostgreSQL storage at a `postgres://` URL.
pub struct Postgres {
    /// Taken when the store is dropped (see `Drop`).
    pool: Option<Pool>,
}

impl Drop for Postgres {
    /// The pool's clients close their connections with a `block_on` of their own, which
    /// tokio forbids on a thread that drives async tasks (a server shutting down, a
    /// test's runtime): they are dropped on a thread of their own.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

/// PostgreSQL's error, shared so that [`StoreError`] stays `Clone`; two are equal when
/// they are the same error.
#[derive(Debug, Clone)]
pub struct PostgresError(Arc<postgres::Error>);

impl PartialEq for PostgresError {
    fn eq(&self, other: &PostgresError) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Display for PostgresError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for PostgresError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            return StoreError::Unavailable(e.to_string());
        }
        match e.code() {
            Some(code) if code == &SqlState::QUERY_CANCELED => {
                StoreError::Unavailable(format!("the database took too long: {e}"))
            }
            Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
                StoreError::Unavailable(e.to_string())
            }
            // Two transactions waiting on each other (Bulk requests on two replicas):
            // the one the database cancelled may simply be sent again.
            Some(code)
                if code == &SqlState::T_R_DEADLOCK_DETECTED
                    || code == &SqlState::T_R_SERIALIZATION_FAILURE =>
            {
                StoreError::Unavailable(format!("the database undid it to break a deadlock: {e}"))
            }
            _ => StoreError::Postgres(PostgresError(Arc::new(e))),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> StoreError {
        StoreError::Unavailable(format!("no database connection: {e}"))
    }
}

impl Postgres {
    /// Connects to the database at `url` and brings it to [`SCHEMA_VERSION`], or refuses
    /// one that a newer scimap wrote. A URL that cannot be parsed or a database that
    /// cannot be reached is an error here, not at the first request.
    pub fn connect(url: &str, connections: u32) -> Result<Postgres, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("the database URL: {e}")))?;
        config.options(&format!(
            "-c statement_timeout={}",
            STATEMENT_TIMEOUT.as_millis()
        ));
        config.connect_timeout(CONNECTION_TIMEOUT);
        config.application_name("scimap");
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(connections.max(1))
            .min_idle(Some(1))
            .connection_timeout(CONNECTION_TIMEOUT)
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(manager)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
        let store = Postgres { pool: Some(pool) };
        store.migrate()?;
        Ok(store)
    }

    fn connection(&self) -> Result<Connection, StoreError> {
        let pool = self.pool.as_ref().expect("the pool is taken only on drop");
        Ok(pool.get()?)
    }

    /// The schema version the database holds; 0 for a database scimap never used.
    pub fn schema_version(&self) -> Result<i32, StoreError> {
        version(&mut *self.connection()?)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        let found = version(&mut transaction)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                found: found.into(),
                supported: SCHEMA_VERSION.into(),
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        transaction.batch_execute(
            "CREATE TABLE IF NOT EXISTS scimap_schema (version INTEGER NOT NULL);
             INSERT INTO scimap_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM scimap_schema);",
        )?;
        for migration in &MIGRATIONS[found as usize..] {
            transaction.batch_execute(migration)?;
        }
        transaction.execute("UPDATE scimap_schema SET version = $1", &[&SCHEMA_VERSION])?;
        transaction.commit()?;
        Ok(())
    }
}

/// Commits a resource's change. A connection lost during the commit leaves its outcome
/// unknown: the change may be in the database, so the client is not told to resend.
fn commit(transaction: postgres::Transaction<'_>) -> Result<(), StoreError> {
    transaction.commit().map_err(|e| match StoreError::from(e) {
        StoreError::Unavailable(why) => StoreError::Indeterminate(why),
        other => other,
    })
}

/// Parameters as the client takes them.
fn params<'a>(values: &'a [&'a str]) -> Vec<&'a (dyn postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn version(client: &mut impl GenericClient) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('scimap_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client.query_opt("SELECT version FROM scimap_schema", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}

const SELECT: &str = "SELECT id, version, created, modified, body FROM resources";

fn stored(row: &postgres::Row) -> Stored {
    let body: &str = row.get(4);
    Stored {
        id: row.get(0),
        version: row.get::<_, i64>(1) as u64,
        created: row.get(2),
        modified: row.get(3),
        body: serde_json::from_str(body).unwrap_or(Json::Null),
    }
}

/// A write's error: a taken unique value is a conflict on the attribute.
fn written(kind: ObjectKind, body: &Json, e: postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if code == &SqlState::UNIQUE_VIOLATION => conflict_on(kind, body),
        _ => e.into(),
    }
}

/// What a write that matched no row means: no such resource, or another version.
fn missed(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
) -> StoreError {
    let current = client.query_opt(
        "SELECT version FROM resources WHERE tenant = $1 AND kind = $2 AND id = $3",
        &[&tenant.as_str(), &kind.as_str(), &id],
    );
    match current {
        Ok(Some(row)) => StoreError::Stale(row.get::<_, i64>(0).to_string()),
        Ok(None) => StoreError::NotFound,
        Err(e) => e.into(),
    }
}

fn append_audit(client: &mut impl GenericClient, e: &AuditEntry) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO audit (time, tenant, tenant_name, token, method, path, resource, status, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &e.time,
            &e.tenant.as_str(),
            &e.tenant_name,
            &e.token,
            &e.method,
            &e.path,
            &e.resource,
            &i32::from(e.status),
            &e.request,
        ],
    )?;
    Ok(())
}

fn record(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    audit: Option<&Audit>,
    resource: &str,
    time: &str,
) -> Result<(), StoreError> {
    match audit {
        Some(audit) => append_audit(
            client,
            &audit.entry(tenant, Some(resource.to_string()), time),
        ),
        None => Ok(()),
    }
}

fn tenant_by_name(
    client: &mut impl GenericClient,
    name: &str,
) -> Result<Option<Tenant>, StoreError> {
    let row = client.query_opt("SELECT id, name FROM tenants WHERE name = $1", &[&name])?;
    Ok(row.map(|r| Tenant {
        id: TenantId(r.get(0)),
        name: r.get(1),
    }))
}

fn version_bound(if_version: Option<u64>) -> Option<i64> {
    if_version.map(|v| v as i64)
}

/// The statements of a [`Store`] on one client: a pooled connection, or a transaction
/// of [`Store::atomically`]. Each write runs in a transaction of its own, nested (a
/// savepoint) inside an open one.
fn insert(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    body: Json,
    audit: Option<&Audit>,
) -> Result<Stored, StoreError> {
    let id = new_id();
    let time = now();
    let [user_name, external_id, display_name, work_email] = columns(kind, &body);
    let mut transaction = client.transaction()?;
    transaction
        .execute(
            "INSERT INTO resources (tenant, kind, id, version, created, modified, body, user_name, external_id, display_name, work_email)
             VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7, $8, $9)",
            &[&tenant.as_str(), &kind.as_str(), &id, &time, &body.to_string(), &user_name, &external_id, &display_name, &work_email],
        )
        .map_err(|e| written(kind, &body, e))?;
    record(&mut transaction, tenant, audit, &id, &time)?;
    commit(transaction)?;
    Ok(Stored {
        id,
        version: 1,
        created: time.clone(),
        modified: time,
        body,
    })
}

fn fetch(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
) -> Result<Option<Stored>, StoreError> {
    let row = client.query_opt(
        &format!("{SELECT} WHERE tenant = $1 AND kind = $2 AND id = $3"),
        &[&tenant.as_str(), &kind.as_str(), &id],
    )?;
    Ok(row.as_ref().map(stored))
}

fn update(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
    body: Json,
    if_version: Option<u64>,
    audit: Option<&Audit>,
) -> Result<Stored, StoreError> {
    let time = now();
    let [user_name, external_id, display_name, work_email] = columns(kind, &body);
    let mut transaction = client.transaction()?;
    let updated = transaction
        .query_opt(
            "UPDATE resources SET version = version + 1, modified = $4, body = $5, user_name = $6,
             external_id = $7, display_name = $8, work_email = $9
             WHERE tenant = $1 AND kind = $2 AND id = $3 AND ($10::BIGINT IS NULL OR version = $10)
             RETURNING version, created",
            &[
                &tenant.as_str(),
                &kind.as_str(),
                &id,
                &time,
                &body.to_string(),
                &user_name,
                &external_id,
                &display_name,
                &work_email,
                &version_bound(if_version),
            ],
        )
        .map_err(|e| written(kind, &body, e))?;
    let Some(row) = updated else {
        return Err(missed(&mut transaction, tenant, kind, id));
    };
    record(&mut transaction, tenant, audit, id, &time)?;
    commit(transaction)?;
    Ok(Stored {
        id: id.to_string(),
        version: row.get::<_, i64>(0) as u64,
        created: row.get(1),
        modified: time,
        body,
    })
}

fn remove(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    id: &str,
    if_version: Option<u64>,
    audit: Option<&Audit>,
) -> Result<(), StoreError> {
    let mut transaction = client.transaction()?;
    let deleted = transaction.execute(
        "DELETE FROM resources WHERE tenant = $1 AND kind = $2 AND id = $3
         AND ($4::BIGINT IS NULL OR version = $4)",
        &[
            &tenant.as_str(),
            &kind.as_str(),
            &id,
            &version_bound(if_version),
        ],
    )?;
    if deleted == 0 {
        return Err(missed(&mut transaction, tenant, kind, id));
    }
    record(&mut transaction, tenant, audit, id, &now())?;
    commit(transaction)?;
    Ok(())
}

fn count(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    narrow: Option<&Narrow>,
) -> Result<usize, StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    let text = format!("SELECT COUNT(*) FROM resources {}", sql.filter(narrow));
    let row = client.query_one(&text, &params(&bound(tenant, kind, &sql)))?;
    Ok(row.get::<_, i64>(0) as usize)
}

fn select(
    client: &mut impl GenericClient,
    tenant: &TenantId,
    kind: ObjectKind,
    narrow: Option<&Narrow>,
    order: Order,
    window: Option<(usize, usize)>,
    each: &mut dyn FnMut(Stored),
) -> Result<(), StoreError> {
    let mut sql = Sql::new(Dialect::Postgres);
    let text = format!(
        "{SELECT} {} {}{}",
        sql.filter(narrow),
        sql.order(order),
        limit(window)
    );
    // Rows are handed on as they arrive: a scan of a million holds one at a time.
    let mut rows = client.query_raw(&text, bound(tenant, kind, &sql))?;
    while let Some(row) = postgres::fallible_iterator::FallibleIterator::next(&mut rows)? {
        each(stored(&row));
    }
    Ok(())
}

fn authenticate(
    client: &mut impl GenericClient,
    hash: &TokenHash,
    now: &str,
) -> Result<Option<Principal>, StoreError> {
    let row = client.query_opt(
        "SELECT tokens.id, tenants.id, tenants.name FROM tokens JOIN tenants ON tenants.id = tokens.tenant
         WHERE tokens.hash = $1 AND tokens.revoked IS NULL AND (tokens.expires IS NULL OR tokens.expires > $2)",
        &[&&hash.0[..], &now],
    )?;
    Ok(row.map(|r| Principal {
        token: Some(r.get(0)),
        tenant: Tenant {
            id: TenantId(r.get(1)),
            name: r.get(2),
        },
    }))
}

fn ensure_tenant(client: &mut impl GenericClient, name: &str) -> Result<Tenant, StoreError> {
    client.execute(
        "INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        &[&new_tenant_id().as_str(), &name, &now()],
    )?;
    tenant_by_name(client, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("tenant {name} vanished")))
}

/// [`Store`] over `self.on(…)`, written once for the pool ([`Postgres`]) and for a
/// transaction ([`Held`]); `$more` are the methods that differ.
macro_rules! on_client {
    ($store:ty { $($more:item)* }) => {
        impl Store for $store {
            fn create(&self, tenant: &TenantId, kind: ObjectKind, body: Json, audit: Option<&Audit>) -> Result<Stored, StoreError> {
                self.on(|c| insert(c, tenant, kind, body, audit))
            }
            fn get(&self, tenant: &TenantId, kind: ObjectKind, id: &str) -> Result<Option<Stored>, StoreError> {
                self.on(|c| fetch(c, tenant, kind, id))
            }
            fn replace(&self, tenant: &TenantId, kind: ObjectKind, id: &str, body: Json, if_version: Option<u64>, audit: Option<&Audit>) -> Result<Stored, StoreError> {
                self.on(|c| update(c, tenant, kind, id, body, if_version, audit))
            }
            fn delete(&self, tenant: &TenantId, kind: ObjectKind, id: &str, if_version: Option<u64>, audit: Option<&Audit>) -> Result<(), StoreError> {
                self.on(|c| remove(c, tenant, kind, id, if_version, audit))
            }
            fn count(&self, tenant: &TenantId, kind: ObjectKind, narrow: Option<&Narrow>) -> Result<usize, StoreError> {
                self.on(|c| count(c, tenant, kind, narrow))
            }
            fn select(&self, tenant: &TenantId, kind: ObjectKind, narrow: Option<&Narrow>, order: Order, window: Option<(usize, usize)>, each: &mut dyn FnMut(Stored)) -> Result<(), StoreError> {
                self.on(|c| select(c, tenant, kind, narrow, order, window, each))
            }
            fn authenticate(&self, hash: &TokenHash, now: &str) -> Result<Option<Principal>, StoreError> {
                self.on(|c| authenticate(c, hash, now))
            }
            fn ensure_tenant(&self, name: &str) -> Result<Tenant, StoreError> {
                self.on(|c| ensure_tenant(c, name))
            }
            $($more)*
        }
    };
}

impl Postgres {
    fn on<T>(
        &self,
        work: impl FnOnce(&mut postgres::Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        work(&mut *self.connection()?)
    }
}

on_client!(Postgres {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        append_audit(&mut *self.connection()?, entry)
    }

    fn pool_use(&self) -> Option<super::metrics::PoolUse> {
        let state = self.pool.as_ref()?.state();
        Some(super::metrics::PoolUse {
            connections: state.connections,
            idle: state.idle_connections,
        })
    }

    fn ready(&self) -> Result<(), StoreError> {
        match self.schema_version()? {
            SCHEMA_VERSION => Ok(()),
            found => Err(StoreError::Schema {
                found: found.into(),
                expected: SCHEMA_VERSION.into(),
            }),
        }
    }

    /// One pooled connection carries the transaction from start to end; other
    /// replicas' writes to the rows it changed wait for it (each statement at most
    /// the statement timeout).
    fn atomically(&self, work: &mut dyn FnMut(&dyn Store) -> Finish) -> Result<Finish, StoreError> {
        let mut connection = self.connection()?;
        let (finish, ended, deferred) = {
            let held = Held {
                transaction: std::sync::Mutex::new(connection.transaction()?),
                deferred: Deferred::default(),
            };
            let finish = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&held)));
            let deferred = held.deferred.take();
            let transaction = held.transaction.into_inner().unwrap_or_else(|p| p.into_inner());
            let ended = match finish {
                Ok(Finish::Commit) => commit(transaction),
                _ => transaction.rollback().map_err(StoreError::from),
            };
            (finish, ended, deferred)
        };
        for entry in &deferred {
            append_audit(&mut *connection, entry)?;
        }
        match finish {
            Ok(finish) => ended.map(|()| finish),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
});

/// A PostgreSQL transaction's view of the store, for [`Store::atomically`].
struct Held<'c> {
    transaction: std::sync::Mutex<postgres::Transaction<'c>>,
    deferred: Deferred,
}

impl Held<'_> {
    /// Runs `work` in a savepoint, so that a statement that fails (a conflict, a
    /// timeout) is undone alone and leaves the transaction usable: PostgreSQL would
    /// otherwise refuse every later statement and turn the `COMMIT` into a rollback.
    fn on<T>(
        &self,
        work: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut transaction = self.transaction.lock().unwrap_or_else(|p| p.into_inner());
        let mut savepoint = transaction.transaction()?;
        let done = work(&mut savepoint)?;
        savepoint.commit()?;
        Ok(done)
    }
}

on_client!(Held<'_> {
    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.deferred.push(entry);
        Ok(())
    }
});

/// Operators' commands, each one transaction.
impl Postgres {
    /// How many tenants there are.
    pub fn tenant_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection()?
            .query_one("SELECT COUNT(*) FROM tenants", &[])?
            .get(0);
        Ok(count as usize)
    }

    /// A new tenant with its first token.
    pub fn add_tenant(&self, name: &str) -> Result<(Tenant, IssuedToken), TenantError> {
        check_name(name)?;
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction().map_err(StoreError::from)?;
        if tenant_by_name(&mut transaction, name)?.is_some() {
            return Err(TenantError::Exists(name.into()));
        }
        let tenant = Tenant {
            id: new_tenant_id(),
            name: name.to_string(),
        };
        let inserted = transaction.execute(
            "INSERT INTO tenants (id, name, created) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&tenant.id.as_str(), &name, &now()],
        );
        if inserted.map_err(StoreError::from)? == 0 {
            return Err(TenantError::Exists(name.into()));
        }
        let token = insert_token(&mut transaction, &tenant.id)?;
        append_audit(
            &mut transaction,
            &operator_entry(&tenant, "ADD", Some(token.id.clone())),
        )?;
        transaction.commit().map_err(StoreError::from)?;
        Ok((tenant, token))
    }

    pub fn tenants(&self) -> Result<Vec<TenantInfo>, TenantError> {
        let mut connection = self.connection()?;
        let rows = connection
            .query(
                "SELECT tenants.id, name, created, (SELECT COUNT(*) FROM resources WHERE tenant = tenants.id)
                 FROM tenants ORDER BY name",
                &[],
            )
            .map_err(StoreError::from)?;
        let mut out = Vec::new();
        for row in rows {
            let id: String = row.get(0);
            let tokens = connection
                .query(
                    "SELECT id, created, expires, revoked FROM tokens WHERE tenant = $1 ORDER BY created, id",
                    &[&id],
                )
                .map_err(StoreError::from)?
                .iter()
                .map(|r| TokenInfo {
                    id: r.get(0),
                    created: r.get(1),
                    expires: r.get(2),
                    revoked: r.get(3),
                })
                .collect();
            out.push(TenantInfo {
                name: row.get(1),
                created: row.get(2),
                resources: row.get::<_, i64>(3) as u64,
                tokens,
            });
        }
        Ok(out)
    }

    /// As [`Sqlite::rotate_token`](super::Sqlite::rotate_token); the tenant's row is
    /// locked, so two operators rotating at once are told apart.
    pub fn rotate_token(
        &self,
        name: &str,
        token: Option<&str>,
        overlap_until: &str,
    ) -> Result<IssuedToken, TenantError> {
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction().map_err(StoreError::from)?;
        let tenant = locked_tenant(&mut transaction, name)?;
        let current: Vec<String> = transaction
            .query(
                "SELECT id FROM tokens WHERE tenant = $1 AND revoked IS NULL AND expires IS NULL ORDER BY created",
                &[&tenant.id.as_str()],
            )
            .map_err(StoreError::from)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let overlapping = match token {
            Some(_) => None,
            None => transaction
                .query_opt(
                    "SELECT id, expires FROM tokens WHERE tenant = $1 AND revoked IS NULL AND expires > $2 LIMIT 1",
                    &[&tenant.id.as_str(), &now()],
                )
                .map_err(StoreError::from)?
                .map(|r| (r.get(0), r.get(1))),
        };
        let old = rotated(name, token, &current, overlapping)?;
        transaction
            .execute(
                "UPDATE tokens SET expires = $2 WHERE id = $1",
                &[&old, &overlap_until],
            )
            .map_err(StoreError::from)?;
        let new = insert_token(&mut transaction, &tenant.id)?;
        append_audit(
            &mut transaction,
            &operator_entry(&tenant, "ROTATE", Some(old)),
        )?;
        transaction.commit().map_err(StoreError::from)?;
        Ok(new)
    }

    pub fn add_token(&self, name: &str) -> Result<IssuedToken, TenantError> {
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction().map_err(StoreError::from)?;
        let tenant = locked_tenant(&mut transaction, name)?;
        let token = insert_token(&mut transaction, &tenant.id)?;
        append_audit(
            &mut transaction,
            &operator_entry(&tenant, "ADD-TOKEN", Some(token.id.clone())),
        )?;
        transaction.commit().map_err(StoreError::from)?;
        Ok(token)
    }

    pub fn revoke_token(&self, name: &str, token: &str) -> Result<(), TenantError> {
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction().map_err(StoreError::from)?;
        let tenant = locked_tenant(&mut transaction, name)?;
        let changed = transaction
            .execute(
                "UPDATE tokens SET revoked = $3 WHERE id = $1 AND tenant = $2 AND revoked IS NULL",
                &[&token, &tenant.id.as_str(), &now()],
            )
            .map_err(StoreError::from)?;
        if changed == 0 {
            return Err(not_revocable(name, token));
        }
        append_audit(
            &mut transaction,
            &operator_entry(&tenant, "REVOKE", Some(token.into())),
        )?;
        transaction.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// As [`Sqlite::remove_tenant`](super::Sqlite::remove_tenant), in one transaction.
    pub fn remove_tenant(
        &self,
        name: &str,
        export: Option<&mut dyn std::io::Write>,
    ) -> Result<u64, TenantError> {
        let mut connection = self.connection()?;
        let mut transaction = connection.transaction().map_err(StoreError::from)?;
        let tenant = locked_tenant(&mut transaction, name)?;
        if let Some(out) = export {
            // Rows are written as they arrive: a tenant of a million is never held whole.
            let rows = transaction
                .query_raw(
                    "SELECT kind, id, version, created, modified, body FROM resources WHERE tenant = $1 ORDER BY seq",
                    [tenant.id.as_str()],
                )
                .map_err(StoreError::from)?;
            let resources =
                postgres::fallible_iterator::FallibleIterator::iterator(rows).map(|r| {
                    let r = r.map_err(StoreError::from)?;
                    Ok(Exported {
                        kind: r.get(0),
                        id: r.get(1),
                        version: r.get(2),
                        created: r.get(3),
                        modified: r.get(4),
                        body: r.get(5),
                    })
                });
            write_export(&tenant, resources, out)?;
        }
        let removed = transaction
            .execute(
                "DELETE FROM resources WHERE tenant = $1",
                &[&tenant.id.as_str()],
            )
            .map_err(StoreError::from)?;
        transaction
            .execute("DELETE FROM tenants WHERE id = $1", &[&tenant.id.as_str()])
            .map_err(StoreError::from)?;
        append_audit(&mut transaction, &operator_entry(&tenant, "REMOVE", None))?;
        transaction.commit().map_err(StoreError::from)?;
        Ok(removed)
    }

    /// The tenant's audit entries, newest last, at most `limit` of the latest.
    pub fn audit_log(&self, name: &str, limit: usize) -> Result<Vec<AuditEntry>, TenantError> {
        let mut connection = self.connection()?;
        let rows = connection
            .query(
                "SELECT time, tenant, tenant_name, token, method, path, resource, status, request FROM
                 (SELECT * FROM audit WHERE tenant_name = $1 ORDER BY seq DESC LIMIT $2) AS latest ORDER BY seq",
                &[&name, &(limit as i64)],
            )
            .map_err(StoreError::from)?;
        let entries: Vec<AuditEntry> = rows
            .iter()
            .map(|r| AuditEntry {
                time: r.get(0),
                tenant: TenantId(r.get(1)),
                tenant_name: r.get(2),
                token: r.get(3),
                method: r.get(4),
                path: r.get(5),
                resource: r.get(6),
                status: r.get::<_, i32>(7) as u16,
                request: r.get(8),
            })
            .collect();
        if entries.is_empty() && tenant_by_name(&mut *connection, name)?.is_none() {
            return Err(TenantError::Unknown(name.into()));
        }
        Ok(entries)
    }
}

/// The tenant of this name, its row locked until the transaction ends.
fn locked_tenant(client: &mut impl GenericClient, name: &str) -> Result<Tenant, TenantError> {
    let row = client
        .query_opt(
            "SELECT id, name FROM tenants WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .map_err(StoreError::from)?;
    row.map(|r| Tenant {
        id: TenantId(r.get(0)),
        name: r.get(1),
    })
    .ok_or_else(|| TenantError::Unknown(name.into()))
}

fn insert_token(
    client: &mut impl GenericClient,
    tenant: &TenantId,
) -> Result<IssuedToken, StoreError> {
    let token = new_token();
    client.execute(
        "INSERT INTO tokens (id, tenant, hash, created) VALUES ($1, $2, $3, $4)",
        &[
            &token.id,
            &tenant.as_str(),
            &&TokenHash::of(&token.secret).0[..],
            &now(),
        ],
    )?;
    Ok(token)
}
