//! `scimap serve` started as its own process, for the benchmarks that load it.

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimap"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--quiet",
            "--database",
        ])
        .arg(dir.join("bench.db"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("scimap serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let host = line
        .trim()
        .trim_start_matches("scimap serve: http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    Server {
        name: "scimap serve",
        host,
        base: "/scim/v2",
        child,
    }
}
