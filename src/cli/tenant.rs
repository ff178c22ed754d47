//! `scimap tenant`: operators manage the tenants of `scimap serve` in its database:
//! add one (its first token is shown once), list them, rotate, add and revoke tokens,
//! remove one (optionally exported first), read its audit log.

use std::io::Write;

use jiff::{SignedDuration, Timestamp};

use super::Outcome;
use crate::server::tenants::{IssuedToken, TenantError};
use crate::server::Sqlite;

#[derive(clap::Args)]
pub struct TenantArgs {
    /// The server's SQLite database (made when missing), or its postgres:// URL.
    #[arg(
        long,
        default_value = "scimap.db",
        value_name = "PATH|URL",
        global = true
    )]
    database: String,
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(clap::Subcommand)]
enum TenantCommand {
    /// Add a tenant; its URL path and first token are printed (the token only now).
    Add {
        /// Lower-case letters, digits and hyphens: it becomes part of the URL.
        name: String,
    },
    /// Every tenant with its resource count and tokens (ids and dates, never secrets).
    List {
        /// One JSON object per tenant.
        #[arg(long)]
        json: bool,
    },
    /// A new token for the tenant; the current one keeps working for --overlap.
    RotateToken {
        name: String,
        /// The token to replace, when the tenant has several.
        #[arg(long, value_name = "ID")]
        token: Option<String>,
        /// How long the replaced token keeps working (e.g. 24h, 30m, 0s).
        #[arg(long, default_value = "24h", value_parser = parse_overlap)]
        overlap: SignedDuration,
    },
    /// One more token for the tenant, beside its others.
    AddToken { name: String },
    /// Revoke a token now: the next request with it is refused.
    RevokeToken { name: String, token: String },
    /// Remove a tenant with all its users, groups and tokens, in one transaction.
    Remove {
        name: String,
        /// Write its resources here first (NDJSON); nothing is removed if that fails.
        #[arg(long, value_name = "FILE")]
        export: Option<String>,
    },
    /// The tenant's audit log: every write, newest last.
    Audit {
        name: String,
        /// How many of the latest entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

fn parse_overlap(text: &str) -> Result<SignedDuration, String> {
    let overlap: SignedDuration = text
        .parse()
        .map_err(|e| format!("`{text}` is not a duration such as 24h or 30m: {e}"))?;
    if overlap.is_negative() {
        return Err("the overlap cannot be negative".into());
    }
    Ok(overlap)
}

/// The database an operator's command runs on.
enum Database {
    Sqlite(Sqlite),
    Postgres(crate::server::Postgres),
}

/// The same call on either database.
macro_rules! on {
    ($database:expr, $store:ident => $call:expr) => {
        match $database {
            Database::Sqlite($store) => $call,
            Database::Postgres($store) => $call,
        }
    };
}

fn open(database: &str) -> Result<Database, crate::server::store::StoreError> {
    if super::serve::is_postgres(database) {
        return Ok(Database::Postgres(crate::server::Postgres::connect(
            database, 1,
        )?));
    }
    Ok(Database::Sqlite(Sqlite::open(std::path::Path::new(
        database,
    ))?))
}

pub fn tenant(args: TenantArgs) -> Outcome {
    let shown = super::serve::shown_database(&args.database);
    let store = match open(&args.database) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: cannot open the database {shown}: {e}");
            return Outcome::InputError;
        }
    };
    match run(&store, args.command) {
        Ok(()) => Outcome::Ok,
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                TenantError::Store(_) | TenantError::Export(_) => Outcome::InputError,
                _ => Outcome::CheckError,
            }
        }
    }
}

fn announce(name: &str, token: &IssuedToken) {
    super::say(&format!(
        "tenant {name}: its SCIM base URL is https://YOUR-HOST/tenants/{name}/scim/v2\n"
    ));
    show_token(token);
}

fn run(store: &Database, command: TenantCommand) -> Result<(), TenantError> {
    match command {
        TenantCommand::Add { name } => {
            let (tenant, token) = on!(store, s => s.add_tenant(&name))?;
            announce(&tenant.name, &token);
        }
        TenantCommand::List { json } => {
            for tenant in on!(store, s => s.tenants())? {
                if json {
                    let line = serde_json::to_string(&tenant).expect("tenants serialize");
                    super::say(&format!("{line}\n"));
                    continue;
                }
                super::say(&format!(
                    "{}  created {}  {} resource{}\n",
                    tenant.name,
                    tenant.created,
                    tenant.resources,
                    if tenant.resources == 1 { "" } else { "s" }
                ));
                for token in tenant.tokens {
                    let state = match (&token.revoked, &token.expires) {
                        (Some(at), _) => format!("revoked {at}"),
                        (None, Some(at)) => format!("rotated, works until {at}"),
                        (None, None) => "current".to_string(),
                    };
                    super::say(&format!(
                        "    token {}  created {}  {state}\n",
                        token.id, token.created
                    ));
                }
            }
        }
        TenantCommand::RotateToken {
            name,
            token,
            overlap,
        } => {
            let until = Timestamp::now()
                .checked_add(overlap)
                .map_err(|e| TenantError::Token(format!("--overlap is too long: {e}")))?;
            let new = on!(store, s => s.rotate_token(&name, token.as_deref(), &until.to_string()))?;
            super::say(&format!(
                "the replaced token works until {until}; give tenant {name}'s Entra admin the new one:\n"
            ));
            show_token(&new);
        }
        TenantCommand::AddToken { name } => show_token(&on!(store, s => s.add_token(&name))?),
        TenantCommand::RevokeToken { name, token } => {
            on!(store, s => s.revoke_token(&name, &token))?;
            super::say(&format!("token {token} of tenant {name} is revoked\n"));
        }
        TenantCommand::Remove { name, export } => {
            let removed = match export {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(TenantError::Export)?;
                    let mut out = std::io::BufWriter::new(file);
                    let removed = on!(store, s => s.remove_tenant(&name, Some(&mut out)));
                    if removed.is_err() {
                        drop(out);
                        let _ = std::fs::remove_file(&path);
                    }
                    let removed = removed?;
                    super::say(&format!("exported to {path}\n"));
                    removed
                }
                None => on!(store, s => s.remove_tenant(&name, None))?,
            };
            super::say(&format!(
                "tenant {name} removed with {removed} resources and its tokens\n"
            ));
        }
        TenantCommand::Audit { name, limit } => {
            let mut out = std::io::stdout().lock();
            for entry in on!(store, s => s.audit_log(&name, limit))? {
                let line = serde_json::to_string(&entry).expect("entries serialize");
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn show_token(token: &IssuedToken) {
    super::say(&format!(
        "token {} (shown this once; scimap keeps only its hash):\n{}\n",
        token.id, token.secret
    ));
}
