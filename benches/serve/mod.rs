//! `scimap serve` started as its own process, for the benchmarks that load it and for
//! `tests/server.rs` and `tests/hostile.rs` (which include this file).

// Each benchmark uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const TOKEN: &str = "bench";

pub struct Server {
    pub name: &'static str,
    pub host: String,
    pub base: &'static str,
    pub child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scimap serve` on a free loopback port, storing in `dir/bench.db`.
pub fn scimap(dir: &std::path::Path) -> Server {
    let (child, host) = start(&dir.join("bench.db"), TOKEN);
    Server {
        name: "scimap serve",
        host,
        base: "/scim/v2",
        child,
    }
}

/// `scimap serve` on a database file, accepting `token`; the process and its address
/// once it listens.
pub fn start(database: &std::path::Path, token: &str) -> (Child, String) {
    start_with(database, token, &[])
}

/// The same, with more flags.
pub fn start_with(database: &std::path::Path, token: &str, flags: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            token,
            "--quiet",
        ])
        .args(flags)
        .arg("--database")
        .arg(database)
        .stdout(Stdio::piped())
        .spawn()
        .expect("scimap serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .trim_start_matches("scimap serve: http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    (child, address)
}
