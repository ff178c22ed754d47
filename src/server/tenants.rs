//! Tenants: every resource belongs to one, chosen by the bearer token a request
//! carries. Tokens are made here (256 random bits), shown once, and stored only as
//! SHA-256 hashes; they can be rotated with an overlap and revoked. Every write is
//! appended to an audit log that cannot be changed afterwards.

use std::io::Write;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use super::store::{now, Sqlite, StoreError};

/// A tenant's id: random, never shown in URLs, the key every resource row carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(pub(crate) String);

impl TenantId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    /// The name in `/tenants/{name}/scim/v2` and in the operator's commands.
    pub name: String,
}

/// Who a request comes from: a tenant, and the token it used (`None` for a token
/// given on the command line with `--token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: Tenant,
    pub token: Option<String>,
}

/// The SHA-256 of a token's text: all the server keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }
}

/// A token just made: its text is shown to the operator once and never again.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: String,
    pub secret: String,
}

/// One write, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub time: String,
    #[serde(skip)]
    pub tenant: TenantId,
    #[serde(rename = "tenant")]
    pub tenant_name: String,
    pub token: Option<String>,
    pub method: String,
    pub path: String,
    pub resource: Option<String>,
    pub status: u16,
    pub request: String,
}

/// What the audit log records of a write besides its tenant, resource and time, which
/// the store fills in when it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    pub tenant_name: String,
    pub token: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub request: String,
}

impl Audit {
    pub fn entry(&self, tenant: &TenantId, resource: Option<String>, time: &str) -> AuditEntry {
        AuditEntry {
            time: time.to_string(),
            tenant: tenant.clone(),
            tenant_name: self.tenant_name.clone(),
            token: self.token.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            resource,
            status: self.status,
            request: self.request.clone(),
        }
    }
}

/// A tenant as `scimap tenant list` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantInfo {
    pub name: String,
    pub created: String,
    pub resources: u64,
    pub tokens: Vec<TokenInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
}

/// Why an operator's command on tenants failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenantError {
    #[error("tenant name `{0}`: use 1 to 63 lower-case letters, digits and hyphens, starting and ending with a letter or digit")]
    BadName(String),
    #[error("there is already a tenant named `{0}`")]
    Exists(String),
    #[error("there is no tenant named `{0}`")]
    Unknown(String),
    #[error("{0}")]
    Token(String),
    #[error("cannot write the export: {0}")]
    Export(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for TenantError {
    fn from(e: rusqlite::Error) -> TenantError {
        TenantError::Store(e.into())
    }
}

/// `bytes` random bytes from the operating system, as hexadecimal digits.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source works");
    let mut hex = String::with_capacity(2 * bytes);
    for b in buffer {
        let _ = std::fmt::Write::write_fmt(&mut hex, format_args!("{b:02x}"));
    }
    hex
}

pub(crate) fn new_tenant_id() -> TenantId {
    TenantId(random_hex(16))
}

/// A new token: `scimap_<id>_<secret>`, the id telling tokens apart in lists and
/// logs, the secret 256 random bits.
pub(crate) fn new_token() -> IssuedToken {
    let id = random_hex(8);
    let secret = format!("scimap_{id}_{}", random_hex(32));
    IssuedToken { id, secret }
}

/// Whether a tenant name fits in a URL path segment as it is.
pub fn check_name(name: &str) -> Result<(), TenantError> {
    let bytes = name.as_bytes();
    let fits = (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-';
    if fits {
        Ok(())
    } else {
        Err(TenantError::BadName(name.to_string()))
    }
}

pub(crate) fn authenticate(
    connection: &Connection,
    hash: &TokenHash,
    now: &str,
) -> Result<Option<Principal>, StoreError> {
    let found = connection
        .prepare_cached(
            "SELECT tokens.id, tenants.id, tenants.name FROM tokens JOIN tenants ON tenants.id = tokens.tenant
             WHERE tokens.hash = ?1 AND tokens.revoked IS NULL AND (tokens.expires IS NULL OR tokens.expires > ?2)",
        )?
        .query_row(params![&hash.0[..], now], |r| {
            Ok(Principal {
                token: Some(r.get(0)?),
                tenant: Tenant {
                    id: TenantId(r.get(1)?),
                    name: r.get(2)?,
                },
            })
        })
        .optional()?;
    Ok(found)
}

fn tenant_by_name(connection: &Connection, name: &str) -> Result<Option<Tenant>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT id, name FROM tenants WHERE name = ?1",
            params![name],
            |r| {
                Ok(Tenant {
                    id: TenantId(r.get(0)?),
                    name: r.get(1)?,
                })
            },
        )
        .optional()?)
}

