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
    let app = files(&dist);
    let limits = crate::server::Connections::default();
    super::serve::run(listen, "scimap playground", "/", limits, None, |_| app)
}

/// The built files, each sent compressed when `build.sh` left a `.br` or `.gz` beside it
/// and the browser takes it. Every answer carries `Last-Modified` and `no-cache`: the
/// browser keeps the wasm and asks again each time, getting `304` while it is current.
fn files(dist: &std::path::Path) -> axum::Router {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;
    let served = tower_http::services::ServeDir::new(dist)
        .precompressed_br()
        .precompressed_gzip();
    axum::Router::new()
        .fallback_service(served)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .layer(SetResponseHeaderLayer::appending(
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
}
