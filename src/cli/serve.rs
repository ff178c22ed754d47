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

/// The SCIM server on SQLite at `database`, accepting `tokens` (and those in
/// `SCIMAP_TOKENS`, comma-separated).
pub fn serve(listen: &str, tokens: &[String], database: &str, quiet: bool) -> Outcome {
    let mut tokens: Vec<String> = tokens.to_vec();
    if let Ok(more) = std::env::var("SCIMAP_TOKENS") {
        tokens.extend(
            more.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        );
    }
    if tokens.is_empty() {
        eprintln!("error: give at least one bearer token (--token, or SCIMAP_TOKENS); the server does not run open");
        return Outcome::InputError;
    }
    let store = match Sqlite::open(std::path::Path::new(database)) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: cannot open the database {database}: {e}");
            return Outcome::InputError;
        }
    };
    if !quiet {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .init();
    }
    let config = Config {
        tokens,
        ..Config::default()
    };
    let base = config.base_path.clone();
    run(
        listen,
        "scimap serve",
        &base,
        server::router(Arc::new(store), config),
    )
}