/// The tenant of this name, which an operator's command needs to exist.
fn existing_tenant(connection: &Connection, name: &str) -> Result<Tenant, TenantError> {
    tenant_by_name(connection, name)?.ok_or_else(|| TenantError::Unknown(name.into()))
}

pub(crate) fn ensure_tenant(connection: &Connection, name: &str) -> Result<Tenant, StoreError> {
    connection.execute(
        "INSERT INTO tenants (id, name, created) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO NOTHING",
        params![new_tenant_id().as_str(), name, now()],
    )?;
    tenant_by_name(connection, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("tenant {name} vanished")))
}

pub(crate) fn append_audit(connection: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO audit (time, tenant, tenant_name, token, method, path, resource, status, request)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            e.time,
            e.tenant.as_str(),
            e.tenant_name,
            e.token,
            e.method,
            e.path,
            e.resource,
            e.status,
            e.request
        ])?;
    Ok(())
}

fn insert_token(connection: &Connection, tenant: &TenantId) -> Result<IssuedToken, StoreError> {
    let token = new_token();
    connection.execute(
        "INSERT INTO tokens (id, tenant, hash, created) VALUES (?1, ?2, ?3, ?4)",
        params![
            token.id,
            tenant.as_str(),
            &TokenHash::of(&token.secret).0[..],
            now()
        ],
    )?;
    Ok(token)
}

/// An operator's audit entry (tenant made, token rotated, tenant removed).
pub(crate) fn operator_entry(tenant: &Tenant, method: &str, token: Option<String>) -> AuditEntry {
    AuditEntry {
        time: now(),
        tenant: tenant.id.clone(),
        tenant_name: tenant.name.clone(),
        token,
        method: method.into(),
        path: "(scimap tenant)".into(),
        resource: None,
        status: 0,
        request: random_hex(8),
    }
}

/// Operators' commands, each one transaction.
impl Sqlite {
    /// A new tenant with its first token.
    pub fn add_tenant(&self, name: &str) -> Result<(Tenant, IssuedToken), TenantError> {
        check_name(name)?;
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tenant_by_name(&transaction, name)?.is_some() {
            return Err(TenantError::Exists(name.into()));
        }
        let tenant = Tenant {
            id: new_tenant_id(),
            name: name.to_string(),
        };
        transaction.execute(
            "INSERT INTO tenants (id, name, created) VALUES (?1, ?2, ?3)",
            params![tenant.id.as_str(), name, now()],
        )?;
        let token = insert_token(&transaction, &tenant.id)?;
        append_audit(
            &transaction,
            &operator_entry(&tenant, "ADD", Some(token.id.clone())),
        )?;
        transaction.commit()?;
        Ok((tenant, token))
    }

