//! `scimap serve` (the SCIM service provider) and the one way both servers start.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;

use super::Outcome;
use crate::server::tls::Certificates;
use crate::server::{self, Config, Connections, Sqlite};

/// How often the certificate files are looked at for a renewal (SIGHUP reloads at once).
const CERTIFICATE_CHECK: Duration = Duration::from_secs(10);

/// Starts the app `make` builds for the address bound (its public URL), prints that
/// URL, and serves until interrupted.
pub fn run(
    listen: &str,
    what: &str,
    path: &str,
    limits: Connections,
    tls: Option<Arc<Certificates>>,
    make: impl FnOnce(&str) -> axum::Router,
) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the server: {e}");
            return Outcome::InputError;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return Outcome::InputError;
            }
        };
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| listen.to_string());
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{address}");
        let app = make(&url);
        super::say(&format!("{what}: {url}{path}\n"));
        if let Some(tls) = &tls {
            tokio::spawn(tls.clone().watch(CERTIFICATE_CHECK));
        }
        match server::listen::serve_tls(listener, app, limits, tls, interrupted()).await {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                Outcome::InputError
            }
        }
    })
}

/// Ctrl-C, or SIGTERM (how orchestrators stop a process): the server then stops
/// accepting and finishes the requests in flight.
pub(super) async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A bearer token to accept for the tenant `default` (the single-tenant
    /// shortcut); repeat it to accept several. More come from SCIMAP_TOKENS,
    /// comma-separated.
    #[arg(long = "token", value_name = "TOKEN")]
    tokens: Vec<String>,
    /// The SQLite database file (made when missing), or a postgres:// URL for a
    /// PostgreSQL database that several replicas share (migrated at start).
    #[arg(long, default_value = "scimap.db", value_name = "PATH|URL")]
    database: String,
    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first);
    /// read again on SIGHUP and when the file changes. Without it, plain HTTP, for
    /// loopback or behind a proxy that terminates TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Bring the database to this binary's schema, then exit (for operators who
    /// migrate before they roll out replicas); without it, `serve` migrates at start.
    #[arg(long)]
    migrate_only: bool,
    /// Connections to PostgreSQL this replica keeps at most.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    database_connections: u32,
    /// Do not log each request.
    #[arg(long)]
    quiet: bool,
    /// How each request is logged on standard error: text, or one JSON object per
    /// line for a log pipeline.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Requests one tenant may have in progress at once (more get 429).
    #[arg(long, default_value_t = 32, value_name = "N")]
    tenant_concurrency: usize,
    /// Requests per second one tenant may send on average, in bursts of as many
    /// (more get 429 with Retry-After); no limit when absent.
    #[arg(long, value_name = "N")]
    tenant_rate: Option<f64>,
    /// Where clients reach the server, as its URLs in Location and meta.location
    /// begin (https://scim.example.com behind a proxy); default: http:// and the
    /// address listened on. The Host header is never used.
    #[arg(long, value_name = "URL", value_parser = public_url)]
    public_url: Option<String>,
    /// How long a request's head may take to arrive, from its first byte.
    #[arg(long, default_value = "10s", value_parser = super::positive_duration)]
    header_timeout: SignedDuration,
    /// How long a connection may stay open without a request (new, or kept alive
    /// between requests), and how long a client may leave a response unread.
    #[arg(long, default_value = "60s", value_parser = super::positive_duration)]
    idle_timeout: SignedDuration,
    /// How long a request's body may take to arrive (then 408).
    #[arg(long, default_value = "30s", value_parser = super::positive_duration)]
    body_timeout: SignedDuration,
    /// Connections open at once; more wait in the listen backlog.
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// An http or https URL with a host, and neither query nor fragment.
fn public_url(text: &str) -> Result<String, String> {
    let uri: axum::http::Uri = text
        .parse()
        .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.host().is_none() {
        return Err(format!(
            "`{text}` is not an http:// or https:// URL with a host"
        ));
    }
    if uri.query().is_some() || text.contains('#') {
        return Err(format!("`{text}`: a public URL has no query or fragment"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn std_duration(duration: SignedDuration) -> Duration {
    Duration::try_from(duration).unwrap_or(Duration::MAX)
}

/// The SCIM server on SQLite at `database`, for the tenants in it, and for the
/// tenant `default` with `tokens` (and those in `SCIMAP_TOKENS`, comma-separated).
pub fn serve(args: ServeArgs) -> Outcome {
    let mut tokens = args.tokens;
    if let Ok(more) = std::env::var("SCIMAP_TOKENS") {
        tokens.extend(
            more.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(certificate), Some(key)) => match Certificates::load(certificate, key) {
            Ok(loaded) => Some(Arc::new(loaded)),
            Err(e) => {
                eprintln!("error: {e}");
                return Outcome::InputError;
            }
        },
        _ => None,
    };
    let shown = shown_database(&args.database);
    let (store, tenants) = match open_store(&args.database, args.database_connections) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("error: cannot open the database {shown}: {e}");
            return Outcome::InputError;
        }
    };
    if args.migrate_only {
        super::say(&format!("{shown}: migrated, at this scimap's schema\n"));
        return Outcome::Ok;
    }
    if tokens.is_empty() && tenants == 0 {
        eprintln!("error: no tenants in {shown} and no --token: add a tenant with `scimap tenant add NAME --database {shown}`, or give a token (--token, or SCIMAP_TOKENS); the server does not run open");
        return Outcome::InputError;
    }
    if !args.quiet {
        let logs = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false);
        match args.log_format {
            LogFormat::Text => logs.init(),
            // One object per line: time, level, and the request's fields at the top.
            LogFormat::Json => logs.json().flatten_event(true).init(),
        }
    }
    let config = Config {
        tokens,
        tenant_concurrency: args.tenant_concurrency,
        tenant_rate: args.tenant_rate,
        body_timeout: std_duration(args.body_timeout),
        ..Config::default()
    };
    let limits = Connections {
        header_timeout: std_duration(args.header_timeout),
        idle_timeout: std_duration(args.idle_timeout),
        max_connections: args.max_connections as usize,
    };
    let base = config.base_path.clone();
    let public = args.public_url;
    run(
        &args.listen,
        "scimap serve",
        &base,
        limits,
        tls,
        move |bound| {
            let config = Config {
                public_url: public.unwrap_or_else(|| bound.to_string()),
                ..config
            };
            server::router(store, config)
        },
    )
}

/// Whether `--database` names a PostgreSQL database rather than a SQLite file.
pub(super) fn is_postgres(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// The database as messages show it: a URL without its password.
pub(super) fn shown_database(database: &str) -> String {
    if !is_postgres(database) {
        return database.to_string();
    }
    let (scheme, rest) = database.split_once("://").unwrap_or(("", database));
    match rest.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:…@{host}"),
            None => database.to_string(),
        },
        None => database.to_string(),
    }
}

/// The store `--database` names, and how many tenants it has.
fn open_store(
    database: &str,
    connections: u32,
) -> Result<(Arc<dyn server::Store>, usize), server::store::StoreError> {
    if is_postgres(database) {
        let store = server::Postgres::connect(database, connections)?;
        let tenants = store.tenant_count()?;
        return Ok((Arc::new(store), tenants));
    }
    let store = Sqlite::open(std::path::Path::new(database))?;
    let tenants = store.tenant_count()?;
    Ok((Arc::new(store), tenants))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_shown_without_their_password() {
        assert_eq!(
            shown_database("postgres://scimap:s3cr@t@db:5432/scim"),
            "postgres://scimap:…@db:5432/scim"
        );
        assert_eq!(
            shown_database("postgresql://scimap@db/scim"),
            "postgresql://scimap@db/scim"
        );
        assert_eq!(shown_database("/var/lib/scim.db"), "/var/lib/scim.db");
    }
}
