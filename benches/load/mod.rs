//! Load for the server benchmarks: keep-alive connections, requests spread over them
//! (and over replicas), requests/s with p50 and p99 latencies.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::serve::{Server, TOKEN};

pub const CONNECTIONS: usize = 16;
pub const REQUESTS: usize = 20_000;

/// One keep-alive HTTP/1.1 connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    host: String,
}

impl Connection {
    pub fn open(host: &str) -> Connection {
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
    pub fn request(&mut self, method: &str, path: &str, body: &str) -> u16 {
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

/// Runs `total` requests over `CONNECTIONS` connections, spread over `servers` (replicas
/// behind a load balancer); `make(i)` gives request i.
pub fn load(
    servers: &[&Server],
    total: usize,
    make: impl Fn(usize) -> (String, String, String) + Sync,
) -> (f64, Duration, Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (latencies, failures): (Vec<Vec<Duration>>, Vec<usize>) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|k| {
                let server = servers[k % servers.len()];
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

/// Request `i` of a load of Entra's matching query (`userName eq`) over users
/// `0..stored`, spread over them.
pub fn filtered(stored: usize) -> impl Fn(usize) -> (String, String, String) + Sync {
    move |i| {
        let path = format!(
            "/Users?filter=userName%20eq%20%22user{}%40contoso.com%22",
            (i * 7919) % stored
        );
        ("GET".into(), path, String::new())
    }
}

pub fn user(i: usize) -> String {
    format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user{i}@contoso.com","externalId":"e{i}","active":true,"displayName":"User {i}","emails":[{{"type":"work","primary":true,"value":"user{i}@contoso.com"}}]}}"#
    )
}

pub fn report(
    name: &str,
    what: &str,
    (rate, p50, p99, failures): (f64, Duration, Duration, usize),
) {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    println!(
        "{name:<22} {what:<34} {rate:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms{}",
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

/// The ids of users 0..n, by a filtered GET each (a plain read, no JSON parser needed:
/// the id is the first `"id":"…"` of the body).
pub fn resolve_ids(server: &Server, n: usize) -> Vec<String> {
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