    /// How many tenants there are.
    pub fn tenant_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .connection()
            .query_row("SELECT COUNT(*) FROM tenants", [], |r| r.get(0))?;
        Ok(count as usize)
    }

    pub fn tenants(&self) -> Result<Vec<TenantInfo>, TenantError> {
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT tenants.id, name, created, (SELECT COUNT(*) FROM resources WHERE tenant = tenants.id)
             FROM tenants ORDER BY name",
        )?;
        let rows: Vec<(String, String, String, i64)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        let mut tokens = connection.prepare(
            "SELECT id, created, expires, revoked FROM tokens WHERE tenant = ?1 ORDER BY created, id",
        )?;
        let mut out = Vec::new();
        for (id, name, created, resources) in rows {
            let list = tokens
                .query_map(params![id], |r| {
                    Ok(TokenInfo {
                        id: r.get(0)?,
                        created: r.get(1)?,
                        expires: r.get(2)?,
                        revoked: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            out.push(TenantInfo {
                name,
                created,
                resources: resources as u64,
                tokens: list,
            });
        }
        Ok(out)
    }

    /// A new token for the tenant; the one it replaces keeps working until
    /// `overlap_until` (an RFC 3339 time), so that Entra can be given the new one
    /// without a gap. Of two operators rotating the same token at once, one wins and
    /// the other is told so.
    pub fn rotate_token(
        &self,
        name: &str,
        token: Option<&str>,
        overlap_until: &str,
    ) -> Result<IssuedToken, TenantError> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant = existing_tenant(&transaction, name)?;
        let current: Vec<String> = transaction
            .prepare(
                "SELECT id FROM tokens WHERE tenant = ?1 AND revoked IS NULL AND expires IS NULL ORDER BY created",
            )?
            .query_map(params![tenant.id.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let overlapping: Option<(String, String)> = match token {
            Some(_) => None,
            None => transaction
                .query_row(
                    "SELECT id, expires FROM tokens WHERE tenant = ?1 AND revoked IS NULL AND expires > ?2 LIMIT 1",
                    params![tenant.id.as_str(), now()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
        };
        let old = rotated(name, token, &current, overlapping)?;
        transaction.execute(
            "UPDATE tokens SET expires = ?2 WHERE id = ?1",
            params![old, overlap_until],
        )?;
        let new = insert_token(&transaction, &tenant.id)?;
        append_audit(
            &transaction,
            &operator_entry(&tenant, "ROTATE", Some(old.clone())),
        )?;
        transaction.commit()?;
        Ok(new)
    }

    /// Another token for the tenant, beside those it has.
    pub fn add_token(&self, name: &str) -> Result<IssuedToken, TenantError> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant = existing_tenant(&transaction, name)?;
        let token = insert_token(&transaction, &tenant.id)?;
        append_audit(
            &transaction,
            &operator_entry(&tenant, "ADD-TOKEN", Some(token.id.clone())),
        )?;
        transaction.commit()?;
        Ok(token)
    }

    /// Revokes a token at once: the next request with it is refused.
    pub fn revoke_token(&self, name: &str, token: &str) -> Result<(), TenantError> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant = existing_tenant(&transaction, name)?;
        let changed = transaction.execute(
            "UPDATE tokens SET revoked = ?3 WHERE id = ?1 AND tenant = ?2 AND revoked IS NULL",
            params![token, tenant.id.as_str(), now()],
        )?;
        if changed == 0 {
            return Err(not_revocable(name, token));
        }
        append_audit(
            &transaction,
            &operator_entry(&tenant, "REVOKE", Some(token.into())),
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Removes a tenant with its resources and tokens, in one transaction; with
    /// `export`, its resources are written there first (and nothing is removed if
    /// that fails). The audit log keeps its entries.
    pub fn remove_tenant(
        &self,
        name: &str,
        export: Option<&mut dyn Write>,
    ) -> Result<u64, TenantError> {
        let mut connection = self.connection();
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let tenant = existing_tenant(&transaction, name)?;
        if let Some(out) = export {
            export_tenant(&transaction, &tenant, out)?;
        }
        let removed = transaction.execute(
            "DELETE FROM resources WHERE tenant = ?1",
            params![tenant.id.as_str()],
        )?;
        transaction.execute(
            "DELETE FROM tenants WHERE id = ?1",
            params![tenant.id.as_str()],
        )?;
        append_audit(&transaction, &operator_entry(&tenant, "REMOVE", None))?;
        transaction.commit()?;
        Ok(removed as u64)
    }

    /// The tenant's audit entries, newest last, at most `limit` of the latest.
    pub fn audit_log(&self, name: &str, limit: usize) -> Result<Vec<AuditEntry>, TenantError> {
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT time, tenant, tenant_name, token, method, path, resource, status, request FROM
             (SELECT * FROM audit WHERE tenant_name = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
        )?;
        let entries = statement
            .query_map(params![name, limit as i64], |r| {
                Ok(AuditEntry {
                    time: r.get(0)?,
                    tenant: TenantId(r.get(1)?),
                    tenant_name: r.get(2)?,
                    token: r.get(3)?,
                    method: r.get(4)?,
                    path: r.get(5)?,
                    resource: r.get(6)?,
                    status: r.get(7)?,
                    request: r.get(8)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() && tenant_by_name(&connection, name)?.is_none() {
            return Err(TenantError::Unknown(name.into()));
        }
        Ok(entries)
    }
}

/// Which token a rotation replaces: the one named, or the tenant's only current one.
/// Without a name, a rotation still overlapping (most likely another operator's a
/// moment ago) stops it: rotating again would cut short the token just handed out.
pub(crate) fn rotated(
    name: &str,
    token: Option<&str>,
    current: &[String],
    overlapping: Option<(String, String)>,
) -> Result<String, TenantError> {
    if let Some((id, until)) = overlapping {
        return Err(TenantError::Token(format!(
            "a rotation of tenant `{name}` is under way (token {id} works until {until}): name the token to rotate with --token, or revoke {id} first"
        )));
    }
    match (token, current) {
        (Some(id), _) if current.iter().any(|c| c == id) => Ok(id.to_string()),
        (Some(id), _) => Err(TenantError::Token(format!(
            "tenant `{name}` has no current token `{id}`: it does not exist, was revoked, or was rotated already"
        ))),
        (None, [one]) => Ok(one.clone()),
        (None, []) => Err(TenantError::Token(format!(
            "tenant `{name}` has no current token to rotate"
        ))),
        (None, _) => Err(TenantError::Token(format!(
            "tenant `{name}` has {} current tokens ({}): name the one to rotate with --token",
            current.len(),
            current.join(", ")
        ))),
    }
}

/// What revoking a token that is not there (or revoked already) says.
pub(crate) fn not_revocable(name: &str, token: &str) -> TenantError {
    TenantError::Token(format!(
        "tenant `{name}` has no token `{token}` that is not revoked already"
    ))
}

/// One resource of an export, as a JSON line.
pub(crate) struct Exported {
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub created: String,
    pub modified: String,
    pub body: String,
}

/// Writes an export: one JSON line for the tenant, then one per resource, flushed.
pub(crate) fn write_export(
    tenant: &Tenant,
    resources: impl Iterator<Item = Result<Exported, TenantError>>,
    out: &mut dyn Write,
) -> Result<(), TenantError> {
    let mut write = |value: Json| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &value)?;
        out.write_all(b"\n")
    };
    write(json!({"tenant": tenant.name})).map_err(TenantError::Export)?;
    for resource in resources {
        let r = resource?;
        let body: Json = serde_json::from_str(&r.body).map_err(|e| {
            TenantError::Store(StoreError::Corrupt(format!(
                "resource {} holds invalid JSON: {e}",
                r.id
            )))
        })?;
        write(json!({
            "kind": r.kind, "id": r.id, "version": r.version, "created": r.created,
            "modified": r.modified, "body": body,
        }))
        .map_err(TenantError::Export)?;
    }
    out.flush().map_err(TenantError::Export)
}

/// One JSON line for the tenant, then one per resource (`kind`, `id`, `version`,
/// `created`, `modified`, `body`), flushed to the end.
fn export_tenant(
    connection: &Connection,
    tenant: &Tenant,
    out: &mut dyn Write,
) -> Result<(), TenantError> {
    let mut statement = connection.prepare(
        "SELECT kind, id, version, created, modified, body FROM resources WHERE tenant = ?1 ORDER BY seq",
    )?;
    let resources = statement
        .query_map(params![tenant.id.as_str()], |r| {
            Ok(Exported {
                kind: r.get(0)?,
                id: r.get(1)?,
                version: r.get(2)?,
                created: r.get(3)?,
                modified: r.get(4)?,
                body: r.get(5)?,
            })
        })?
        .map(|row| row.map_err(TenantError::from));
    write_export(tenant, resources, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_a_path_segment() {
        for good in ["contoso", "a", "tenant-42", &"x".repeat(63)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Contoso",
            "a/b",
            "a b",
            "ä",
            "../x",
            &"x".repeat(64),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_kept_as_hashes() {
        let store = Sqlite::in_memory().unwrap();
        let (tenant, token) = store.add_tenant("contoso").unwrap();
        assert!(token.secret.starts_with(&format!("scimap_{}_", token.id)));
        assert_eq!(token.secret.len(), "scimap_".len() + 16 + 1 + 64);
        let stored: Vec<u8> = store
            .connection()
            .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, TokenHash::of(&token.secret).0);
        let found =
            authenticate(&store.connection(), &TokenHash::of(&token.secret), &now()).unwrap();
        assert_eq!(found.unwrap().tenant, tenant);
        assert_eq!(
            authenticate(&store.connection(), &TokenHash::of("scimap_x_y"), &now()).unwrap(),
            None
        );
    }

    #[test]
    fn rotation_overlaps_and_races_have_one_winner() {
        let store = Sqlite::in_memory().unwrap();
        let (_, first) = store.add_tenant("contoso").unwrap();
        let later = "2999-01-01T00:00:00Z";
        let second = store.rotate_token("contoso", None, later).unwrap();
        let works = |t: &IssuedToken| {
            authenticate(&store.connection(), &TokenHash::of(&t.secret), &now())
                .unwrap()
                .is_some()
        };
        assert!(works(&first) && works(&second), "both during the overlap");
        let again = store.rotate_token("contoso", Some(&first.id), later);
        assert!(
            matches!(again, Err(TenantError::Token(m)) if m.contains("rotated already")),
            "the second operator is told"
        );
        store
            .rotate_token("contoso", Some(&second.id), "2000-01-01T00:00:00Z")
            .unwrap();
        assert!(!works(&second), "past its overlap");
        store.revoke_token("contoso", &first.id).unwrap();
        assert!(!works(&first));
    }

    #[test]
    fn the_audit_log_is_append_only() {
        let store = Sqlite::in_memory().unwrap();
        store.add_tenant("contoso").unwrap();
        let connection = store.connection();
        assert!(connection.execute("DELETE FROM audit", []).is_err());
        assert!(connection
            .execute("UPDATE audit SET status = 1", [])
            .is_err());
    }
}
