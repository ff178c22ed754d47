//! A load test of `scimap serve`, and in the same run of the Python peer `scim2-server`
//! when it is installed (`.venv-peer/bin/scim2-server`): POST /Users, GET with
//! `filter=userName eq "…"`, PATCH; then the filtered GET again with 100,000 users
//! stored. Requests/s and p50/p99 latencies over keep-alive connections on loopback.
//!
//! `cargo bench --features cli --bench server`; results are in docs/performance.md. Not a criterion
//! bench: what is measured is a server under concurrent load, not a function.

mod load;
mod serve;

use load::{filtered, load, report, resolve_ids, user, CONNECTIONS, REQUESTS};
use serve::{scimap, Server, TOKEN};
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

fn measure(server: &Server, preload: usize) {
    report(
        server.name,
        "POST /Users",
        load(&[server], REQUESTS, |i| {
            ("POST".into(), "/Users".into(), user(i))
        }),
    );
    report(
        server.name,
        "GET filter userName eq",
        load(&[server], REQUESTS, filtered(REQUESTS)),
    );
    let ids = resolve_ids(server, 1000);
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

fn main() {
    let dir = std::env::temp_dir().join(format!("scimap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let preload: usize = std::env::var("PRELOAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("{CONNECTIONS} connections, {REQUESTS} requests a phase");
    measure(&scimap(&dir), preload);
    if let Some(peer) = peer() {
        // The peer keeps everything in memory; the 100,000-user phase is scimap's.
        measure(&peer, 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
