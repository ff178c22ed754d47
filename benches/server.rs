//! A load test of `scimap serve`, and in the same run of the Python peer `scim2-server`
//! when it is installed (`.venv-peer/bin/scim2-server`): POST /Users, GET with
//! `filter=userName eq "…"`, GET by id, PATCH; then the filtered GET again with 100,000
//! users stored. Requests/s and p50/p99 latencies over keep-alive connections on loopback.
//!
//! Beside them, the floor: the same axum router type, tokio runtime and connection
//! handling (`scimap::server::listen::serve`) answering every request with a fixed body,
//! a copy of scimap's own answer to the same request. What scimap does beyond that
//! (authentication, the database, JSON) is the distance to the floor.
//!
//! `cargo bench --features cli --bench server`; results are in docs/performance.md. Not a criterion
//! bench: what is measured is a server under concurrent load, not a function.

mod load;
mod serve;

use load::{filtered, load, report, resolve_ids, user, CONNECTIONS, REQUESTS};
use serve::{scimap, Server, TOKEN};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn peer() -> Option<Server> {
    let program =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-peer/bin/scim2-server");
    if !program.exists() {
        eprintln!("(scim2-server not installed in .venv-peer: measuring scimap alone)");
        return None;
    }
    let port = 18000 + (std::process::id() % 1000) as u16;
    let child = Command::new(program)
        .args([
            "--hostname",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--bearer-token",
            TOKEN,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let host = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(&host).is_ok() {
            return Some(Server {
                name: "scim2-server (Python)",
                host,
                base: "/v2",
                child,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn measure(server: &Server, preload: usize, floor: bool) {
    report(
        server.name,
        "POST /Users",
        load(&[server], REQUESTS, |i| {
            ("POST".into(), "/Users".into(), user(i))
        }),
    );
    let ids = resolve_ids(server, 1000);
    let floor = floor.then(|| Floor::start(server, &ids[0]));
    for target in std::iter::once(server).chain(floor.as_ref().map(|f| &f.server)) {
        report(
            target.name,
            "GET filter userName eq",
            load(&[target], REQUESTS, filtered(REQUESTS)),
        );
        report(
            target.name,
            "GET /Users/{id}",
            load(&[target], REQUESTS, |i| {
                (
                    "GET".into(),
                    format!("/Users/{}", ids[i % ids.len()]),
                    String::new(),
                )
            }),
        );
    }
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Engineer"}]}"#;
    report(
        server.name,
        "PATCH /Users/{id}",
        load(&[server], REQUESTS / 2, |i| {
            (
                "PATCH".into(),
                format!("/Users/{}", ids[i % ids.len()]),
                patch.into(),
            )
        }),
    );
    if preload > REQUESTS {
        let rate = load(&[server], preload - REQUESTS, |i| {
            ("POST".into(), "/Users".into(), user(REQUESTS + i))
        })
        .0;
        println!(
            "{:<22} (stored {preload} users at {rate:.0} req/s)",
            server.name
        );
        report(
            server.name,
            &format!("GET filter, {preload} users"),
            load(&[server], REQUESTS, filtered(preload)),
        );
    }
}

/// The floor server, in a process of its own as `scimap serve` is: this benchmark's
/// executable started again with `FLOOR_BODIES` naming a file of the two fixed bodies.
struct Floor {
    server: Server,
}

impl Floor {
    /// Copies scimap's answers to a filtered GET and to a GET by id into a floor server.
    fn start(server: &Server, id: &str) -> Floor {
        let list = body(
            server,
            "/Users?filter=userName%20eq%20%22user0%40contoso.com%22",
        );
        let one = body(server, &format!("/Users/{id}"));
        let path = std::env::temp_dir().join(format!("scimap-floor-{}", std::process::id()));
        std::fs::write(&path, format!("{list}\n{one}")).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("FLOOR_BODIES", &path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        // Read before the address was printed.
        std::fs::remove_file(&path).unwrap();
        Floor {
            server: Server {
                name: "floor (fixed body)",
                host: line.trim().to_string(),
                base: "/scim/v2",
                child,
            },
        }
    }
}

/// The body of scimap's answer to a GET (one line of JSON).
fn body(server: &Server, path: &str) -> String {
    let mut stream = TcpStream::connect(&server.host).unwrap();
    write!(
        stream,
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
        server.base, server.host
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(!body.contains('\n'));
    body.to_string()
}

/// Serves the fixed bodies: the list for a request with a query, the resource for one
/// without; the runtime, router and connection handling are `scimap serve`'s.
fn serve_floor(bodies: &std::path::Path) {
    use axum::http::header::CONTENT_TYPE;
    let text = std::fs::read_to_string(bodies).unwrap();
    let (list, one) = text.split_once('\n').unwrap();
    let (list, one) = (
        axum::body::Bytes::from(list.to_string()),
        axum::body::Bytes::from(one.to_string()),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let body = if uri.query().is_some() { &list } else { &one }.clone();
            async move { ([(CONTENT_TYPE, "application/scim+json")], body) }
        });
        scimap::server::listen::serve(
            listener,
            app,
            scimap::server::Connections::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
}

fn main() {
    if let Some(bodies) = std::env::var_os("FLOOR_BODIES") {
        return serve_floor(std::path::Path::new(&bodies));
    }
    let dir = std::env::temp_dir().join(format!("scimap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let preload: usize = std::env::var("PRELOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("{CONNECTIONS} connections, {REQUESTS} requests a phase");
    measure(&scimap(&dir), preload, true);
    if let Some(peer) = peer() {
        // The peer keeps everything in memory; the 100,000-user phase is scimap's.
        measure(&peer, 0, false);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
