//! `scimap playground`: the built playground (playground/dist) served on localhost.

use std::path::PathBuf;

use super::Outcome;

/// Where `bash playground/build.sh` puts the page: beside the working directory, else
/// in the source tree this binary was built from.
fn dist(dir: Option<&str>) -> Option<PathBuf> {
    let candidates = match dir {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![
            PathBuf::from("playground/dist"),
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playground/dist"),
        ],
    };
    candidates
        .into_iter()
        .find(|d| d.join("index.html").is_file())
}

pub fn serve(listen: &str, dir: Option<&str>) -> Outcome {
    let Some(dist) = dist(dir) else {
        eprintln!("error: the playground is not built; run `bash playground/build.sh` first");
        return Outcome::InputError;
    };
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
        super::say(&format!("scimap playground: http://{address}/\n"));
        let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dist));
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match axum::serve(listener, app)
            .with_graceful_shutdown(stop)
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
