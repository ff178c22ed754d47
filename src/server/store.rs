//! Where the SCIM server keeps resources: a storage trait, and SQLite behind it (bundled,
//! in WAL mode), with the attributes Entra queries by in indexed columns.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;

use crate::scim::filter::field;
use crate::sqlite::Database;

/// The resource types stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
}

/// The attributes kept in indexed columns, for `eq` filters that need no scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexed {
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    #[error("storage: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

/// What a SCIM server needs from its storage. A shared database for several replicas
/// implements the same trait.
pub trait Store: Send + Sync {
    /// Stores a new resource under a fresh id.
    fn create(&self, kind: Kind, body: Json) -> Result<Stored, StoreError>;
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError>;
    /// Replaces a resource's body, if its version is still `if_version` when given.
    fn replace(
        &self,
        kind: Kind,
        id: &str,
        body: Json,
        if_version: Option<u64>,
    ) -> Result<Stored, StoreError>;
    fn delete(&self, kind: Kind, id: &str, if_version: Option<u64>) -> Result<(), StoreError>;
    /// Resources whose indexed attribute equals `value`, without regard to case.
    fn find(&self, kind: Kind, column: Indexed, value: &str) -> Result<Vec<Stored>, StoreError>;
    /// Every resource of a kind, in creation order, handed to `each`.
    fn scan(&self, kind: Kind, each: &mut dyn FnMut(Stored)) -> Result<(), StoreError>;
    /// How many resources of a kind there are, and `limit` of them from `offset` in
    /// creation order: an unfiltered list without reading every row.
    fn page(
        &self,
        kind: Kind,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<Stored>), StoreError>;
}

/// SQLite storage at a file path (or in memory for tests).
pub struct Sqlite(Database);

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
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

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        Ok(Sqlite(Database::open(Some(path), SCHEMA)?))
    }

    pub fn in_memory() -> Result<Sqlite, StoreError> {
        Ok(Sqlite(Database::open(None, SCHEMA)?))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.0.lock()
    }
}

/// The indexed columns' values of a body: lower-cased where lookups ignore case
/// (`externalId` is case-exact).
fn columns(kind: Kind, body: &Json) -> [Option<String>; 4] {
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
        Kind::User => lower(field(body, "userName")),
        Kind::Group => None,
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

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

fn conflict(kind: Kind, body: &Json, e: rusqlite::Error) -> StoreError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation);
    if !unique {
        return e.into();
    }
    let attribute = match kind {
        Kind::User => "userName",
        Kind::Group => "displayName",
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

impl Store for Sqlite {
    fn create(&self, kind: Kind, body: Json) -> Result<Stored, StoreError> {
        let id = new_id();
        let time = now();
        let [user_name, external_id, display_name, work_email] = columns(kind, &body);
        self.lock()
            .execute(
                "INSERT INTO resources (kind, id, version, created, modified, body, user_name, external_id, display_name, work_email)
                 VALUES (?1, ?2, 1, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![kind.as_str(), id, time, body.to_string(), user_name, external_id, display_name, work_email],
            )
            .map_err(|e| conflict(kind, &body, e))?;
        Ok(Stored {
            id,
            version: 1,
            created: time.clone(),
            modified: time,
            body,
        })
    }

    fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                &format!("{SELECT} WHERE kind = ?1 AND id = ?2"),
                params![kind.as_str(), id],
                row,
            )
            .optional()?)
    }

    fn replace(
        &self,
        kind: Kind,
        id: &str,
        body: Json,
        if_version: Option<u64>,
    ) -> Result<Stored, StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let current: Option<(i64, String)> = transaction
            .query_row(
                "SELECT version, created FROM resources WHERE kind = ?1 AND id = ?2",
                params![kind.as_str(), id],
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
        transaction
            .execute(
                "UPDATE resources SET version = version + 1, modified = ?3, body = ?4, user_name = ?5,
                 external_id = ?6, display_name = ?7, work_email = ?8 WHERE kind = ?1 AND id = ?2",
                params![kind.as_str(), id, time, body.to_string(), user_name, external_id, display_name, work_email],
            )
            .map_err(|e| conflict(kind, &body, e))?;
        transaction.commit()?;
        Ok(Stored {
            id: id.to_string(),
            version: version as u64 + 1,
            created,
            modified: time,
            body,
        })
    }

    fn delete(&self, kind: Kind, id: &str, if_version: Option<u64>) -> Result<(), StoreError> {
        let connection = self.lock();
        let version: Option<i64> = connection
            .query_row(
                "SELECT version FROM resources WHERE kind = ?1 AND id = ?2",
                params![kind.as_str(), id],
                |r| r.get(0),
            )
            .optional()?;
        match version {
            None => Err(StoreError::NotFound),
            Some(v) if if_version.is_some_and(|w| w != v as u64) => {
                Err(StoreError::Stale(v.to_string()))
            }
            Some(_) => {
                connection.execute(
                    "DELETE FROM resources WHERE kind = ?1 AND id = ?2",
                    params![kind.as_str(), id],
                )?;
                Ok(())
            }
        }
    }

    fn find(&self, kind: Kind, column: Indexed, value: &str) -> Result<Vec<Stored>, StoreError> {
        let (name, value) = match column {
            Indexed::UserName => ("user_name", value.to_lowercase()),
            Indexed::ExternalId => ("external_id", value.to_string()),
            Indexed::DisplayName => ("display_name", value.to_lowercase()),
            Indexed::WorkEmail => ("work_email", value.to_lowercase()),
        };
        let connection = self.lock();
        let mut statement = connection.prepare_cached(&format!(
            "{SELECT} WHERE kind = ?1 AND {name} = ?2 ORDER BY seq"
        ))?;
        let found = statement
            .query_map(params![kind.as_str(), value], row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(found)
    }

    fn scan(&self, kind: Kind, each: &mut dyn FnMut(Stored)) -> Result<(), StoreError> {
        let connection = self.lock();
        let mut statement =
            connection.prepare_cached(&format!("{SELECT} WHERE kind = ?1 ORDER BY seq"))?;
        for stored in statement.query_map(params![kind.as_str()], row)? {
            each(stored?);
        }
        Ok(())
    }

    fn page(
        &self,
        kind: Kind,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<Stored>), StoreError> {
        let connection = self.lock();
        let total: i64 = connection.query_row(
            "SELECT COUNT(*) FROM resources WHERE kind = ?1",
            params![kind.as_str()],
            |r| r.get(0),
        )?;
        let mut statement = connection.prepare_cached(&format!(
            "{SELECT} WHERE kind = ?1 ORDER BY seq LIMIT ?2 OFFSET ?3"
        ))?;
        let page = statement
            .query_map(params![kind.as_str(), limit as i64, offset as i64], row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as usize, page))
    }
}

