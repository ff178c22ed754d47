//! `scimap serve` (the SCIM service provider) and the one way both servers start.

use std::sync::Arc;

use super::Outcome;
use crate::server::{self, Config, Sqlite};

/// Starts an axum app on `listen`, prints its URL, and runs until interrupted.
pub fn run(listen: &str, what: &str, path: &str, app: axum::Router) -> Outcome {
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
        super::say(&format!("{what}: http://{address}{path}\n"));
        match axum::serve(listener, app)
            .with_graceful_shutdown(interrupted())
            .await
        {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                eprintln!("error: the server stopped: {e}");
                Outcome::InputError
            }
        }
    })
}

async fn interrupted() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `scimap serve`'s settings.
pub struct ServeArgs<'a> {
    pub listen: &'a str,
    pub tokens: &'a [String],
    pub database: &'a str,
    pub quiet: bool,
    pub tenant_concurrency: usize,
    pub tenant_rate: Option<f64>,
}

/// The SCIM server on SQLite at `database`, for the tenants in it, and for the
/// tenant `default` with `tokens` (and those in `SCIMAP_TOKENS`, comma-separated).
pub fn serve(args: ServeArgs<'_>) -> Outcome {
    let mut tokens: Vec<String> = args.tokens.to_vec();
    if let Ok(more) = std::env::var("SCIMAP_TOKENS") {
        tokens.extend(
            more.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        );
    }
    let store = match Sqlite::open(std::path::Path::new(args.database)) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: cannot open the database {}: {e}", args.database);
            return Outcome::InputError;
        }
    };
    let tenants = store.tenants().map(|t| t.len()).unwrap_or(0);
    if tokens.is_empty() && tenants == 0 {
        eprintln!("error: no tenants in {} and no --token: add a tenant with `scimap tenant add NAME --database {}`, or give a token (--token, or SCIMAP_TOKENS); the server does not run open", args.database, args.database);
        return Outcome::InputError;
    }
    if !args.quiet {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }
    let config = Config {
        tokens,
        tenant_concurrency: args.tenant_concurrency,
        tenant_rate: args.tenant_rate,
        ..Config::default()
    };
    let base = config.base_path.clone();
    run(
        args.listen,
        "scimap serve",
        &base,
        server::router(Arc::new(store), config),
    )
}
