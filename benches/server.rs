//! A load test of `scimap serve`, and in the same run of the Python peer `scim2-server`
//! when it is installed (`.venv-peer/bin/scim2-server`): POST /Users, GET with
//! `filter=userName eq "…"`, PATCH; then the filtered GET again with 100,000 users
//! stored. Requests/s and p50/p99 latencies over keep-alive connections on loopback.
//!
//! `cargo bench --features cli --bench server`; results are in docs/performance.md. Not a criterion
//! bench: what is measured is a server under concurrent load, not a function.

mod serve;

use serve::{scimap, Server, TOKEN};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 16;
const REQUESTS: usize = 20_000;

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    fn open(host: &str) -> Connection {
        // A busy server may refuse for a moment: retry for up to five seconds.
        let stream = (0..250)
            .find_map(|_| {
                TcpStream::connect(host)
                    .map_err(|_| std::thread::sleep(Duration::from_millis(20)))
                    .ok()
            })
            .expect("the server listens");
        stream.set_nodelay(true).unwrap();
        Connection {
            reader: BufReader::new(stream),
            host: host.to_string(),
        }
    }

    /// Sends a request and reads its answer; a server that closes the connection after
    /// answering (HTTP/1.0, as the Python peer's) gets a new one for the next request.
    /// A connection the server drops counts the request as failed (status 0).
    fn request(&mut self, method: &str, path: &str, body: &str) -> u16 {
        match self.exchange(method, path, body) {
            Ok((status, false)) => status,
            Ok((status, true)) => {
                *self = Connection::open(&self.host);
                status
            }
            Err(_) => {
                *self = Connection::open(&self.host);
                0
            }
        }
    }

    fn exchange(&mut self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, bool)> {
        let stream = self.reader.get_mut();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        )?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut close = line.starts_with("HTTP/1.0");
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.trim().eq_ignore_ascii_case("close");
                }
            }
        }
        match length {
            Some(length) => {
                let mut body = vec![0; length];
                self.reader.read_exact(&mut body)?;
            }
            None => {
                let mut rest = Vec::new();
                self.reader.read_to_end(&mut rest)?;
                close = true;
            }
        }
        Ok((status, close))
    }
}

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

/// Runs `total` requests over `CONNECTIONS` connections; `make(i)` gives request i.
fn load(
    server: &Server,
    total: usize,
    make: impl Fn(usize) -> (String, String, String) + Sync,
) -> (f64, Duration, Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (latencies, failures): (Vec<Vec<Duration>>, Vec<usize>) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let next = next.clone();
                let make = &make;
                scope.spawn(move || {
                    let mut connection = Connection::open(&server.host);
                    let (mut latencies, mut failures) = (Vec::new(), 0);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            return (latencies, failures);
                        }
                        let (method, path, body) = make(i);
                        let t = Instant::now();
                        let status =
                            connection.request(&method, &format!("{}{path}", server.base), &body);
                        latencies.push(t.elapsed());
                        failures += usize::from(status >= 400 || status == 0);
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).unzip()
    });
    let elapsed = started.elapsed();
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (
        total as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99),
        failures.into_iter().sum(),
    )
}

fn user(i: usize) -> String {
    format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user{i}@contoso.com","externalId":"e{i}","active":true,"displayName":"User {i}","emails":[{{"type":"work","primary":true,"value":"user{i}@contoso.com"}}]}}"#
    )
}

fn report(
    server: &Server,
    what: &str,
    (rate, p50, p99, failures): (f64, Duration, Duration, usize),
) {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    println!(
        "{:<22} {what:<34} {rate:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms{}",
        server.name,
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        if failures > 0 {
            format!("   ({failures} failed)")
        } else {
            String::new()
        }
    );
    let _ = std::io::stdout().flush();
}

fn measure(server: &Server, preload: usize) {
    report(
        server,
        "POST /Users",
        load(server, REQUESTS, |i| {
            ("POST".into(), "/Users".into(), user(i))
        }),
    );
    let filter = |i: usize| {
        format!(
            "/Users?filter=userName%20eq%20%22user{}%40contoso.com%22",
            (i * 7919) % REQUESTS
        )
    };
    report(
        server,
        "GET filter userName eq",
        load(server, REQUESTS, |i| {
            ("GET".into(), filter(i), String::new())
        }),
    );
    let ids = resolve_ids(server, 1000);
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"title","value":"Engineer"}]}"#;
    report(
        server,
        "PATCH /Users/{id}",
        load(server, REQUESTS / 2, |i| {
            (
                "PATCH".into(),
                format!("/Users/{}", ids[i % ids.len()]),
                patch.into(),
            )
        }),
    );
    if preload > REQUESTS {
        let rate = load(server, preload - REQUESTS, |i| {
            ("POST".into(), "/Users".into(), user(REQUESTS + i))
        })
        .0;
        println!(
            "{:<22} (stored {preload} users at {rate:.0} req/s)",
            server.name
        );
        let filter = |i: usize| {
            format!(
                "/Users?filter=userName%20eq%20%22user{}%40contoso.com%22",
                (i * 7919) % preload
            )
        };
        report(
            server,
            &format!("GET filter, {preload} users"),
            load(server, REQUESTS, |i| {
                ("GET".into(), filter(i), String::new())
            }),
        );
    }
}

/// The ids of users 0..n, by a filtered GET each (a plain read, no JSON parser needed:
/// the id is the first `"id":"…"` of the body).
fn resolve_ids(server: &Server, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = TcpStream::connect(&server.host).unwrap();
        write!(
            stream,
            "GET {}/Users?filter=userName%20eq%20%22user{i}%40contoso.com%22 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n",
            server.base, server.host
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        if let Some(id) = response
            .split("\"id\":")
            .nth(1)
            .and_then(|rest| rest.trim_start().split('"').nth(1))
        {
            out.push(id.to_string());
        }
    }
    out
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
