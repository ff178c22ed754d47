//! A `scimap serve` in the test's process that records each write request it gets,
//! with faults injected in front of it when a test asks; and a temporary directory.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use scimap::server::{router, Config, Sqlite};
use serde_json::Value as Json;

pub type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A fault to inject: given a request's method, path and query, and body, what to do
/// instead of answering at once.
pub type Fault = Arc<dyn Fn(&str, &str, &str) -> Option<Injected> + Send + Sync>;

pub enum Injected {
    /// This answer instead of the server's.
    Answer(Response),
    /// The server's answer, this much later.
    Delay(Duration),
    /// The server acts on the request, and its answer never comes: the client gives
    /// up waiting, as when a proxy drops the connection after the target acted.
    LoseAnswer,
}

/// `scimap serve` on loopback, recording each write request (method, path, body).
pub async fn serve() -> (String, Seen) {
    serve_with(Arc::new(|_: &str, _: &str, _: &str| None)).await
}

pub async fn serve_with(fault: Fault) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, fault)
}

/// The server on a listener bound already.
pub fn serve_on(listener: tokio::net::TcpListener, fault: Fault) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let config = Config::with_tokens(["t"]);
    let app = router(Arc::new(Sqlite::in_memory().unwrap()), config).layer(
        axum::middleware::from_fn(move |request: Request, next: Next| {
            let record = record.clone();
            let fault = fault.clone();
            async move {
                let (parts, body) = request.into_parts();
                // Larger than the server's own limit, so that the server answers what is too big.
                let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let target = parts.uri.to_string();
                let mut lose = false;
                match fault(parts.method.as_str(), &target, &text) {
                    Some(Injected::Answer(answer)) => return answer,
                    Some(Injected::Delay(delay)) => tokio::time::sleep(delay).await,
                    Some(Injected::LoseAnswer) => lose = true,
                    None => {}
                }
                if parts.method != axum::http::Method::GET {
                    record.lock().unwrap().push((
                        parts.method.to_string(),
                        parts.uri.path().to_string(),
                        text,
                    ));
                }
                let answer = next
                    .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                    .await;
                if lose {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                answer
            }
        }),
    );
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/scim/v2"), seen)
}

pub struct Dir(std::path::PathBuf);

impl Dir {
    pub fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("scimap-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    pub fn file(&self, name: &str, records: &[Json]) -> String {
        let path = self.0.join(name);
        let lines: Vec<String> = records.iter().map(Json::to_string).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