/// A random 128-bit id, as 32 hexadecimal digits.
fn new_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_get_replace_delete_with_versions() {
        let store = Sqlite::in_memory().unwrap();
        let ann = store
            .create(
                Kind::User,
                json!({"userName": "Ann@Contoso.com", "externalId": "A1"}),
            )
            .unwrap();
        assert_eq!(ann.version, 1);
        assert_eq!(
            store.get(Kind::User, &ann.id).unwrap().unwrap().body["userName"],
            "Ann@Contoso.com"
        );
        assert_eq!(
            store.get(Kind::Group, &ann.id).unwrap(),
            None,
            "kinds are apart"
        );
        let found = store
            .find(Kind::User, Indexed::UserName, "ann@contoso.COM")
            .unwrap();
        assert_eq!(found.len(), 1);
        assert!(
            store
                .find(Kind::User, Indexed::ExternalId, "a1")
                .unwrap()
                .is_empty(),
            "externalId is caseExact"
        );
        let replaced = store
            .replace(
                Kind::User,
                &ann.id,
                json!({"userName": "ann2@contoso.com"}),
                Some(1),
            )
            .unwrap();
        assert_eq!(replaced.version, 2);
        assert_eq!(
            store.replace(Kind::User, &ann.id, json!({"userName": "x"}), Some(1)),
            Err(StoreError::Stale("2".into()))
        );
        assert_eq!(
            store.delete(Kind::User, &ann.id, Some(1)),
            Err(StoreError::Stale("2".into()))
        );
        store.delete(Kind::User, &ann.id, Some(2)).unwrap();
        assert_eq!(
            store.delete(Kind::User, &ann.id, None),
            Err(StoreError::NotFound)
        );
    }

    #[test]
    fn unique_names_are_conflicts() {
        let store = Sqlite::in_memory().unwrap();
        store
            .create(Kind::User, json!({"userName": "ann@contoso.com"}))
            .unwrap();
        let err = store
            .create(Kind::User, json!({"userName": "ANN@contoso.com"}))
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::Conflict {
                attribute: "userName",
                value: "ANN@contoso.com".into()
            }
        );
        store
            .create(Kind::Group, json!({"displayName": "Eng"}))
            .unwrap();
        assert!(matches!(
            store.create(Kind::Group, json!({"displayName": "eng"})),
            Err(StoreError::Conflict { .. })
        ));
        let bob = store
            .create(Kind::User, json!({"userName": "bob@contoso.com"}))
            .unwrap();
        let err = store
            .replace(
                Kind::User,
                &bob.id,
                json!({"userName": "Ann@contoso.com"}),
                None,
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }));
        assert_eq!(
            store.get(Kind::User, &bob.id).unwrap().unwrap().version,
            1,
            "nothing half-written"
        );
    }

    #[test]
    fn data_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("scimap-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("scim.db");
        let id = {
            let store = Sqlite::open(&path).unwrap();
            store
                .create(
                    Kind::User,
                    json!({"userName": "a", "emails": [{"type": "work", "value": "A@B.C"}]}),
                )
                .unwrap()
                .id
        };
        let store = Sqlite::open(&path).unwrap();
        assert_eq!(
            store.get(Kind::User, &id).unwrap().unwrap().body["userName"],
            "a"
        );
        assert_eq!(
            store
                .find(Kind::User, Indexed::WorkEmail, "a@b.c")
                .unwrap()
                .len(),
            1
        );
        let mut all = Vec::new();
        store.scan(Kind::User, &mut |s| all.push(s.id)).unwrap();
        assert_eq!(all, std::slice::from_ref(&id));
        let (total, page) = store.page(Kind::User, 0, 10).unwrap();
        assert_eq!(
            (total, page.len(), page[0].id.as_str()),
            (1, 1, id.as_str())
        );
        assert_eq!(store.page(Kind::User, 1, 10).unwrap(), (1, Vec::new()));
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
